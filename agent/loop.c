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
	for (int i = 0; i < n && !a->stop; i++) {
		struct ep_src *src = evs[i].data.ptr;

		if (src)	/* NULL: closed by an earlier handler of this batch */
			src->ready(a, src, evs[i].events);
	}
	a->batch = NULL;
	a->batch_n = 0;
	return n;
}
