// SPDX-License-Identifier: GPL-2.0-only
/*
 * The agent's event loop primitives: sources watched on one epoll fd, and
 * one round of waiting and dispatching (main.c runs the rounds).
 *
 * A handler may close another source of the same round: the ring buffer's
 * handler drops a monitor client that cannot keep up, and that client may
 * be ready in the same epoll_wait batch. agent_unwatch takes a source out
 * of the batch being dispatched as well as out of epoll, so the caller can
 * free it at once (tests/test_loop.c).
 *
 * A round serves the agent's own sources first (timers, signals, the
 * policy dir, the ring buffer), then control clients until it has spent
 * AGENT_CLIENT_BUDGET_MS (at least one client a round): 64 clients each
 * asking for a 4 MB rule list (0.12 s to build) held a reload and every
 * other client ~8 s, answered 16 at a time. A client not served waits for
 * the next round (its events are level-triggered: epoll reports it again).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

/* Events handled per round: more wait for the next round, none is lost. */
#define AGENT_BATCH	16
/* Time a round gives control clients once one has been served. */
#define AGENT_CLIENT_BUDGET_MS	20

int agent_watch(struct agent *a, struct ep_src *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, src->fd, &ev)) {
		int err = -errno;

		pr_err("epoll: %s", strerror(errno));
		return err;
	}
	return 0;
}

void *agent_conn_new(struct agent *a, int fd, size_t size,
		     void (*ready)(struct agent *a, struct ep_src *src, uint32_t events))
{
	struct ep_src *src = calloc(1, size);

	if (!src) {
		close(fd);
		return NULL;
	}
	src->fd = fd;
	src->ready = ready;
	src->client = true;
	if (agent_watch(a, src, EPOLLIN)) {
		close(fd);
		free(src);
		return NULL;
	}
	return src;
}

long agent_ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

void agent_unwatch(struct agent *a, struct ep_src *src)
{
	epoll_ctl(a->epfd, EPOLL_CTL_DEL, src->fd, NULL);
	for (int i = 0; i < a->batch_n; i++)
		if (a->batch[i].data.ptr == src)
			a->batch[i].data.ptr = NULL;
}

int agent_dispatch(struct agent *a, int timeout_ms)
{
	struct epoll_event evs[AGENT_BATCH];
	int n = epoll_wait(a->epfd, evs, AGENT_BATCH, timeout_ms);

	if (n < 0)
		return -errno;
	a->batch = evs;
	a->batch_n = n;
	/* the agent's own sources, then clients within the budget */
	for (int pass = 0; pass < 2; pass++) {
		struct timespec t0;
		bool served = false;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < n && !a->stop; i++) {
			struct ep_src *src = evs[i].data.ptr;

			/* NULL: closed by an earlier handler of this batch */
			if (!src || src->client != (pass == 1))
				continue;
			if (pass == 1 && served && agent_ms_since(&t0) >= AGENT_CLIENT_BUDGET_MS)
				break;
			src->ready(a, src, evs[i].events);
			served = true;
		}
	}
	a->batch = NULL;
	a->batch_n = 0;
	return n;
}
