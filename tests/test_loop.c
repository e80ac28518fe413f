// SPDX-License-Identifier: GPL-2.0-only
/*
 * The agent's event loop (agent/loop.c) on a real epoll fd and real pipes:
 * a handler that closes and frees another source ready in the same batch
 * (as the ring buffer's handler drops a slow monitor client) must not see
 * that source's handler run. Without agent_unwatch's batch scrub the freed
 * source's handler runs: ASan reports the use after free, and the count of
 * handlers run is wrong even without ASan.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../agent/agent.h"
#include "testlib.h"

struct peer_src {
	struct ep_src src;	/* first: the handler gets it back */
	int wr;			/* the pipe's write end */
	struct peer_src **other;	/* the source this one closes, NULL once closed */
	int *ran;		/* handlers run, shared */
};

static void peer_close(struct agent *a, struct peer_src *p)
{
	agent_unwatch(a, &p->src);
	close(p->src.fd);
	close(p->wr);
	free(p);
}

/* Ready: count, then close the other source (if still open) and free it. */
static void peer_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	struct peer_src *p = (struct peer_src *)src;

	(void)events;
	(*p->ran)++;
	if (*p->other) {
		peer_close(a, *p->other);
		*p->other = NULL;
	}
}

static struct peer_src *peer_new(struct agent *a, int *ran)
{
	int fds[2];
	struct peer_src *p;

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC))
		return NULL;
	p = agent_conn_new(a, fds[0], sizeof(*p), peer_ready);
	if (!p) {
		close(fds[1]);
		return NULL;
	}
	p->wr = fds[1];
	p->ran = ran;
	return p;
}

/* Two watched pipes on A's epoll fd, each with a byte to read: false on failure. */
static bool two_ready(struct agent *a, int *ran, struct peer_src **x, struct peer_src **y)
{
	if (!ASSERT_TRUE(a->epfd >= 0, "epoll_create1"))
		return false;
	*x = peer_new(a, ran);
	*y = peer_new(a, ran);
	return ASSERT_TRUE(*x && *y, "two watched pipes") &&
	       ASSERT_EQ(write((*x)->wr, "x", 1), 1, "write x") &&
	       ASSERT_EQ(write((*y)->wr, "y", 1), 1, "write y");
}

TEST(loop_handler_frees_other_source_of_same_batch)
{
	struct agent a = { .epfd = epoll_create1(EPOLL_CLOEXEC) };
	struct peer_src *x, *y, *xo, *yo;
	int ran = 0, n;

	if (!two_ready(&a, &ran, &x, &y))
		return;
	/* whichever handler runs first closes and frees the other */
	xo = y;
	yo = x;
	x->other = &xo;
	y->other = &yo;
	n = agent_dispatch(&a, 1000);
	ASSERT_EQ(n, 2, "both sources in one batch");
	ASSERT_EQ(ran, 1, "handlers run: the closed source's did not");
	ASSERT_EQ(a.batch_n, 0, "no batch left after the round");
	if (!ASSERT_TRUE(!xo != !yo, "exactly one source closed"))
		return;
	/* the survivor is still watched: its unread byte makes it ready again */
	ASSERT_EQ(agent_dispatch(&a, 1000), 1, "the survivor, next round");
	ASSERT_EQ(ran, 2, "its handler ran again");
	peer_close(&a, xo ? xo : yo);
	close(a.epfd);
}

TEST(loop_handler_closes_itself_and_round_goes_on)
{
	struct agent a = { .epfd = epoll_create1(EPOLL_CLOEXEC) };
	struct peer_src *x, *y, *none = NULL;
	int ran = 0;

	if (!two_ready(&a, &ran, &x, &y))
		return;
	x->other = &none;
	y->other = &none;
	ASSERT_EQ(agent_dispatch(&a, 1000), 2, "both ready");
	ASSERT_EQ(ran, 2, "both handlers ran");
	/* level-triggered: unread input is there next round; an unwatched source is not */
	peer_close(&a, x);
	ASSERT_EQ(agent_dispatch(&a, 1000), 1, "only the watched source is ready");
	ASSERT_EQ(ran, 3, "its handler ran once more");
	peer_close(&a, y);
	ASSERT_EQ(agent_dispatch(&a, 0), 0, "nothing watched, nothing ready");
	close(a.epfd);
}

TEST(loop_dispatch_times_out_and_reports_errors)
{
	struct agent a = { .epfd = epoll_create1(EPOLL_CLOEXEC) };

	if (!ASSERT_TRUE(a.epfd >= 0, "epoll_create1"))
		return;
	ASSERT_EQ(agent_dispatch(&a, 10), 0, "timeout: no event");
	close(a.epfd);
	a.epfd = -1;
	ASSERT_EQ(agent_dispatch(&a, 0), -EBADF, "epoll_wait's errno");
}
