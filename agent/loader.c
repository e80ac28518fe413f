// SPDX-License-Identifier: GPL-2.0-only
/*
 * The BPF side of the agent: bpffs, the state dir layout
 *   STATE/maps/NAME         every map of sluice_xdp (0600)
 *   STATE/links/xdp_IFINDEX one bpf_link per attached interface (0600)
 * and the skeleton. Maps get their pin path before load, so libbpf reuses
 * the maps a previous agent pinned: a restart keeps the policy in force and
 * the counters, and never opens the firewall.
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
		    (int)sizeof(a->links_dir)) {
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

bool loader_state_in_force(const struct agent *a)
{
	struct fw_config cfg = {};
	char path[PATH_MAX];
	__u32 key = 0;
	int fd;
	bool active;

	if (path_join(path, sizeof(path), a->maps_dir, SLUICE_MAP_FW_CFG))
		return false;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	/* a pinned but never written fw_cfg passes every packet: nothing to keep */
	active = !bpf_map_lookup_elem(fd, &key, &cfg) && cfg.active;
	close(fd);
	return active;
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
	const char *dirs[] = { a->state_dir, a->maps_dir, a->links_dir };
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

static int map_fd(struct agent *a, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(a->skel->obj, name);

	return map ? bpf_map__fd(map) : -1;
}

int loader_load(struct agent *a)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int err;

	a->skel = sluice_xdp__open();
	if (!a->skel) {
		err = -errno;
		pr_err("cannot open the BPF object sluice_xdp: %s", strerror(errno));
		return err;
	}
	bpf_object__for_each_map(map, a->skel->obj) {
		/* .rodata/.bss belong to one program load, never to the state */
		if (bpf_map__is_internal(map))
			continue;
		err = path_join(path, sizeof(path), a->maps_dir, bpf_map__name(map));
		if (!err)
			err = check_pinned_map(map, path);
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			goto fail;
	}
	err = sluice_xdp__load(a->skel);
	if (err) {
		pr_err("cannot load the BPF program sluice_xdp: %s (-v shows libbpf's log)",
		       strerror(-err));
		goto fail;
	}
	bpf_object__for_each_map(map, a->skel->obj) {
		const char *pin = bpf_map__pin_path(map);

		if (pin && chmod(pin, 0600)) {
			err = -errno;
			pr_err("cannot chmod %s: %s", pin, strerror(errno));
			goto fail;
		}
	}

	a->prog_fd = bpf_program__fd(a->skel->progs.sluice_xdp);
	a->fds.cfg = map_fd(a, SLUICE_MAP_FW_CFG);
	a->fds.cls = map_fd(a, SLUICE_MAP_FW_CLS);
	a->fds.src4 = map_fd(a, SLUICE_MAP_FW_SRC4);
	a->fds.dst4 = map_fd(a, SLUICE_MAP_FW_DST4);
	a->fds.src4_t8 = map_fd(a, SLUICE_MAP_FW_SRC4_T8);
	a->fds.dst4_t8 = map_fd(a, SLUICE_MAP_FW_DST4_T8);
	a->fds.src6 = map_fd(a, SLUICE_MAP_FW_SRC6);
	a->fds.dst6 = map_fd(a, SLUICE_MAP_FW_DST6);
	a->fds.sport = map_fd(a, SLUICE_MAP_FW_SPORT);
	a->fds.dport = map_fd(a, SLUICE_MAP_FW_DPORT);
	a->rule_cnt_fd = map_fd(a, SLUICE_MAP_RULE_CNT);
	a->verdict_fd = map_fd(a, SLUICE_MAP_VERDICT);
	a->drop_fd = map_fd(a, SLUICE_MAP_DROP);
	if (a->prog_fd < 0 || a->fds.cfg < 0 || a->fds.cls < 0 || a->fds.src4 < 0 ||
	    a->fds.dst4 < 0 || a->fds.src4_t8 < 0 || a->fds.dst4_t8 < 0 || a->fds.src6 < 0 ||
	    a->fds.dst6 < 0 || a->fds.sport < 0 || a->fds.dport < 0 || a->rule_cnt_fd < 0 ||
	    a->verdict_fd < 0 || a->drop_fd < 0) {
		pr_err("the BPF object sluice_xdp lacks a map or program of bpf/sluice_abi.h");
		err = -ENOENT;
		goto fail;
	}
	return 0;
fail:
	loader_unload(a);
	return err;
}

int loader_read_cfg(const struct agent *a, uint64_t *generation, bool *active)
{
	struct fw_config cfg;
	__u32 key = 0;
	int err;

	if (bpf_map_lookup_elem(a->fds.cfg, &key, &cfg)) {
		err = -errno;
		pr_err("cannot read %s: %s", SLUICE_MAP_FW_CFG, strerror(errno));
		return err;
	}
	*generation = cfg.generation;
	*active = cfg.active;
	return 0;
}

void loader_unload(struct agent *a)
{
	sluice_xdp__destroy(a->skel);
	a->skel = NULL;
	a->prog_fd = -1;
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
	if (!ret && rmdir(a->state_dir) && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", a->state_dir, strerror(errno));
	}
	return ret;
}
