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
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

/* The spare fd: a slot to give up when no other is left (agent_accept). */
static void spare_open(struct agent *a)
{
	if (a->spare_fd < 0)
		a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int agent_accept(struct agent *a, int lfd, struct sockaddr *sa, socklen_t *len,
		 const char *refuse, size_t n)
{
	struct rlimit rl = {};
	int fd, err;

	spare_open(a);
	fd = accept4(lfd, sa, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0) {
		a->out_of_fds = false;
		return fd;
	}
	err = -errno;
	if ((err != -EMFILE && err != -ENFILE) || a->spare_fd < 0)
		return err;
	close(a->spare_fd);
	a->spare_fd = -1;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0) {
		if (send(fd, refuse, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			pr_debug("cannot send the refusal: %s", strerror(errno));
		close(fd);
	}
	spare_open(a);
	if (!a->out_of_fds) {
		getrlimit(RLIMIT_NOFILE, &rl);
		pr_warn("out of file descriptors (%s, limit %llu): refusing connections until "
			"some are free", strerror(-err), (unsigned long long)rl.rlim_cur);
		a->out_of_fds = true;
	}
	return err;
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
