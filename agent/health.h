/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Health checks of the load balancer's backends, in the agent's epoll loop
 * and never blocking it: a non-blocking TCP connect, optionally an HTTP GET
 * whose status line must carry the expected status; each check bounded by
 * the service's timeout. `fall` failures in a row take a backend out of its
 * service's Maglev table, `rise` successes bring it back (lb_resync); every
 * change is logged, counted and shown by `sluice lb list`.
 */
#ifndef SLUICED_HEALTH_H
#define SLUICED_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

struct agent;
struct lb_svc_key;

/* After a policy is applied: the checks of its services, keeping the state of those that stay. */
int health_sync(struct agent *a);
void health_close(struct agent *a);

struct health_info {
	bool checked;		/* the service has health checks */
	bool down;
	uint64_t checks, failures, transitions;
	const char *last_error;	/* of the last failed check; NULL when none */
};

/* What the checks of backend ADDR:PORT of service KEY say. */
void health_info(struct agent *a, const struct lb_svc_key *key, const uint8_t *addr,
		 uint16_t port, struct health_info *out);

#endif /* SLUICED_HEALTH_H */
