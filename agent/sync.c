// SPDX-License-Identifier: GPL-2.0-only
/*
 * Where a policy goes: the policy dir is read and checked as one policy
 * (lib/policy_*.c), compiled to the exact map contents (lib/fw_compile.c),
 * built into a new policy slot of inner maps (lib/fw_maps.c), and then every
 * interface's word in sl_ifslot is flipped to it; the slot left is freed
 * after a grace period. A policy that fails at any step is not applied: the
 * one in force stays, the errors are logged as FILE:LINE:COL: message (a
 * map write that fails names the rule or set that caused it).
 *
 * Reloads come from SIGHUP and from inotify on the policy dir. A complete
 * step (a file closed after writing, renamed into place: rename-over,
 * Kubernetes' "..data" symlink swap) is read at once (QUICK_MS, for the
 * other events of the same step); a file just created (still being
 * written) and a step within BURST_MS of the one before (a copy of many
 * files) arm a debounce timer instead, and the whole dir is read again when
 * it fires. A file removed or renamed away waits REMOVED_MS: an editor's
 * save by backup-rename-write (vim, Emacs: x.yaml -> x.yaml~, then a new
 * x.yaml) leaves the dir without the file for a moment, and read then, the
 * dir would apply without it (without its firewall, say).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "attach.h"
#include "block.h"
#include "conntrack.h"
#include "egress.h"
#include "fw_maps.h"
#include "health.h"
#include "lb.h"
#include "log.h"
#include "policy_edit.h"
#include "rules.h"
#include "sync.h"

#define QUICK_MS	5	/* after a complete write: the events of the same step */
#define BURST_MS	50	/* events closer than this are a burst ... */
#define DEBOUNCE_MS	100	/* ... read after this much quiet */
#define DEBOUNCE_MAX_MS	1000	/* a dir that keeps changing is read anyway */
#define REMOVED_MS	300	/* after a file went: the new one of a backup-rename-write */
#define REWATCH_MS	1000	/* retry when the policy dir is gone */
#define RETRY_MS	1000	/* a reload out of fds or memory: again after, ... */
#define RETRY_MAX_MS	60000	/* ... twice as long each time up to this */
#define SLOT_GRACE_MS	10	/* before freeing a slot or program set just left */
#define SUBDIR_DEPTH	4	/* subdirs of the policy dir watched for set files, */
#define SUBDIR_MAX	64	/* at most this deep and this many */
#define WATCH_MASK	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | \
			 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define PARENT_MASK	(IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ONLYDIR)

/* Remember why the edits file does not load (D's first error), or that it does (D NULL). */
static void edits_error_set(struct agent *a, const struct sl_diags *d)
{
	const struct sl_diag *x = d && d->n ? &d->v[0] : NULL;
	char *s = NULL;

	free(a->edits_error);
	a->edits_error = NULL;
	if (!d)
		return;
	if (!x || (x->file && x->line > 0 ?
		   asprintf(&s, "%s:%d:%d: %s", x->file, x->line, x->col, x->msg) :
		   asprintf(&s, "%s: %s", x->file ? x->file : a->policy_dir, x->msg)) < 0)
		s = strdup("the CLI's edits file does not load");
	a->edits_error = s;
}

int sync_load(struct agent *a, struct sl_policy *pol, struct sl_edits *e, bool *no_edits)
{
	struct sl_diags d = {}, de = {};
	int err, eerr;

	*no_edits = false;
	memset(e, 0, sizeof(*e));
	/* the CLI's edits (lib/policy_edit.h), merged into the hand-written files */
	eerr = sl_edits_read(a->policy_dir, e, &de);
	if (!eerr) {
		eerr = policy_load_with_edits(a->policy_dir, e, pol, &de);
		if (!eerr) {
			edits_error_set(a, NULL);
			sl_diags_free(&de);
			return 0;
		}
	}
	sl_edits_free(e);
	/* which is at fault: the hand-written files alone, or the edits? */
	err = policy_load_dir(a->policy_dir, pol, &d);
	if (err) {
		log_diags(LL_ERROR, &d);
		if (!d.n)
			pr_err("%s: cannot load the policy: %s", a->policy_dir, strerror(-err));
		sl_diags_free(&d);
		sl_diags_free(&de);
		return err;
	}
	sl_diags_free(&d);
	log_diags(LL_ERROR, &de);
	edits_error_set(a, &de);
	sl_diags_free(&de);
	/*
	 * A broken edits file must not leave a machine without a firewall (a
	 * boot with nothing in force), nor remove edits that are in force: the
	 * hand-written files alone apply only when the policy in force does not
	 * hold the edits either. The file stays as it is, for the operator.
	 */
	if (eerr == -ENOMEM || !a->edits_refused) {
		policy_free(pol);
		pr_err("%s: the CLI's edits file does not load: not applied (fix it or remove "
		       "it, then send SIGHUP)", a->policy_dir);
		return eerr;
	}
	pr_err("%s: the CLI's edits file is refused and kept as it is; the hand-written "
	       "policy applies without the CLI's rules and blocklist (fix or remove the file, "
	       "then send SIGHUP)", a->policy_dir);
	*no_edits = true;
	return 0;
}

/*
 * A packet that read the slot the interfaces just left may still be using
 * it (a NAPI poll runs one program for a batch), and one that entered an
 * old build's entry program still tail-calls through that build's prog
 * array: give them time before either is freed. Microseconds would do.
 */
void sync_grace(struct agent *a)
{
	long ms = agent_ms_since(&a->last_switch);

	if (a->last_switch.tv_sec && ms < SLOT_GRACE_MS)
		usleep((SLOT_GRACE_MS - ms) * 1000);
}

/*
 * A map write failed (map full, ENOMEM, ...): say where in the policy. A
 * trie insert names the rule or set of its prefix; anything else the
 * firewall section whose tables made the map.
 */
static void map_fail_report(const struct sl_policy *pol, const struct sl_firewall *fw,
			    const struct fw_write_fail *fail, int err)
{
	const struct sl_loc *sec = fw->present ? &fw->loc : &pol->fw_loc;
	const struct sl_loc *loc = NULL;
	struct sl_diags d = {};
	char pfx[INET6_ADDRSTRLEN];

	if (fail->has_key) {
		loc = fw_prefix_loc(pol, &fail->key);
		inet_ntop(AF_INET6, fail->key.addr, pfx, sizeof(pfx));
		sl_diag_add(&d, loc ? loc : sec, "map %s: cannot insert %s/%u: %s; not applied",
			    fail->map, pfx, fail->key.prefixlen, strerror(-err));
	} else {
		sl_diag_add(&d, sec, "section \"%s\": map %s: %s; not applied", fw->name,
			    fail->map ? fail->map : "?", strerror(-err));
	}
	log_diags(LL_ERROR, &d);
	sl_diags_free(&d);
}

uint32_t sync_rule_base(const struct sl_policy *pol, size_t section)
{
	uint32_t base = 0;

	for (size_t i = 0; i < section && i < pol->nfws; i++)
		base += pol->fws[i].nrules;
	return base;
}

/* The sections of POL to build: every one, or the built-in empty one. */
static size_t nsections(const struct sl_policy *pol)
{
	return pol->nfws ? pol->nfws : 1;
}

/* Free every slot no interface names and the policy in force does not hold. */
static void slots_gc(struct agent *a)
{
	for (uint32_t s = 0; s < SLUICE_POL_SLOTS; s++) {
		bool held = false;

		for (size_t i = 0; i < a->nsec_slots && !held; i++)
			held = a->sec_slots[i] == s;
		if (!held && fw_slot_used(&a->fds, s) && !fw_ifslot_refers(&a->fds, s) &&
		    !egress_holds_slot(a, s))
			fw_slot_clear(&a->fds, s);
	}
}

int sync_apply(struct agent *a, struct sl_policy *pol, struct sl_edits *e, bool edits_ok)
{
	size_t nsec = nsections(pol), built = 0;
	struct block_plan bp;
	uint64_t gen = a->generation + 1;
	struct rules_plan plan;
	struct fw_write_fail fail;
	struct sl_diags d = {};
	struct map_use use = { .known = true };
	uint32_t *slots;
	int err = 0;

	slots = calloc(nsec, sizeof(*slots));
	if (!slots) {
		policy_free(pol);
		sl_edits_free(e);
		return -ENOMEM;
	}
	/* what the last apply left, first: applies back to back never run out of slots */
	sync_gc_run(a);
	/* counter ids first: a rule that stays the same keeps its counters */
	err = rules_plan(a, pol, &plan);
	if (err) {
		free(slots);
		policy_free(pol);
		sl_edits_free(e);
		return err;
	}
	/* one new slot per section: nothing a packet can reach changes until the flip */
	for (; built < nsec && !err; built++) {
		const struct sl_firewall *fw = policy_fw(pol, pol->nfws ? (int)built : -1);
		struct fw_tables t = {};

		err = fw_compile(pol, fw, gen, &t, &d);
		if (err) {
			log_diags(LL_ERROR, &d);
			pr_err("%s: the policy does not compile: not applied", a->policy_dir);
			break;
		}
		fw_tables_set_counters(&t, plan.ids + sync_rule_base(pol, built),
				       SLUICE_CNT_DEFAULT);
		err = fw_slot_free(&a->fds, &slots[built]);
		if (err)
			pr_err("%s: no free policy slot (%d in use): not applied", a->policy_dir,
			       SLUICE_POL_SLOTS);
		if (!err) {
			err = fw_slot_write(&a->fds, slots[built], &t, &fail, &d);
			if (err) {
				log_diags(LL_DEBUG, &d);
				map_fail_report(pol, fw, &fail, err);
			}
		}
		for (int f = 0; f < SL_F_MAX; f++)
			use.classes += t.ncls[f];
		use.rules += fw->nrules;
		for (int k = 0; k < 2; k++) {
			use.t8[k] += t.v4[k].nt8;
			use.lh[k] += t.v4[k].nlh;
			use.v6[k] += t.n6[k];
		}
		use.bytes += fw_tables_bytes(&t);
		fw_tables_free(&t);
		sl_diags_free(&d);
		if (err)
			break;
	}
	/* the load balancer's new tables and backends, where no packet looks yet */
	if (!err)
		err = lb_sync_prepare(a, pol, gen);
	/* the egress entries' slots, built like the sections' */
	if (!err)
		err = egress_prepare(a, pol, gen);
	/* shared by every slot: written just before the flip, restored if it fails */
	if (!err)
		err = ct_apply(a, pol);
	/* the blocklist's new prefixes: in the tries before a slot blocks with them */
	if (!err) {
		err = block_before(a, e, &bp);
		if (err && a->have_policy)
			ct_apply(a, &a->pol);
	}
	/* the flip: one word per interface, to its section's new slot; the services */
	if (!err) {
		err = attach_set_slots(a, pol, slots, nsec);
		/* every managed cgroup's word (egress_abort puts them back) */
		if (!err)
			err = egress_commit(a, pol);
		if (!err)
			err = lb_sync_commit(a);
		clock_gettime(CLOCK_MONOTONIC, &a->last_switch);
		if (err) {
			if (a->nsec_slots)
				attach_set_slots(a, &a->pol, a->sec_slots, a->nsec_slots);
			if (a->have_policy)
				ct_apply(a, &a->pol);
			sync_grace(a);
			block_abort(a, &bp);
			pr_err("%s: not applied: the interfaces stay on generation %llu",
			       a->policy_dir, (unsigned long long)a->generation);
		}
	}
	if (err) {
		egress_abort(a);
		lb_sync_abort(a);
		for (size_t i = 0; i < built; i++)
			if (!fw_ifslot_refers(&a->fds, slots[i]))
				fw_slot_clear(&a->fds, slots[i]);
		rules_abort(a, &plan);
		free(slots);
		policy_free(pol);
		sl_edits_free(e);
		return err;
	}
	/* the prefixes no policy blocks with any more */
	block_after(a, e, &bp);
	sl_edits_free(&a->edits);
	a->edits = *e;
	memset(e, 0, sizeof(*e));
	/* now, not at the first block edit (a 1M-prefix list: ~100 ms) */
	sl_edits_index(&a->edits);
	a->edits_live = true;
	a->edits_ok = edits_ok;
	a->use = use;
	if (a->have_policy)
		policy_free(&a->pol);
	a->pol = *pol;
	a->have_policy = true;
	block_set_adopt(a);
	a->generation = gen;
	free(a->sec_slots);
	a->sec_slots = slots;
	a->nsec_slots = nsec;
	a->slot = slots[0];
	a->in_force = true;
	/* the cgroups that exist get their links, those no longer named lose them */
	egress_applied(a);
	pr_info("policy generation %llu applied (%zu section%s, slots %u..): %zu rules, "
		"%zu load balancers, from %zu files in %s", (unsigned long long)gen, nsec,
		nsec > 1 ? "s" : "", slots[0], policy_nrules(&a->pol), a->pol.nlbs,
		a->pol.nfiles, a->policy_dir);
	/* events of the new generation name its rules from now on */
	rules_commit(a, &a->pol, &plan, gen);
	lb_check_backends(a);
	/*
	 * The slots just left: freed once no packet can be in them, after the
	 * answer (sync_gc_run from the event loop): the edit is in force now.
	 */
	a->gc_pending = true;
	lb_ifaces_sync(a);
	health_sync(a);
	return 0;
}

long sync_gc_timeout(const struct agent *a)
{
	long ms;

	if (!a->gc_pending)
		return -1;
	ms = SLOT_GRACE_MS - agent_ms_since(&a->last_switch);
	return ms > 0 ? ms : 0;
}

void sync_gc_run(struct agent *a)
{
	if (!a->gc_pending)
		return;
	a->gc_pending = false;
	sync_grace(a);
	slots_gc(a);
	lb_sync_gc(a);
}

static void watch_subdirs(struct agent *a);
static void watch_renew(struct agent *a);
static void timer_arm(struct agent *a, long ms);

/*
 * A reload that ran out of fds (a file or the dir not opened) or memory
 * says nothing about the policy: no change of the dir may come again to
 * apply it, so it is tried again, less often each time it fails.
 */
void sync_retry(struct agent *a, int err)
{
	if (err != -EMFILE && err != -ENFILE && err != -ENOMEM) {
		a->retry_ms = 0;
		return;
	}
	a->retry_ms = a->retry_ms ? a->retry_ms * 2 : RETRY_MS;
	if (a->retry_ms > RETRY_MAX_MS)
		a->retry_ms = RETRY_MAX_MS;
	pr_warn("%s: reading it again in %ld s (%s)", a->policy_dir, a->retry_ms / 1000,
		strerror(-err));
	timer_arm(a, a->retry_ms);
}

int sync_reload(struct agent *a, const char *why)
{
	struct sl_policy pol;
	struct sl_edits e;
	bool no_edits;
	int err;

	pr_info("reloading %s (%s)", a->policy_dir, why);
	/* before reading: a change from now on is seen, in the dir and its subdirs */
	watch_renew(a);
	watch_subdirs(a);
	err = sync_load(a, &pol, &e, &no_edits);
	if (!err)
		err = sync_apply(a, &pol, &e, !no_edits);
	if (!err)
		a->edits_refused = no_edits;
	a->policy_failed = err != 0;
	if (err) {
		if (a->have_policy || a->generation)
			pr_err("not applied; generation %llu stays in force",
			       (unsigned long long)a->generation);
		sync_retry(a, err);
		return err;
	}
	a->retry_ms = 0;
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
	a->inotify_wd = inotify_add_watch(a->inotify_fd, a->policy_dir, WATCH_MASK);
	return a->inotify_wd < 0 ? -errno : 0;
}

/*
 * The dir the policy dir's path names now: a watch on another one (the path
 * is a symlink that was pointed elsewhere, or a dir put in its place) is
 * moved there. A dir gone keeps the watch it had: debounce_ready retries.
 */
static void watch_renew(struct agent *a)
{
	int wd;

	if (a->inotify_fd < 0)
		return;
	wd = inotify_add_watch(a->inotify_fd, a->policy_dir, WATCH_MASK);
	if (wd < 0)
		return;
	if (a->inotify_wd >= 0 && a->inotify_wd != wd)
		inotify_rm_watch(a->inotify_fd, a->inotify_wd);
	a->inotify_wd = wd;
}

/* The policy dir's name in its parent (the path without trailing slashes). */
static const char *dir_base(const char *dir, size_t *len)
{
	size_t n = strlen(dir), b;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	for (b = n; b > 0 && dir[b - 1] != '/'; b--)
		;
	*len = n - b;
	return dir + b;
}

/*
 * Watch the parent of the policy dir for its entry: a swap of the dir itself
 * (`ln -sfn v2 tmp && mv -T tmp policies`, a dir renamed in its place) leaves
 * the old dir unchanged, and its watch silent.
 */
static void watch_parent(struct agent *a)
{
	size_t len;
	const char *base = dir_base(a->policy_dir, &len);
	char *parent;

	if (!len || base == a->policy_dir)
		return;
	parent = strndup(a->policy_dir, (size_t)(base - a->policy_dir));
	if (!parent)
		return;
	a->parent_wd = inotify_add_watch(a->inotify_fd, parent, PARENT_MASK);
	if (a->parent_wd < 0)
		pr_warn("cannot watch %s: %s; a swap of the policy dir itself needs SIGHUP",
			parent, strerror(errno));
	free(parent);
}

/* Does EV of the parent's watch name the policy dir? */
static bool parent_names_dir(const struct agent *a, const struct inotify_event *ev)
{
	size_t len;
	const char *base = dir_base(a->policy_dir, &len);

	return ev->len && strlen(ev->name) == len && !memcmp(ev->name, base, len);
}

/*
 * Watch the subdirs of DIR (not hidden, not symlinks) and theirs, DEPTH
 * levels down, into V; *FULL when SUBDIR_MAX left some out.
 */
static void subdirs_add(struct agent *a, const char *dir, int depth, int *v, size_t *n,
			bool *full)
{
	struct dirent *de;
	DIR *d;

	if (depth > SUBDIR_DEPTH || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		int wd;

		/* "..data" and its timestamped dirs change by a swap in the top dir */
		if (de->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path) ||
		    lstat(path, &st) || !S_ISDIR(st.st_mode))
			continue;
		if (*n == SUBDIR_MAX) {
			*full = true;
			break;
		}
		wd = inotify_add_watch(a->inotify_fd, path, WATCH_MASK | IN_DONT_FOLLOW);
		if (wd < 0) {
			pr_warn("cannot watch %s: %s; changes of set files there need SIGHUP",
				path, strerror(errno));
			continue;
		}
		v[(*n)++] = wd;
		subdirs_add(a, path, depth + 1, v, n, full);
	}
	closedir(d);
}

/*
 * inotify is not recursive: set files may sit in subdirs of the policy dir
 * (lists/drop.txt), so each subdir gets its own watch, renewed at every
 * reload (a subdir made since is then seen: its creation was a change of
 * its parent). Watches of subdirs gone are dropped.
 */
static void watch_subdirs(struct agent *a)
{
	int *v = calloc(SUBDIR_MAX, sizeof(*v));
	bool full = false;
	size_t n = 0;

	if (!v || a->inotify_fd < 0) {
		free(v);
		return;
	}
	subdirs_add(a, a->policy_dir, 1, v, &n, &full);
	if (full)
		pr_warn("%s: more than %d subdirs; changes of set files in the others need "
			"SIGHUP", a->policy_dir, SUBDIR_MAX);
	for (size_t i = 0; i < a->nsub_wds; i++) {
		bool kept = false;

		for (size_t k = 0; k < n && !kept; k++)
			kept = v[k] == a->sub_wds[i];
		if (!kept && a->sub_wds[i] != a->inotify_wd)
			inotify_rm_watch(a->inotify_fd, a->sub_wds[i]);
	}
	free(a->sub_wds);
	a->sub_wds = v;
	a->nsub_wds = n;
}

static bool is_sub_wd(const struct agent *a, int wd)
{
	for (size_t i = 0; i < a->nsub_wds; i++)
		if (a->sub_wds[i] == wd)
			return true;
	return false;
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

/*
 * Does EV end a step (a file written and closed, moved in or out, removed)?
 * A file just created is still being written: its IN_CLOSE_WRITE follows.
 */
static bool ev_complete(const struct inotify_event *ev)
{
	return ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO);
}

/* Does EV take a file away (removed, renamed out): its new self may follow? */
static bool ev_removed(const struct inotify_event *ev)
{
	return ev->mask & (IN_MOVED_FROM | IN_DELETE);
}

static void inotify_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false, complete = false, removed = false;
	struct timespec now;
	long quiet;
	ssize_t n;

	(void)src;
	(void)events;
	while ((n = read(a->inotify_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->wd == a->parent_wd && ev->wd != a->inotify_wd &&
			    !is_sub_wd(a, ev->wd)) {
				if (ev->mask & IN_IGNORED)
					a->parent_wd = -1;	/* the parent is gone */
				if (!parent_names_dir(a, ev))
					continue;
				/* the policy dir's entry changed: watch what it names after a quiet time */
				if (a->inotify_wd >= 0)
					inotify_rm_watch(a->inotify_fd, a->inotify_wd);
				a->inotify_wd = -1;
				changed = true;
				complete = removed = false;
				continue;
			}
			if (ev->wd != a->inotify_wd && is_sub_wd(a, ev->wd)) {
				/* a subdir: any change but editors' files; gone: re-listed */
				if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) ||
				    !ev->len || !name_ignored(ev->name)) {
					changed = true;
					complete = ev_complete(ev);
					removed = ev_removed(ev);
				}
				continue;
			}
			if (ev->wd != a->inotify_wd)
				continue;	/* a subdir no longer watched */
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
				if (a->inotify_wd >= 0 && !(ev->mask & IN_IGNORED))
					inotify_rm_watch(a->inotify_fd, a->inotify_wd);
				a->inotify_wd = -1;
				changed = true;
				complete = removed = false;
				continue;
			}
			if (ev->len && name_ignored(ev->name))
				continue;
			changed = true;
			complete = ev_complete(ev);
			removed = ev_removed(ev);
		}
	}
	if (!changed)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	quiet = a->change_last.tv_sec ? agent_ms_since(&a->change_last) : BURST_MS;
	if (complete)
		a->change_last = now;
	if (!timer_armed(a))
		a->change_first = now;
	/* a dir that never stops changing is still read */
	if (agent_ms_since(&a->change_first) >= DEBOUNCE_MAX_MS - DEBOUNCE_MS) {
		if (!timer_armed(a))
			timer_arm(a, 1);
		return;
	}
	/*
	 * A step complete on its own: now; a file half there or a burst: after a
	 * quiet time; a file gone: after time for its new self to come
	 */
	timer_arm(a, removed ? REMOVED_MS :
		     complete && quiet >= BURST_MS ? QUICK_MS : DEBOUNCE_MS);
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
	watch_parent(a);
	watch_subdirs(a);
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
	a->inotify_wd = a->parent_wd = -1;
	free(a->sub_wds);
	a->sub_wds = NULL;
	a->nsub_wds = 0;
}
