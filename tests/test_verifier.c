// SPDX-License-Identifier: GPL-2.0-only
/*
 * The verifier's work on the programs whose per-packet cost matters less:
 * the cgroup object (egress hooks, the backstop) and the TC object
 * (conntrack's egress, the cookie ACKs). Every start that loads programs
 * pays it, and the kernel refuses a program past 1M processed
 * instructions. Their heavy shared steps are global functions, checked
 * once per program (docs/architecture.md, "Verifier time"); a step inlined
 * again brings a program back to ~500k. The XDP object is not checked
 * here: its hot paths are inlined whatever the verifier pays.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice_cgroup.skel.h"
#include "sluice_tc.skel.h"

#include "testlib.h"

/*
 * Processed instructions a program of these objects may take: the largest
 * is sluice_tc at ~190k, and each was 125k-530k with the classifier or
 * the parse inlined.
 */
#define VERIFY_BUDGET	250000

/* Check every program of loaded OBJ against VERIFY_BUDGET; how many were read. */
static int check_budget(struct bpf_object *obj)
{
	struct bpf_program *prog;
	int n = 0;

	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (!ASSERT_OK(bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len),
			       "prog info"))
			continue;
		n++;
		tl_check(info.verified_insns <= VERIFY_BUDGET, __FILE__, __LINE__,
			 "%s: %u instructions processed by the verifier, over %u",
			 bpf_program__name(prog), info.verified_insns, VERIFY_BUDGET);
	}
	return n;
}

TEST(verifier_budget_cgroup)
{
	struct sluice_cgroup *c = sluice_cgroup__open_and_load();

	if (!ASSERT_TRUE(c, "load the cgroup object"))
		return;
	ASSERT_TRUE(check_budget(c->obj) >= 10, "its programs were read");
	sluice_cgroup__destroy(c);
}

TEST(verifier_budget_tc)
{
	struct sluice_tc *t = sluice_tc__open_and_load();

	if (!ASSERT_TRUE(t, "load the tc object"))
		return;
	ASSERT_TRUE(check_budget(t->obj) >= 3, "its programs were read");
	sluice_tc__destroy(t);
}
