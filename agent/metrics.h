/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sluiced --metrics ADDR:PORT: Prometheus text format on GET /metrics, a
 * small HTTP/1.0 responder in the epoll loop (docs/architecture.md).
 */
#ifndef SLUICED_METRICS_H
#define SLUICED_METRICS_H

struct agent;

/* Listen on a->metrics_addr (when set); -errno, logged. */
int metrics_open(struct agent *a);
/* Close timed-out connections; returns the epoll timeout in ms (-1: none). */
int metrics_expire(struct agent *a);
void metrics_close(struct agent *a);

#endif /* SLUICED_METRICS_H */
