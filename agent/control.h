/* SPDX-License-Identifier: GPL-2.0-only */
/* The control socket: one JSON request, one JSON answer (docs/control.md). */
#ifndef SLUICED_CONTROL_H
#define SLUICED_CONTROL_H

struct agent;

/*
 * Bind the unix socket (0600, its dir 0700 when the agent creates it). A
 * stale socket is removed; one that answers belongs to a running agent and
 * the start is refused with -EADDRINUSE.
 */
int ctl_open(struct agent *a);
/* Close timed-out connections; returns the epoll timeout in ms (-1: none). */
int ctl_expire(struct agent *a);
void ctl_close(struct agent *a);

#endif /* SLUICED_CONTROL_H */
