// SPDX-License-Identifier: GPL-2.0-only
/*
 * The BPF side of the agent: bpffs, the state dir layout
 *   STATE/maps/NAME         maps both slots share: the counters (0600)
 *   STATE/slots/N/NAME      the firewall tables of slot N (fw_cfg, fw_cls, ...)
 *   STATE/links/xdp_IFINDEX one bpf_link per attached interface (0600)
 * and the skeleton, opened once per slot. Maps get their pin path before
 * load, so libbpf reuses the maps a previous agent pinned: a restart keeps
 * the policy in force and the counters, and never opens the firewall.
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

#include "sluice_xdp.skel.h"

#include "agent.h"
#include "conntrack.h"
#include "fw_maps.h"
#include "loader.h"
#include "log.h"

#define BPFFS_DIR "/sys/fs/bpf"

int loader_paths(struct agent *a)
{
	/* room for the pin names under maps/ and links/ */
	if (strlen(a->state_dir) > PATH_MAX - 64 ||
	    snprintf(a->maps_dir, sizeof(a->maps_dir), "%s/maps", a->state_dir) >=
		    (int)sizeof(a->maps_dir) ||
	    snprintf(a->links_dir, sizeof(a->links_dir), "%s/links", a->state_dir) >=
		    (int)sizeof(a->links_dir) ||
	    snprintf(a->slots_dir, sizeof(a->slots_dir), "%s/slots", a->state_dir) >=
		    (int)sizeof(a->slots_dir)) {
		pr_err("state dir %s: path too long", a->state_dir);
		return -ENAMETOOLONG;
	}
	for (int i = 0; i < SLUICE_SLOTS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "%d", i);
		if (path_join(a->slots[i].dir, sizeof(a->slots[i].dir), a->slots_dir, name))
			return -ENAMETOOLONG;
	}
	return 0;
}

/* The firewall tables: one set per slot. Every other map is shared. */
static bool map_per_slot(const char *name)
{
	static const char *const names[] = {
		SLUICE_MAP_FW_CFG, SLUICE_MAP_FW_CLS, SLUICE_MAP_FW_SRC4, SLUICE_MAP_FW_DST4,
		SLUICE_MAP_FW_SRC4_T8, SLUICE_MAP_FW_DST4_T8, SLUICE_MAP_FW_SRC6,
		SLUICE_MAP_FW_DST6, SLUICE_MAP_FW_SPORT, SLUICE_MAP_FW_DPORT,
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

int path_join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool loader_state_in_force(const struct agent *a)
{
	for (int i = 0; i < SLUICE_SLOTS; i++) {
		struct fw_config cfg = {};
		char path[PATH_MAX];
		__u32 key = 0;
		bool active;
		int fd;

		if (path_join(path, sizeof(path), a->slots[i].dir, SLUICE_MAP_FW_CFG))
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		/* a pinned but never written fw_cfg passes every packet: nothing to keep */
		active = !bpf_map_lookup_elem(fd, &key, &cfg) && cfg.active;
		close(fd);
		if (active)
			return true;
	}
	return false;
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

int loader_prepare_state(struct agent *a)
{
	const char *dirs[] = { a->state_dir, a->maps_dir, a->links_dir, a->slots_dir,
			       a->slots[0].dir, a->slots[1].dir };
	int err, fd;

	err = ensure_bpffs(a->state_dir);
	if (err)
		return err;
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
	return 0;
}

/*
 * libbpf refuses a pinned map whose layout differs, with a message only -v
 * shows; say here which map and what to do.
 */
static int check_pinned_map(struct bpf_map *map, const char *path)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd, err = 0;

	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		pr_err("cannot open the pinned map %s: %s", path, strerror(errno));
		return err;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		pr_err("%s: not a BPF map: %s", path, strerror(errno));
	} else if (info.type != bpf_map__type(map) ||
		   info.key_size != bpf_map__key_size(map) ||
		   info.value_size != bpf_map__value_size(map) ||
		   info.max_entries != bpf_map__max_entries(map) ||
		   info.map_flags != bpf_map__map_flags(map)) {
		pr_err("%s: the pinned map has another layout than this sluiced expects "
		       "(type %u key %u value %u entries %u flags %#x, expected %u/%u/%u/%u/%#x); "
		       "remove the old state with 'sluice teardown'", path, info.type,
		       info.key_size, info.value_size, info.max_entries, info.map_flags,
		       bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map),
		       bpf_map__max_entries(map), bpf_map__map_flags(map));
		err = -EEXIST;
	}
	close(fd);
	return err;
}

static int map_fd(struct sluice_xdp *skel, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(skel->obj, name);

	return map ? bpf_map__fd(map) : -1;
}

static int load_slot(struct agent *a, int idx)
{
	struct slot *sl = &a->slots[idx];
	struct sluice_xdp *skel;
	char path[PATH_MAX];
	struct bpf_map *map;
	int err;

	skel = sluice_xdp__open();
	if (!skel) {
		err = -errno;
		pr_err("cannot open the BPF object sluice_xdp: %s", strerror(errno));
		return err;
	}
	sl->skel = skel;
	bpf_object__for_each_map(map, skel->obj) {
		const char *name = bpf_map__name(map);

		/* .rodata/.bss belong to one program load, never to the state */
		if (bpf_map__is_internal(map))
			continue;
		err = path_join(path, sizeof(path),
				map_per_slot(name) ? sl->dir : a->maps_dir, name);
		if (!err)
			err = check_pinned_map(map, path);
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
	}
	err = sluice_xdp__load(skel);
	if (err) {
		pr_err("cannot load the BPF program sluice_xdp: %s (-v shows libbpf's log)",
		       strerror(-err));
		return err;
	}
	bpf_object__for_each_map(map, skel->obj) {
		const char *pin = bpf_map__pin_path(map);

		if (pin && chmod(pin, 0600)) {
			err = -errno;
			pr_err("cannot chmod %s: %s", pin, strerror(errno));
			return err;
		}
	}
	sl->prog_fd = bpf_program__fd(skel->progs.sluice_xdp);
	if (sl->prog_fd < 0 || fw_map_fds_from_obj(skel->obj, &sl->fds)) {
		pr_err("the BPF object sluice_xdp lacks a map or program of bpf/sluice_abi.h");
		return -ENOENT;
	}
	return 0;
}

int loader_load(struct agent *a)
{
	struct sluice_xdp *skel;
	int err = 0;

	for (int i = 0; i < SLUICE_SLOTS && !err; i++)
		err = load_slot(a, i);
	if (err)
		goto fail;
	/* the counters are pinned once and shared: any slot's fds will do */
	skel = a->slots[0].skel;
	a->rule_cnt_fd = map_fd(skel, SLUICE_MAP_RULE_CNT);
	a->verdict_fd = map_fd(skel, SLUICE_MAP_VERDICT);
	a->drop_fd = map_fd(skel, SLUICE_MAP_DROP);
	if (a->rule_cnt_fd < 0 || a->verdict_fd < 0 || a->drop_fd < 0) {
		pr_err("the BPF object sluice_xdp lacks a counter map of bpf/sluice_abi.h");
		err = -ENOENT;
		goto fail;
	}
	err = ct_load(a);
	if (err)
		goto fail;
	return 0;
fail:
	loader_unload(a);
	return err;
}

int loader_pick_active(struct agent *a)
{
	struct fw_config cfg;
	__u32 key = 0;
	int err;

	a->active = 0;
	a->in_force = false;
	a->generation = 0;
	for (int i = 0; i < SLUICE_SLOTS; i++) {
		if (bpf_map_lookup_elem(a->slots[i].fds.cfg, &key, &cfg)) {
			err = -errno;
			pr_err("cannot read %s of slot %d: %s", SLUICE_MAP_FW_CFG, i,
			       strerror(errno));
			return err;
		}
		/*
		 * fw_cfg is written last: a slot whose write failed half way
		 * still shows its older generation, and loses here.
		 */
		if (cfg.active && (!a->in_force || cfg.generation > a->generation)) {
			a->active = i;
			a->in_force = true;
		}
		if (cfg.generation > a->generation)
			a->generation = cfg.generation;
	}
	return 0;
}

void loader_unload(struct agent *a)
{
	ct_unload(a);
	for (int i = 0; i < SLUICE_SLOTS; i++) {
		sluice_xdp__destroy(a->slots[i].skel);
		a->slots[i].skel = NULL;
		a->slots[i].prog_fd = -1;
	}
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
	int ret;

	ret = remove_pin_dir(a->links_dir, err, errlen);
	if (!ret)
		ret = remove_pin_dir(a->maps_dir, err, errlen);
	for (int i = 0; i < SLUICE_SLOTS && !ret; i++)
		ret = remove_pin_dir(a->slots[i].dir, err, errlen);
	if (!ret && rmdir(a->slots_dir) && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", a->slots_dir, strerror(errno));
	}
	if (!ret && rmdir(a->state_dir) && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", a->state_dir, strerror(errno));
	}
	return ret;
}
