/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control socket: one JSON request, one JSON answer (docs/control.md).
 * ctl_conn.c: the socket and its connections; control.c: the commands.
 */
#ifndef SLUICED_CONTROL_H
#define SLUICED_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

struct agent;
struct json_object;

/*
 * Bind the unix socket (0600, its dir 0700 when the agent creates it). A
 * stale socket is removed; one that answers belongs to a running agent and
 * the start is refused with -EADDRINUSE.
 */
int ctl_open(struct agent *a);
/* Close timed-out connections; returns the epoll timeout in ms (-1: none). */
int ctl_expire(struct agent *a);
/*
 * Answer the listings that wait (requests read, rule-list and the like),
 * oldest first, for about 20 ms (one at least); ctl_waiting: does one
 * still wait (the loop then does not sleep)?
 */
void ctl_serve(struct agent *a);
bool ctl_waiting(const struct agent *a);
void ctl_close(struct agent *a);
/*
 * Run the request IN (ctl_parse_request's; ctl_run puts it): the answer
 * object, for the caller to put. *MONITOR is set to the request when it is
 * an accepted "monitor": the connection then stays open for the events
 * (events.c), and the caller puts it.
 */
struct json_object *ctl_run(struct agent *a, struct json_object *in,
			    struct json_object **monitor);
/* The answer to a request ctl_parse_request refused with RET, ERR. */
struct json_object *ctl_refused(int ret, const char *err);
/* Does the request IN ask for a listing (rule-list, ct-list, ...: MBs to build)? */
bool ctl_listing(struct json_object *in);
/*
 * The request parser (and of fuzz/fuzz_control.c): LEN bytes
 * of REQ must be one strict JSON object, each key once in every object,
 * with a "cmd" string, followed by nothing but blanks. Returns 0 with the
 * object in *OUT (the caller puts it), or -EINVAL (-ENOMEM) with the reason
 * in ERR.
 */
int ctl_parse_request(const char *req, size_t len, struct json_object **out, char *err,
		      size_t errlen);

#endif /* SLUICED_CONTROL_H */
