/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sluiced --metrics ADDR:PORT: Prometheus text format on GET /metrics,
 * served by libmicrohttpd from the agent's epoll loop (docs/architecture.md).
 */
#ifndef SLUICED_METRICS_H
#define SLUICED_METRICS_H

struct agent;

/* Listen on a->metrics_addr (when set); -errno, logged. */
int metrics_open(struct agent *a);
/* 0 when ARG is a numeric ADDR:PORT (port 1..65535) metrics_open can listen on. */
int metrics_addr_check(const char *arg);
/* How long the loop may wait before metrics_run must run (ms; -1: no limit). */
int metrics_timeout(struct agent *a);
/* HTTP work that is due; called after every wait of the loop. */
void metrics_run(struct agent *a);
void metrics_close(struct agent *a);

#endif /* SLUICED_METRICS_H */
