// SPDX-License-Identifier: GPL-2.0-only
/*
 * The agent's listing of links (agent/netlink.c) in a network namespace of
 * the test's own with a few hundred veths, so that the kernel's dump comes
 * in several parts. A link added between two parts makes the kernel mark
 * the dump interrupted (NLM_F_DUMP_INTR): the listing is taken again, and
 * the caller sees one whole listing, every link once. Before, the start of
 * the agent (or its relisting after an overrun) failed with "cannot list
 * the links: Interrupted system call", the links of the parts before the
 * mark already handed to the caller.
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../agent/netlink.h"
#include "testlib.h"

#define PAIRS 150	/* 300 veths and lo: well past one part of a dump */

struct seen {
	int count[4096];	/* by ifindex */
	int calls;
	int parts;
	int changes;		/* links added by the part hook */
	int change_every;	/* 0: on the first part only; 1: on every part */
};

static void on_link(void *ctx, const struct nl_link *l)
{
	struct seen *s = ctx;

	s->calls++;
	if (l->ifindex > 0 && l->ifindex < 4096)
		s->count[l->ifindex]++;
}

/* Between two parts of a listing: a link comes, so the next part is marked. */
static void on_part(void *ctx)
{
	struct seen *s = ctx;
	char cmd[128];

	s->parts++;
	if (s->changes && !s->change_every)
		return;
	snprintf(cmd, sizeof(cmd), "ip link add tnx%da type veth peer name tnx%db",
		 s->changes, s->changes);
	if (system(cmd) == 0)
		s->changes++;
}

/* A netns of this test's own (the test runs in a child) with PAIRS veth pairs. */
static bool netns_with_veths(void)
{
	char path[] = "/tmp/sl-test-netlink-XXXXXX";
	char cmd[128];
	FILE *f;
	int fd;

	if (unshare(CLONE_NEWNET)) {
		tl_skip("unshare(CLONE_NEWNET) needs root");
		return false;
	}
	fd = mkstemp(path);
	if (!ASSERT_TRUE(fd >= 0, "mkstemp"))
		return false;
	f = fdopen(fd, "w");
	for (int i = 0; i < PAIRS; i++)
		fprintf(f, "link add tnl%da type veth peer name tnl%db\n", i, i);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "ip -batch %s", path);
	fd = system(cmd);
	unlink(path);
	return ASSERT_EQ(fd, 0, "ip -batch: the veths");
}

/* The tally of a test in a netns of its own with the veths, or NULL (failed or skipped). */
static struct seen *setup(void)
{
	struct seen *s = calloc(1, sizeof(*s));

	if (!ASSERT_TRUE(s != NULL, "calloc") || !netns_with_veths()) {
		free(s);
		return NULL;
	}
	return s;
}

/* Every link of the netns once, by its index: if_nameindex, not netlink. */
static bool each_once(const struct seen *s)
{
	struct if_nameindex *ni = if_nameindex(), *p;
	int n = 0;
	bool ok = true;

	if (!ASSERT_TRUE(ni != NULL, "if_nameindex"))
		return false;
	for (p = ni; p->if_index; p++, n++)
		ok &= ASSERT_EQ(s->count[p->if_index], 1, p->if_name);
	if_freenameindex(ni);
	return ok && ASSERT_EQ(s->calls, n, "links handed over");
}

TEST(netlink_dump_lists_every_link_once)
{
	struct seen *s = setup();

	if (!s)
		return;
	ASSERT_OK(nl_links_dump_parts(on_link, s, NULL, NULL), "dump");
	ASSERT_TRUE(s->calls >= 2 * PAIRS + 1, "lo and the veths");
	each_once(s);
	free(s);
}

TEST(netlink_dump_interrupted_is_taken_again)
{
	struct seen *s = setup();

	if (!s)
		return;
	ASSERT_OK(nl_links_dump_parts(on_link, s, on_part, s), "dump");
	/* the premise: a link came in the middle of a listing */
	ASSERT_EQ(s->changes, 1, "links added between two parts");
	ASSERT_TRUE(s->count[if_nametoindex("tnx0a")] == 1, "the new link listed");
	each_once(s);
	free(s);
}

TEST(netlink_dump_interrupted_every_time_gives_up)
{
	struct seen *s = setup();

	if (!s)
		return;
	s->change_every = 1;
	ASSERT_EQ(nl_links_dump_parts(on_link, s, on_part, s), -EINTR, "dump");
	ASSERT_EQ(s->calls, 0, "no link of a partial listing handed over");
	/* bounded: a few listings, not one per change forever */
	ASSERT_TRUE(s->changes >= 2 && s->changes <= 20, "listings taken");
	free(s);
}
