// SPDX-License-Identifier: GPL-2.0-only
/*
 * Where a policy goes: the policy dir is read and checked as one policy
 * (lib/policy_*.c), compiled to the exact map contents (lib/fw_compile.c) and
 * written to the pinned maps (lib/fw_maps.c), fw_cfg last. A policy that
 * fails at any step is not applied: the one in force stays, the errors are
 * logged as FILE:LINE:COL: message.
 *
 * Reloads come from SIGHUP and from inotify on the policy dir: any change of
 * an entry (write, rename-over, Kubernetes' "..data" symlink swap) arms a
 * debounce timer, and the whole dir is read again when it fires.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "attach.h"
#include "conntrack.h"
#include "log.h"
#include "policy_edit.h"
#include "sync.h"

#define DEBOUNCE_MS	300	/* quiet time after the last change */
#define DEBOUNCE_MAX_MS	1000	/* a dir that keeps changing is read anyway */
#define REWATCH_MS	1000	/* retry when the policy dir is gone */
#define SLOT_GRACE_MS	10	/* before rewriting the slot the links just left */

int sync_load(struct agent *a, struct sl_policy *pol)
{
	struct sl_diags d = {};
	int err;

	memset(pol, 0, sizeof(*pol));
	/* the hand-written files and the CLI's edits (lib/policy_edit.h) */
	err = policy_load_dir_edits(a->policy_dir, pol, &d);
	if (err) {
		log_diags(LL_ERROR, &d);
		if (!d.n)
			pr_err("%s: cannot load the policy: %s", a->policy_dir, strerror(-err));
		policy_free(pol);
	}
	sl_diags_free(&d);
	return err;
}

/*
 * Counters belong to a rule: when a reload puts another rule at an index,
 * its counter starts from zero (nftables does the same for new rules).
 */
static void reset_moved_counters(struct agent *a, const struct sl_policy *pol)
{
	const struct sl_firewall *old = policy_fw(&a->pol, 0), *new = policy_fw(pol, 0);
	int ncpus = libbpf_num_possible_cpus();
	size_t n = old->nrules > new->nrules ? old->nrules : new->nrules;
	struct sl_counter *zero;

	if (!a->have_policy || ncpus <= 0)
		return;
	zero = calloc(ncpus, sizeof(*zero));
	if (!zero)
		return;
	for (__u32 i = 0; i < n && i < SLUICE_MAX_RULES; i++) {
		const char *was = i < old->nrules ? old->rules[i].name : NULL;
		const char *now = i < new->nrules ? new->rules[i].name : NULL;

		if (was && now && !strcmp(was, now))
			continue;
		if (bpf_map_update_elem(a->rule_cnt_fd, &i, zero, BPF_ANY))
			pr_warn("cannot reset the counter of rule %u: %s", i, strerror(errno));
	}
	free(zero);
}

/*
 * A packet that started in the slot the links just left may still be
 * reading it (a NAPI poll runs one program for a batch): give it time
 * before that slot is rewritten. Microseconds would do.
 */
static void slot_grace(struct agent *a)
{
	long ms = agent_ms_since(&a->last_switch);

	if (a->last_switch.tv_sec && ms < SLOT_GRACE_MS)
		usleep((SLOT_GRACE_MS - ms) * 1000);
}

int sync_apply(struct agent *a, struct sl_policy *pol)
{
	/* the first policy goes straight into the (unattached) active slot */
	int target = a->in_force ? 1 - a->active : a->active;
	uint64_t gen = a->generation + 1;
	struct fw_tables t = {};
	struct sl_diags d = {};
	int err;

	if (pol->nfws > 1) {
		const struct sl_firewall *fw = &pol->fws[1];

		/* one set of fw maps serves every interface: sections need per-interface slots */
		pr_err("%s:%d:%d: section \"%s\": this agent runs one firewall section on every "
		       "interface; not applied", fw->loc.file, fw->loc.line, fw->loc.col, fw->name);
		err = -EOPNOTSUPP;
		goto fail;
	}
	err = fw_compile(pol, policy_fw(pol, 0), gen, &t, &d);
	if (err) {
		log_diags(LL_ERROR, &d);
		pr_err("%s: the policy does not compile: not applied", a->policy_dir);
		goto fail;
	}
	/* the CLI's blocklist is checked before conntrack (bpf/lib/classify.h) */
	t.cfg.block = sl_fw_has_block(policy_fw(pol, 0));
	slot_grace(a);
	err = fw_maps_write(&a->slots[target].fds, &t, &d);
	if (err) {
		log_diags(LL_ERROR, &d);
		pr_err("%s: cannot write the policy to the maps of slot %d: %s", a->policy_dir,
		       target, strerror(-err));
		goto fail;
	}
	/* shared by both slots: written just before the switch, restored if it fails */
	err = ct_apply(a, pol);
	if (err)
		goto fail;
	if (target != a->active) {
		err = attach_switch_slot(a, target);
		clock_gettime(CLOCK_MONOTONIC, &a->last_switch);
		if (err) {
			/* every link runs one policy: back to the one in force */
			attach_switch_slot(a, a->active);
			if (a->have_policy)
				ct_apply(a, &a->pol);
			pr_err("%s: not applied: the interfaces stay on generation %llu",
			       a->policy_dir, (unsigned long long)a->generation);
			goto fail;
		}
	}
	reset_moved_counters(a, pol);
	a->use.known = true;
	a->use.classes = t.nclasses;
	a->use.src4_t8 = t.nsrc4_t8;
	a->use.dst4_t8 = t.ndst4_t8;
	a->use.src6 = t.nsrc6;
	a->use.dst6 = t.ndst6;
	fw_tables_free(&t);
	sl_diags_free(&d);

	if (a->have_policy)
		policy_free(&a->pol);
	a->pol = *pol;
	a->have_policy = true;
	a->generation = gen;
	a->active = target;
	a->in_force = true;
	pr_info("policy generation %llu applied (slot %d): %zu rules, default %s, "
		"from %zu files in %s", (unsigned long long)gen, target, policy_nrules(&a->pol),
		sl_action_name(policy_fw(&a->pol, 0)->default_action), a->pol.nfiles,
		a->policy_dir);
	return 0;
fail:
	fw_tables_free(&t);
	sl_diags_free(&d);
	policy_free(pol);
	return err;
}

int sync_reload(struct agent *a, const char *why)
{
	struct sl_policy pol;
	int err;

	pr_info("reloading %s (%s)", a->policy_dir, why);
	err = sync_load(a, &pol);
	if (!err)
		err = sync_apply(a, &pol);
	if (err) {
		if (a->have_policy || a->generation)
			pr_err("not applied; generation %llu stays in force",
			       (unsigned long long)a->generation);
		return err;
	}
	return attach_sync(a);
}

static void timer_arm(struct agent *a, long ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 },
	};

	if (timerfd_settime(a->debounce_fd, 0, &its, NULL))
		pr_err("cannot arm the reload timer: %s", strerror(errno));
}

static bool timer_armed(struct agent *a)
{
	struct itimerspec its;

	return !timerfd_gettime(a->debounce_fd, &its) &&
	       (its.it_value.tv_sec || its.it_value.tv_nsec);
}

static int watch_add(struct agent *a)
{
	/* IN_DONT_FOLLOW is not set: the dir itself may be a symlink */
	a->inotify_wd = inotify_add_watch(a->inotify_fd, a->policy_dir,
					  IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
					  IN_CREATE | IN_DELETE | IN_DELETE_SELF |
					  IN_MOVE_SELF | IN_ONLYDIR);
	return a->inotify_wd < 0 ? -errno : 0;
}

/* Editors' swap and backup files are not policy. */
static bool name_ignored(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.' && name[1] != '.')
		return true;
	if (n && name[n - 1] == '~')
		return true;
	return (n > 4 && (!strcmp(name + n - 4, ".swp") || !strcmp(name + n - 4, ".swx")));
}

static void inotify_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t n;

	(void)src;
	(void)events;
	while ((n = read(a->inotify_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
				if (a->inotify_wd >= 0 && !(ev->mask & IN_IGNORED))
					inotify_rm_watch(a->inotify_fd, a->inotify_wd);
				a->inotify_wd = -1;
				changed = true;
				continue;
			}
			if (ev->len && name_ignored(ev->name))
				continue;
			changed = true;
		}
	}
	if (!changed)
		return;
	if (!timer_armed(a))
		clock_gettime(CLOCK_MONOTONIC, &a->change_first);
	/* debounce, but a dir that never stops changing is still read */
	if (agent_ms_since(&a->change_first) < DEBOUNCE_MAX_MS - DEBOUNCE_MS)
		timer_arm(a, DEBOUNCE_MS);
	else if (!timer_armed(a))
		timer_arm(a, 1);
}

static void debounce_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	uint64_t ticks;

	(void)src;
	(void)events;
	if (read(a->debounce_fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	if (a->inotify_wd < 0) {
		if (watch_add(a)) {
			/* the dir is gone (or being swapped): the policy in force stays */
			timer_arm(a, REWATCH_MS);
			return;
		}
		pr_info("%s: watching the policy dir again", a->policy_dir);
	}
	sync_reload(a, "the policy dir changed");
}

int sync_watch_open(struct agent *a)
{
	int err;

	a->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	a->debounce_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->inotify_fd < 0 || a->debounce_fd < 0) {
		err = -errno;
		pr_err("cannot watch %s: %s", a->policy_dir, strerror(errno));
		return err;
	}
	if (watch_add(a)) {
		pr_warn("cannot watch %s: %s; retrying every %d ms", a->policy_dir,
			strerror(errno), REWATCH_MS);
		timer_arm(a, REWATCH_MS);
	}
	a->inotify_src.fd = a->inotify_fd;
	a->inotify_src.ready = inotify_ready;
	a->debounce_src.fd = a->debounce_fd;
	a->debounce_src.ready = debounce_ready;
	err = agent_watch(a, &a->inotify_src, EPOLLIN);
	if (!err)
		err = agent_watch(a, &a->debounce_src, EPOLLIN);
	return err;
}

void sync_watch_close(struct agent *a)
{
	if (a->inotify_fd >= 0)
		close(a->inotify_fd);
	if (a->debounce_fd >= 0)
		close(a->debounce_fd);
	a->inotify_fd = a->debounce_fd = -1;
}
