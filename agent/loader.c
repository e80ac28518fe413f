// SPDX-License-Identifier: GPL-2.0-only
/*
 * The BPF side of the agent: bpffs, the state dir layout
 *   STATE/maps/NAME            every map: the outer fwp_* maps that hold the
 *                              policy slots, sl_ifslot, counters, conntrack,
 *                              events (0600)
 *   STATE/progs/BUILD/sl_tails the pipeline's prog array of one build (a
 *   STATE/progs/BUILD/sluice_xdp  prog array empties itself when its last
 *                              user reference goes: pinned) and its entry
 *                              program, the one the XDP links run
 *   STATE/progs/BUILD/sluice_tcx  the same firewall on tcx ingress (hook: tc)
 *   STATE/links/xdp_IFINDEX    one bpf_link per attached interface (0600),
 *   STATE/links/fwtc_IFINDEX   XDP or tcx ingress
 * BUILD is a hash of the XDP object. Maps get their pin path before load,
 * so libbpf reuses the maps a previous agent pinned: a restart keeps the
 * policies in force and the counters, and never opens the firewall. When
 * this build's program set is pinned already (a restart of the same
 * build), no program is loaded at all: the links keep their programs and
 * ids. A new build loads a complete new set, fills its prog array, pins
 * it, and only then do the links switch to it (attach.c), one
 * bpf_link_update each; older sets are unpinned after a grace period.
 * A pinned map of another layout, or under a name this build retired, is
 * replaced or kept for the previous programs as migrate.c declares for it
 * (STATE/upgrade/ holds the previous pins meanwhile).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "fnv.h"
#include "sluice_cgroup.skel.h"
#include "sluice_tc.skel.h"
#include "sluice_xdp.skel.h"

#include "agent.h"
#include "conntrack.h"
#include "egress.h"
#include "fw_maps.h"
#include "loader.h"
#include "log.h"
#include "migrate.h"
#include "policy.h"
#include "rules.h"
#include "statedir.h"

#define BPFFS_DIR "/sys/fs/bpf"

int loader_paths(struct agent *a)
{
	/* room for the pin names under maps/, links/ and progs/BUILD/ */
	if (strlen(a->state_dir) > PATH_MAX - 64 ||
	    snprintf(a->maps_dir, sizeof(a->maps_dir), "%s/maps", a->state_dir) >=
		    (int)sizeof(a->maps_dir) ||
	    snprintf(a->links_dir, sizeof(a->links_dir), "%s/links", a->state_dir) >=
		    (int)sizeof(a->links_dir) ||
	    snprintf(a->progs_dir, sizeof(a->progs_dir), "%s/progs", a->state_dir) >=
		    (int)sizeof(a->progs_dir) ||
	    snprintf(a->upgrade_dir, sizeof(a->upgrade_dir), "%s/upgrade", a->state_dir) >=
		    (int)sizeof(a->upgrade_dir)) {
		pr_err("state dir %s: path too long", a->state_dir);
		return -ENAMETOOLONG;
	}
	return 0;
}

int path_join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * Are the fw_cfg tables the pinned fwp_cfg (CFG_FD) holds of this build's
 * layout? Those of another would be read past their end (an upgrade).
 */
static bool pinned_cfg_ours(int cfg_fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), id;
	bool ours = true;
	int fd;

	for (__u32 s = 0; s < SLUICE_POL_SLOTS && ours; s++) {
		if (bpf_map_lookup_elem(cfg_fd, &s, &id))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		ours = fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) &&
		       info.value_size == sizeof(struct fw_config);
		if (fd >= 0)
			close(fd);
		break;
	}
	return ours;
}

bool loader_state_in_force(const struct agent *a)
{
	struct fw_map_fds fds;
	char path[PATH_MAX];
	__u32 k, next, slot;
	bool active = false;
	int r;

	fw_map_fds_init(&fds);
	if (!path_join(path, sizeof(path), a->maps_dir, SLUICE_MAP_IFSLOT))
		fds.ifslot = bpf_obj_get(path);
	if (!path_join(path, sizeof(path), a->maps_dir, "fwp_cfg"))
		fds.tbl[SLUICE_FWT_CFG] = bpf_obj_get(path);
	/*
	 * Slots of another layout (an upgrade): an interface with a slot is
	 * taken as a firewall in force (this build cannot read their fw_cfg).
	 */
	if (fds.ifslot >= 0 && fds.tbl[SLUICE_FWT_CFG] >= 0 &&
	    !pinned_cfg_ours(fds.tbl[SLUICE_FWT_CFG])) {
		active = !bpf_map_get_next_key(fds.ifslot, NULL, &next);
		fds.tbl[SLUICE_FWT_CFG] = (close(fds.tbl[SLUICE_FWT_CFG]), -1);
	}
	/* a slot some interface runs, whose fw_cfg is active, is a policy in force */
	r = fds.ifslot < 0 || fds.tbl[SLUICE_FWT_CFG] < 0 ? -1 :
	    bpf_map_get_next_key(fds.ifslot, NULL, &next);
	for (; !r && !active; r = bpf_map_get_next_key(fds.ifslot, &k, &next)) {
		struct fw_config cfg;

		k = next;
		if (!bpf_map_lookup_elem(fds.ifslot, &k, &slot) &&
		    !fw_slot_cfg(&fds, slot, &cfg) && cfg.active)
			active = true;
	}
	if (fds.ifslot >= 0)
		close(fds.ifslot);
	if (fds.tbl[SLUICE_FWT_CFG] >= 0)
		close(fds.tbl[SLUICE_FWT_CFG]);
	/*
	 * The interfaces' slots under a name of an earlier layout (migrate.c
	 * retires it): that version's firewall is in force in maps this build
	 * does not read; its links move once the policy is in this build's.
	 */
	return active || migrate_slots_retired(a->maps_dir);
}

int mkdir_p(const char *path, unsigned int mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

/* statfs of PATH or, when it does not exist yet, of its nearest ancestor. */
static int statfs_nearest(const char *path, struct statfs *st)
{
	char buf[PATH_MAX], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	while (statfs(buf, st)) {
		if (errno != ENOENT || !strcmp(buf, "/") || !strcmp(buf, "."))
			return -errno;
		/* dirname() may return a static "." or "/" rather than BUF */
		p = dirname(buf);
		if (p != buf)
			memmove(buf, p, strlen(p) + 1);
	}
	return 0;
}

static bool is_mountpoint(const char *dir)
{
	char parent[PATH_MAX];
	struct stat st, pst;

	snprintf(parent, sizeof(parent), "%s/..", dir);
	if (stat(dir, &st) || stat(parent, &pst))
		return false;
	return st.st_dev != pst.st_dev;
}

static int ensure_bpffs(const char *state_dir)
{
	struct statfs st;
	int err;

	err = statfs_nearest(state_dir, &st);
	if (err) {
		pr_err("state dir %s: %s", state_dir, strerror(-err));
		return err;
	}
	if (st.f_type == BPF_FS_MAGIC)
		return 0;
	if (!is_mountpoint(BPFFS_DIR)) {
		if (mount("bpf", BPFFS_DIR, "bpf", 0, "mode=0700")) {
			err = -errno;
			pr_err("cannot mount bpffs at %s: %s", BPFFS_DIR, strerror(errno));
			return err;
		}
		pr_info("mounted bpffs at %s", BPFFS_DIR);
		err = statfs_nearest(state_dir, &st);
		if (!err && st.f_type == BPF_FS_MAGIC)
			return 0;
	}
	pr_err("state dir %s is not on a bpf filesystem (choose a dir under %s)",
	       state_dir, BPFFS_DIR);
	return -EINVAL;
}

/*
 * STATE/slots/N/ held the firewall tables of the two program instances of
 * a sluice before the policy slots in map-in-map (fwo_*). Nothing of this
 * version reads them, and a map an attached program still uses lives on
 * without its pin: unpin them, or they would hold ~164 MiB until teardown.
 */
static void drop_legacy_slots(struct agent *a)
{
	char dir[PATH_MAX], sub[PATH_MAX], path[PATH_MAX];
	struct dirent *de, *fe;
	unsigned int n = 0;
	DIR *d, *sd;

	if (path_join(dir, sizeof(dir), a->state_dir, "slots"))
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || path_join(sub, sizeof(sub), dir, de->d_name))
			continue;
		sd = opendir(sub);
		while (sd && (fe = readdir(sd))) {
			if (fe->d_name[0] != '.' && !path_join(path, sizeof(path), sub, fe->d_name) &&
			    !unlink(path))
				n++;
		}
		if (sd)
			closedir(sd);
		rmdir(sub);
	}
	closedir(d);
	if (rmdir(dir))
		pr_warn("cannot remove %s: %s", dir, strerror(errno));
	pr_info("removed %u pins of a previous version's policy tables under %s", n, dir);
}

int loader_prepare_state(struct agent *a)
{
	const char *dirs[] = { a->state_dir, a->maps_dir, a->links_dir, a->progs_dir };
	char msg[512];
	struct stat st;
	int err, fd;

	err = ensure_bpffs(a->state_dir);
	if (err)
		return err;
	/* nothing changed (not even a mode) where the dir cannot be one */
	if (!stat(a->state_dir, &st)) {
		if (!S_ISDIR(st.st_mode)) {
			pr_err("state dir %s is not a directory", a->state_dir);
			return -ENOTDIR;
		}
		/* the root of a bpffs holds every other tool's pins too */
		if (sl_is_mount_root(a->state_dir, &st)) {
			pr_err("state dir %s is the root of a bpf filesystem: choose a dir "
			       "under it (the default is %s/sluice)", a->state_dir, BPFFS_DIR);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		err = mkdir_p(dirs[i], 0700);
		if (!err && chmod(dirs[i], 0700))
			err = -errno;
		if (err) {
			pr_err("cannot create %s: %s", dirs[i], strerror(-err));
			return err;
		}
	}
	/* two agents on one state dir would fight over links and maps */
	fd = open(a->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_err("cannot open %s: %s", a->state_dir, strerror(errno));
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		if (errno == EWOULDBLOCK)
			pr_err("another sluiced uses the state dir %s", a->state_dir);
		else
			pr_err("cannot lock %s: %s", a->state_dir, strerror(errno));
		close(fd);
		return err == -EWOULDBLOCK ? -EBUSY : err;
	}
	a->state_lock_fd = fd;
	/* another namespace's links look gone from here: never adopt nor unpin them */
	err = sl_state_netns_claim(a->state_dir, msg, sizeof(msg));
	if (err) {
		pr_err("%s", msg);
		return err;
	}
	drop_legacy_slots(a);
	/* an agent that stopped in the middle of an upgrade: start from what was in force */
	err = migrate_recover(a->maps_dir, a->upgrade_dir);
	if (err)
		pr_err("%s: cannot undo an interrupted upgrade: %s", a->upgrade_dir,
		       strerror(-err));
	return err;
}

static int remove_pin_dir(const char *dir, char *err, size_t errlen);

/*
 * This build's name: FNV-1a 64 of the three BPF objects the agent carries
 * (a program set holds programs of each, adopted as a whole).
 */
static void build_id(struct agent *a)
{
	const void *objs[3];
	size_t lens[3] = { 0 };
	uint64_t h = SL_FNV_INIT;

	objs[0] = sluice_xdp__elf_bytes(&lens[0]);
	objs[1] = sluice_tc__elf_bytes(&lens[1]);
	objs[2] = sluice_cgroup__elf_bytes(&lens[2]);
	for (int i = 0; i < 3; i++)
		h = sl_fnv1a(h, objs[i], lens[i]);
	snprintf(a->build, sizeof(a->build), "%016llx", (unsigned long long)h);
}

/* Close the adopted programs of the TC and cgroup objects. */
static void set_progs_close(struct agent *a)
{
	for (size_t i = 0; i < a->nset_progs; i++)
		close(a->set_progs[i].fd);
	a->nset_progs = 0;
}

/*
 * Open the pin of every program of OBJS (the TC and cgroup objects, opened
 * only) in this build's set into a->set_progs: false when one is missing.
 */
static bool set_progs_open(struct agent *a, struct bpf_object *const *objs, size_t nobjs)
{
	struct bpf_program *prog;
	char path[PATH_MAX];

	for (size_t i = 0; i < nobjs; i++) {
		bpf_object__for_each_program(prog, objs[i]) {
			struct set_prog *sp = &a->set_progs[a->nset_progs];
			const char *name = bpf_program__name(prog);

			if (a->nset_progs == SL_SET_PROGS || strlen(name) >= sizeof(sp->name) ||
			    path_join(path, sizeof(path), a->build_dir, name))
				return false;
			sp->fd = bpf_obj_get(path);
			if (sp->fd < 0)
				return false;
			memcpy(sp->name, name, strlen(name) + 1);
			a->nset_progs++;
		}
	}
	return true;
}

/*
 * The ids of the maps pinned under maps/ as this build's names (NAMES: the
 * mig table), into IDS; 0 where none is pinned.
 */
static void pinned_map_ids(const struct agent *a, const struct mig_map *names, size_t n,
			   __u32 *ids)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		struct bpf_map_info mi = {};
		__u32 len = sizeof(mi);
		int fd = path_join(path, sizeof(path), a->maps_dir, names[i].name) ? -1 :
			 bpf_obj_get(path);

		ids[i] = fd >= 0 && !bpf_obj_get_info_by_fd(fd, &mi, &len) ? mi.id : 0;
		if (fd >= 0)
			close(fd);
	}
}

/*
 * Does the program FD run on the maps pinned under maps/ (PINNED: their ids,
 * N)? Every map it uses is a pinned one or one no name of this build pins
 * (a program set's own: prog array, scratch; the internal ones). A set whose
 * maps lost their pins (a teardown cut short between unpinning the maps and
 * the programs, a pin removed by hand) runs on maps no agent writes any
 * more: adopted, the policy the agent applies into new maps would never
 * count.
 */
static bool prog_on_pinned_maps(int fd, const __u32 *pinned, size_t n)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[256];

	info.nr_map_ids = 256;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.nr_map_ids > 256)
		return false;
	for (__u32 i = 0; i < info.nr_map_ids; i++) {
		struct bpf_map_info mi = {};
		__u32 mlen = sizeof(mi);
		const struct mig_map *m;
		size_t k = 0;
		int mfd;
		bool named;

		while (k < n && pinned[k] != ids[i])
			k++;
		if (k < n)
			continue;
		mfd = bpf_map_get_fd_by_id(ids[i]);
		named = mfd >= 0 && !bpf_obj_get_info_by_fd(mfd, &mi, &mlen);
		if (mfd >= 0)
			close(mfd);
		m = named ? mig_find(mi.name) : NULL;
		if (!named || (m && m->kind != MIG_PROGRAM))
			return false;
	}
	return true;
}

/* Do the entry, tcx, every stage in TAILS and the others' programs run on the pinned maps? */
static bool set_on_pinned_maps(const struct agent *a, int entry, int tcx, int tails)
{
	size_t n;
	const struct mig_map *names = mig_table(&n);
	__u32 *pinned = calloc(n, sizeof(*pinned));
	bool ok = pinned != NULL;

	if (ok) {
		pinned_map_ids(a, names, n, pinned);
		ok = prog_on_pinned_maps(entry, pinned, n) && prog_on_pinned_maps(tcx, pinned, n);
	}
	for (__u32 i = 0; ok && i < SLUICE_TAIL_MAX; i++) {
		__u32 id;
		int fd;

		ok = !bpf_map_lookup_elem(tails, &i, &id) && (fd = bpf_prog_get_fd_by_id(id)) >= 0;
		if (ok) {
			ok = prog_on_pinned_maps(fd, pinned, n);
			close(fd);
		}
	}
	for (size_t i = 0; ok && i < a->nset_progs; i++)
		ok = prog_on_pinned_maps(a->set_progs[i].fd, pinned, n);
	free(pinned);
	return ok;
}

/*
 * Is this build's program set pinned, complete and usable? Then *ENTRY is
 * its entry program, *TCX its tcx ingress program, *TAILS its prog array,
 * and a->set_progs holds every program of OBJS (the TC and cgroup objects).
 */
static bool progs_pinned(struct agent *a, struct bpf_object *const *objs, size_t nobjs,
			 int *entry, int *tcx, int *tails)
{
	char path[PATH_MAX];
	bool others;

	*entry = *tcx = *tails = -1;
	others = set_progs_open(a, objs, nobjs);
	if (!path_join(path, sizeof(path), a->build_dir, SLUICE_MAP_TAILS))
		*tails = bpf_obj_get(path);
	if (!path_join(path, sizeof(path), a->build_dir, "sluice_xdp"))
		*entry = bpf_obj_get(path);
	if (!path_join(path, sizeof(path), a->build_dir, "sluice_tcx"))
		*tcx = bpf_obj_get(path);
	if (*tails >= 0 && *entry >= 0 && *tcx >= 0 && fw_pipeline_full(*tails) == 1 && others) {
		if (set_on_pinned_maps(a, *entry, *tcx, *tails))
			return true;
		pr_warn("%s: the pinned program set runs on maps that are no longer pinned "
			"under %s: loading it again", a->build_dir, a->maps_dir);
	} else if (*tails >= 0 || *entry >= 0 || *tcx >= 0 || a->nset_progs) {
		pr_warn("%s: the pinned program set is incomplete: loading it again",
			a->build_dir);
	}
	set_progs_close(a);
	if (*tails >= 0)
		close(*tails);
	if (*entry >= 0)
		close(*entry);
	if (*tcx >= 0)
		close(*tcx);
	*entry = *tcx = *tails = -1;
	return false;
}

/*
 * A pinned set of this build that is not adopted (incomplete, or on the
 * maps before an upgrade) may still run on links, and its prog array
 * empties itself when its pin goes: move it aside (STATE/progs/BUILD-PID)
 * until the links run the new set; loader_gc unpins it then. (No dots:
 * bpffs keeps them out of names.)
 */
static int progs_set_aside(struct agent *a)
{
	char path[PATH_MAX];
	int n;

	n = snprintf(path, sizeof(path), "%s-%d", a->build_dir, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	if (rename(a->build_dir, path)) {
		if (errno == ENOENT)
			return 0;
		n = -errno;
		pr_err("cannot move %s aside: %s", a->build_dir, strerror(errno));
		return n;
	}
	snprintf(a->progs_aside, sizeof(a->progs_aside), "%s", path);
	return 0;
}

static int pin_0600(int fd, const char *path)
{
	unlink(path);
	if (bpf_obj_pin(fd, path) || chmod(path, 0600))
		return -errno;
	return 0;
}

/* A new program set: complete before it is pinned, pinned before any link runs it. */
static int progs_pin(struct agent *a)
{
	char path[PATH_MAX];
	int err;

	err = mkdir_p(a->build_dir, 0700);
	if (!err && fw_pipeline_full(a->tails_fd) != 1)
		err = -ENOENT;
	if (!err)
		err = path_join(path, sizeof(path), a->build_dir, SLUICE_MAP_TAILS);
	if (!err)
		err = pin_0600(a->tails_fd, path);
	if (!err)
		err = path_join(path, sizeof(path), a->build_dir, "sluice_xdp");
	if (!err)
		err = pin_0600(a->entry_fd, path);
	if (!err)
		err = path_join(path, sizeof(path), a->build_dir, "sluice_tcx");
	if (!err)
		err = pin_0600(a->tcx_fd, path);
	if (err)
		pr_err("cannot pin the program set under %s: %s", a->build_dir, strerror(-err));
	return err;
}

/*
 * Compare every pinned map with this build's (migrate_plan, the three
 * objects); an upgrade that replaces maps needs a valid policy to rebuild
 * the slots.
 */
static int loader_plan(struct agent *a, struct sluice_xdp *skel)
{
	struct sluice_tc *tc = sluice_tc__open();
	struct sluice_cgroup *cg = tc ? sluice_cgroup__open() : NULL;
	struct bpf_object *objs[3] = { skel->obj, tc ? tc->obj : NULL, cg ? cg->obj : NULL };
	int err;

	if (!tc || !cg) {
		err = -errno;
		pr_err("cannot open the BPF object %s: %s", tc ? "sluice_cgroup" : "sluice_tc",
		       strerror(errno));
		sluice_tc__destroy(tc);
		return err;
	}
	err = migrate_plan(a->maps_dir, a->upgrade_dir, objs, 3, &a->mig);
	if (!err) {
		a->legacy_state = migrate_count(a->mig, NULL) > 0;
		/* a pinned set of this build runs on the maps it was loaded with, not an upgrade's */
		a->progs_adopted = !a->legacy_state &&
				   progs_pinned(a, objs + 1, 2, &a->entry_fd, &a->tcx_fd, &a->tails_fd);
		a->entry_owned = a->progs_adopted;
	}
	sluice_cgroup__destroy(cg);
	sluice_tc__destroy(tc);
	if (err)
		return err;
	if (a->legacy_state && a->policy_failed) {
		pr_err("%s: invalid policy, and the pinned maps under %s have another layout: "
		       "not starting; the firewall of the previous version stays in force as it "
		       "is (fix the policy files)", a->policy_dir, a->maps_dir);
		migrate_free(a->mig);
		a->mig = NULL;
		a->legacy_state = false;
		return -EINVAL;
	}
	return 0;
}

int loader_load(struct agent *a)
{
	struct sluice_xdp *skel;
	struct bpf_program *prog;
	char path[PATH_MAX];
	struct bpf_map *map;
	int err;

	build_id(a);
	err = path_join(a->build_dir, sizeof(a->build_dir), a->progs_dir, a->build);
	if (err)
		return err;
	skel = sluice_xdp__open();
	if (!skel) {
		err = -errno;
		pr_err("cannot open the BPF object sluice_xdp: %s", strerror(errno));
		goto fail;
	}
	a->xdp = skel;
	err = loader_plan(a, skel);
	if (err)
		goto fail;
	if (!a->progs_adopted) {
		err = progs_set_aside(a);
		if (err)
			goto fail;
	}
	bpf_object__for_each_map(map, skel->obj) {
		const char *name = bpf_map__name(map);
		const struct mig_map *m = mig_find(name);

		/* .rodata/.bss belong to one program load, never to the state */
		if (bpf_map__is_internal(map))
			continue;
		/* a program set's own: the per-packet scratch, the prog array */
		if (m->kind == MIG_PROGRAM) {
			/* adopted: the pinned set keeps its own */
			if (a->progs_adopted)
				bpf_map__set_autocreate(map, false);
			continue;
		}
		err = path_join(path, sizeof(path), a->maps_dir, name);
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			goto fail;
	}
	/* the previous pins aside: the load creates this build's maps in their place */
	err = migrate_begin(a->mig);
	if (err)
		goto fail;
	if (a->progs_adopted)
		bpf_object__for_each_program(prog, skel->obj)
			bpf_program__set_autoload(prog, false);
	err = sluice_xdp__load(skel);
	if (err) {
		pr_err("cannot load the BPF program sluice_xdp: %s (-v shows libbpf's log)",
		       strerror(-err));
		goto fail;
	}
	bpf_object__for_each_map(map, skel->obj) {
		const char *pin = bpf_map__pin_path(map);

		if (pin && chmod(pin, 0600)) {
			err = -errno;
			pr_err("cannot chmod %s: %s", pin, strerror(errno));
			goto fail;
		}
	}
	/* the maps it shares are pinned: its verifier runs beside ct_load's */
	err = egress_preload(a);
	if (err)
		goto fail;
	/* before any program of this build runs: counters are written whole */
	migrate_carry(a->mig, skel->obj, false);
	/* also fills sl_tails when this load brought programs */
	if (fw_map_fds_from_obj(skel->obj, &a->fds)) {
		pr_err("the BPF object sluice_xdp lacks a map or program of bpf/sluice_abi.h");
		err = -ENOENT;
		goto fail;
	}
	/* a state dir of a build before sl_ifslot_a: the words before any link moves */
	err = fw_ifslot_sync_array(&a->fds);
	if (err) {
		pr_err("cannot write %s: %s", SLUICE_MAP_IFSLOT_A, strerror(-err));
		goto fail;
	}
	if (a->progs_adopted) {
		pr_info("build %s: adopted the pinned program set under %s", a->build,
			a->build_dir);
	} else {
		a->entry_fd = bpf_program__fd(skel->progs.sluice_xdp);
		a->tcx_fd = bpf_program__fd(skel->progs.sluice_tcx);
		a->tails_fd = bpf_map__fd(skel->maps.sl_tails);
		err = progs_pin(a);
		if (err)
			goto fail;
		a->progs_new = true;
		pr_info("build %s: loaded a new program set, pinned under %s", a->build,
			a->build_dir);
	}
	a->rule_cnt_fd = bpf_map__fd(skel->maps.fw_rule_cnt_v2);
	a->cnt_key_fd = bpf_map__fd(skel->maps.fw_cnt_key);
	a->verdict_fd = bpf_map__fd(skel->maps.sl_verdict_v2);
	a->drop_fd = bpf_map__fd(skel->maps.sl_drop_v2);
	err = ct_load(a);
	if (!err)
		err = migrate_carry(a->mig, skel->obj, true);
	if (!err && a->tc_skel)
		err = migrate_carry(a->mig, a->tc_skel->obj, true);
	if (err)
		goto fail;
	return 0;
fail:
	loader_unload(a);
	return err;
}

int loader_prepare_obj(const struct agent *a, struct bpf_object *obj)
{
	char path[PATH_MAX];
	struct bpf_program *prog;
	struct bpf_map *map;
	int err;

	bpf_object__for_each_map(map, obj) {
		const struct mig_map *m = mig_find(bpf_map__name(map));

		if (bpf_map__is_internal(map) || !bpf_map__autocreate(map))
			continue;
		/* a program set's own (sl_scratch: each object has its own) is never pinned */
		if (m && m->kind == MIG_PROGRAM) {
			/* adopted: the pinned programs keep theirs */
			if (a->progs_adopted)
				bpf_map__set_autocreate(map, false);
			continue;
		}
		err = path_join(path, sizeof(path), a->maps_dir, bpf_map__name(map));
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
	}
	if (a->progs_adopted)
		bpf_object__for_each_program(prog, obj)
			bpf_program__set_autoload(prog, false);
	return 0;
}

int loader_pin_obj(struct agent *a, const struct bpf_object *obj)
{
	struct bpf_program *prog;
	char path[PATH_MAX];
	int err;

	if (a->progs_adopted)
		return 0;
	bpf_object__for_each_program(prog, obj) {
		err = path_join(path, sizeof(path), a->build_dir, bpf_program__name(prog));
		if (!err)
			err = pin_0600(bpf_program__fd(prog), path);
		if (err) {
			pr_err("cannot pin the program %s under %s: %s", bpf_program__name(prog),
			       a->build_dir, strerror(-err));
			return err;
		}
	}
	return 0;
}

uint32_t loader_fd_prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

int loader_prog_fd(const struct agent *a, const struct bpf_program *prog)
{
	const char *name = bpf_program__name(prog);

	if (!a->progs_adopted)
		return bpf_program__fd(prog);
	for (size_t i = 0; i < a->nset_progs; i++)
		if (!strcmp(a->set_progs[i].name, name))
			return a->set_progs[i].fd;
	return -1;
}

int loader_pick_active(struct agent *a)
{
	__u32 k, next, slot;
	struct fw_config cfg;

	a->slot = 0;
	a->in_force = false;
	a->generation = 0;
	for (int r = bpf_map_get_next_key(a->fds.ifslot, NULL, &next); !r;
	     r = bpf_map_get_next_key(a->fds.ifslot, &k, &next)) {
		k = next;
		if (bpf_map_lookup_elem(a->fds.ifslot, &k, &slot) ||
		    fw_slot_cfg(&a->fds, slot, &cfg))
			continue;
		if (cfg.active && (!a->in_force || cfg.generation > a->generation)) {
			a->slot = slot;
			a->in_force = true;
		}
		if (cfg.generation > a->generation)
			a->generation = cfg.generation;
	}
	/* a slot no interface names may be newer: a write never switched to */
	for (__u32 s = 0; s < SLUICE_POL_SLOTS; s++)
		if (!fw_slot_cfg(&a->fds, s, &cfg) && cfg.generation > a->generation)
			a->generation = cfg.generation;
	/* slots of the previous layout, rebuilt: generations go on from theirs */
	if (migrate_generation(a->mig) > a->generation)
		a->generation = migrate_generation(a->mig);
	return 0;
}

void loader_gc(struct agent *a)
{
	char path[PATH_MAX], err[256];
	struct dirent *de;
	DIR *d;

	__u32 k, next;
	int r;

	/* interfaces that have no link any more (their pins were stale) */
	for (r = bpf_map_get_next_key(a->fds.ifslot, NULL, &next); !r;
	     r = bpf_map_get_next_key(a->fds.ifslot, &k, &next)) {
		bool attached = false;

		k = next;
		for (size_t i = 0; i < a->nifaces && !attached; i++)
			attached = (__u32)a->ifaces[i].ifindex == k;
		if (!attached && k != SLUICE_IFSLOT_DEFAULT)
			fw_ifslot_del(&a->fds, k);
	}
	/* policy slots no interface runs: leftovers of a crash or of the last apply */
	for (__u32 s = 0; s < SLUICE_POL_SLOTS; s++)
		if (fw_slot_used(&a->fds, s) && !fw_ifslot_refers(&a->fds, s) &&
		    !egress_holds_slot(a, s))
			fw_slot_clear(&a->fds, s);
	/* program sets of other builds: no link runs them any more */
	d = opendir(a->progs_dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, a->build))
			continue;
		if (path_join(path, sizeof(path), a->progs_dir, de->d_name))
			continue;
		if (remove_pin_dir(path, err, sizeof(err)))
			pr_warn("%s", err);
		else
			pr_info("unpinned the program set of build %s", de->d_name);
	}
	closedir(d);
}

int loader_carry_rules(struct agent *a)
{
	size_t n = a->have_policy ? policy_nrules(&a->pol) : 0, k = 0;
	uint32_t *ids = calloc(n + 1, sizeof(*ids));
	int err;

	if (!ids)
		return -ENOMEM;
	/* the order of the release before counter ids: the sections one after the other */
	for (size_t s = 0; a->have_policy && s < a->pol.nfws; s++)
		for (size_t i = 0; i < a->pol.fws[s].nrules; i++)
			ids[k++] = rules_counter(a, s, i);
	err = migrate_carry_rules(a->mig, ids, k);
	free(ids);
	return err;
}

void loader_commit(struct agent *a)
{
	migrate_commit(a->mig);
	a->mig = NULL;
	a->legacy_state = false;
}

void loader_unload(struct agent *a)
{
	egress_preload_wait(a);
	/*
	 * A start that failed before every link ran this build: the previous
	 * maps again, and no program set of this build on maps no pin holds.
	 */
	if (migrate_count(a->mig, NULL)) {
		if (a->progs_new && remove_pin_dir(a->build_dir, NULL, 0))
			pr_warn("cannot unpin %s", a->build_dir);
		if (a->progs_aside[0] && rename(a->progs_aside, a->build_dir))
			pr_warn("cannot put %s back: %s", a->progs_aside, strerror(errno));
	}
	a->progs_aside[0] = '\0';
	migrate_rollback(a->mig);
	a->mig = NULL;
	a->legacy_state = false;
	ct_unload(a);
	sluice_xdp__destroy(a->xdp);
	a->xdp = NULL;
	if (a->entry_owned) {
		close(a->entry_fd);
		close(a->tcx_fd);
		close(a->tails_fd);
	}
	a->entry_fd = a->tcx_fd = a->tails_fd = -1;
	a->entry_owned = false;
	set_progs_close(a);
}

/* Unlink every entry of DIR (pins only: bpffs holds nothing else), then DIR. */
static int remove_pin_dir(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ret = 0;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", dir, strerror(errno));
		return ret;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (path_join(path, sizeof(path), dir, de->d_name))
			continue;
		if (unlink(path) && errno != ENOENT && !ret) {
			ret = -errno;
			snprintf(err, errlen, "cannot unpin %s: %s", path, strerror(errno));
		}
	}
	closedir(d);
	if (!ret && rmdir(dir) && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", dir, strerror(errno));
	}
	return ret;
}

int loader_remove_state(struct agent *a, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ret;
	DIR *d;

	/*
	 * The program sets before the maps: a teardown cut short in between
	 * leaves maps a next agent loads new programs on, never programs on
	 * maps that lost their pins (which a next agent would not adopt either).
	 */
	ret = remove_pin_dir(a->links_dir, err, errlen);
	d = ret ? NULL : opendir(a->progs_dir);
	while (d && !ret && (de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    path_join(path, sizeof(path), a->progs_dir, de->d_name))
			continue;
		ret = remove_pin_dir(path, err, errlen);
	}
	if (d)
		closedir(d);
	if (!ret && rmdir(a->progs_dir) && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", a->progs_dir, strerror(errno));
	}
	if (!ret)
		ret = remove_pin_dir(a->maps_dir, err, errlen);
	if (!ret)
		ret = remove_pin_dir(a->upgrade_dir, err, errlen);
	/* the namespace's claim on the dir (statedir.h) goes last, with the dir */
	if (!ret && !path_join(path, sizeof(path), a->state_dir, SL_STATE_NETNS_PIN) &&
	    unlink(path) && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "cannot unpin %s: %s", path, strerror(errno));
	}
	if (!ret && rmdir(a->state_dir) && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", a->state_dir, strerror(errno));
	}
	return ret;
}
