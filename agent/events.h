/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Drop events: the agent consumes the ring buffer sl_events in its epoll
 * loop, keeps the most recent ones, and streams them to `monitor` clients
 * (docs/control.md).
 */
#ifndef SLUICED_EVENTS_H
#define SLUICED_EVENTS_H

#include <stdint.h>

#include <json-c/json.h>

struct agent;

/* Write the rate into sl_ev_cfg and watch the ring buffer; -errno, logged. */
int events_open(struct agent *a);
void events_close(struct agent *a);
/* The "monitor" command: check the request, answer with the limiter state. */
int ev_cmd_monitor(struct agent *a, struct json_object *req, struct json_object **data,
		   char *err, size_t errlen);
/* After the answer went out: FD becomes a monitor client (owned from now on). */
void events_add_client(struct agent *a, int fd, struct json_object *req);
/* The limiter counters, for `stats`; NULL when they cannot be read. */
struct json_object *events_stats(struct agent *a);

#endif /* SLUICED_EVENTS_H */
