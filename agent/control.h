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

struct json_object;
/*
 * A request of LEN bytes (without the '\n'): one JSON object with a "cmd"
 * string and nothing after it but blanks. Returns it (the caller puts it),
 * or NULL with the reason in ERR. The parser the fuzz target drives
 * (fuzz/fuzz_control.c).
 */
struct json_object *ctl_parse_request(const char *req, size_t len, char *err, size_t errlen);

#endif /* SLUICED_CONTROL_H */
