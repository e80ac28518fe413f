// SPDX-License-Identifier: GPL-2.0-only
/*
 * The managed cgroups: one pinned bpf_link per cgroup and hook, and the
 * watcher that follows cgroups appearing and going.
 *
 * A cgroup's links are pinned at STATE/links/eg_ID_HOOK (ID: the cgroup
 * id), so they outlive the agent (SIGKILL included) and keep every socket
 * of the cgroup and its descendants judged; the next agent adopts them and
 * moves them to its own programs with bpf_link_update, never detaching.
 *
 * A cgroup that does not exist yet, or that goes, is followed with inotify
 * on the parent of the cgroup dir, or on its nearest existing ancestor
 * (cgroupfs reports mkdir and rmdir like any filesystem), from the agent's
 * epoll loop: on any change every entry is resolved again. A cgroup that
 * appears gets its eg_cg word (its entry's slot) and then its links, within
 * milliseconds; one that goes is waited for again, and loses both once
 * the kernel has let it go: a removed cgroup is kept, its programs attached,
 * while a socket made in it lives on (eg_remnant), and such a socket stays
 * judged as long; the agent's audit (egress_audit) looks each second.
 *
 * Such a cgroup has no path any more: beside its links, a record
 * (STATE/links/eg_ID_cgroup, written before the first link is pinned)
 * names the path of its entry's cgroup, and ties the links back to that
 * entry when a next agent adopts them (a restart, SIGKILL included, or the
 * cgroup removed while no agent ran).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "egress_int.h"
#include "loader.h"
#include "log.h"

#define CGW_MASK	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | \
			 IN_MOVE_SELF | IN_ONLYDIR)
#define CGW_ROUNDS	8	/* re-resolve after setting watches, for what changed meanwhile */
#define REC_NAME	"cgroup"	/* eg_ID_cgroup: the record of cgroup ID */
#define REC_TMP_NAME	"cgroup_new"	/* the record being written, renamed over it */

/* The cgroup id (the kernfs node id, what bpf sees) of the dir open at FD; 0: none. */
static uint64_t id_of_fd(int fd)
{
	struct {
		struct file_handle fh;
		unsigned char id[8];
	} h = { .fh.handle_bytes = 8 };
	struct statfs sf;
	uint64_t id;
	int mount_id;

	if (fstatfs(fd, &sf) || sf.f_type != CGROUP2_SUPER_MAGIC)
		return 0;
	if (name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH) ||
	    h.fh.handle_bytes != 8)
		return 0;
	memcpy(&id, h.fh.f_handle, 8);
	return id;
}

uint64_t cgw_id_of(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint64_t id;

	if (fd < 0)
		return 0;
	id = id_of_fd(fd);
	close(fd);
	return id;
}

static void link_pin(const struct agent *a, uint64_t id, enum eg_hook h, char *buf, size_t len)
{
	if (eg_pin_path(a, buf, len, "eg_%llu_%s", (unsigned long long)id, eg_hook_names[h]))
		buf[0] = '\0';
}

/* Move link FD of hook H to this agent's program (atomic); false when it cannot. */
static bool link_move(struct agent *a, int fd, enum eg_hook h)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
	    info.prog_id == loader_fd_prog_id(a->eg->prog_fds[h]))
		return true;
	if (bpf_link_update(fd, a->eg->prog_fds[h], NULL)) {
		pr_err("egress: cannot move a pinned %s link to the new program: %s; the "
		       "previous program stays attached", eg_hook_names[h], strerror(errno));
		return false;
	}
	return true;
}

/*
 * Is one of LINKS still attached? The kernel detaches a removed cgroup's
 * links once nothing holds the cgroup any more (its last socket closed):
 * their cgroup id reads 0 from then on.
 */
static bool links_attached(const int *links)
{
	for (int h = 0; h < EGH_MAX; h++) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);

		if (links[h] >= 0 && !bpf_obj_get_info_by_fd(links[h], &info, &len) &&
		    info.cgroup.cgroup_id)
			return true;
	}
	return false;
}

/* ---- records: the entry a cgroup's links belong to ---- */

/*
 * The record of cgroup ID is a symlink whose target is the path of its
 * entry's cgroup: bpffs takes pins, dirs and symlinks but no regular file.
 * It is made under a temporary name and renamed over the previous one, so
 * a reader sees a whole record or the one before; it is never followed,
 * only read (readlink), and links/ is the agent's (0700).
 */
static int record_pin(const struct agent *a, uint64_t id, bool tmp, char *buf, size_t len)
{
	return eg_pin_path(a, buf, len, "eg_%llu_%s", (unsigned long long)id,
			   tmp ? REC_TMP_NAME : REC_NAME);
}

/*
 * The record of cgroup ID, a path, into BUF (LEN): 0, or -errno and *WHY
 * says what is wrong with it (none, not a symlink, too long, not a path).
 */
static int record_read(const struct agent *a, uint64_t id, char *buf, size_t len,
		       const char **why)
{
	char pin[PATH_MAX];
	ssize_t n;

	if (record_pin(a, id, false, pin, sizeof(pin))) {
		*why = "its name is too long";
		return -ENAMETOOLONG;
	}
	n = readlink(pin, buf, len);
	if (n < 0) {
		int err = -errno;

		*why = errno == ENOENT ? "there is none" :
		       errno == EINVAL ? "it is not a symlink" : strerror(errno);
		return err;
	}
	if ((size_t)n >= len) {
		*why = "it is too long for a path";
		return -ENAMETOOLONG;
	}
	buf[n] = '\0';
	if (buf[0] != '/') {
		*why = "it is not an absolute path";
		return -EINVAL;
	}
	for (ssize_t i = 0; i < n; i++) {
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			*why = "it holds control characters";
			return -EINVAL;
		}
	}
	return 0;
}

/* Make the record of CG's cgroup (CG->id) name CG's path, unless it does already. */
static void record_write(struct agent *a, const struct eg_cgroup *cg)
{
	char pin[PATH_MAX], tmp[PATH_MAX], cur[PATH_MAX];
	const char *why;

	if (!record_read(a, cg->id, cur, sizeof(cur), &why) && !strcmp(cur, cg->path))
		return;
	if (record_pin(a, cg->id, false, pin, sizeof(pin)) ||
	    record_pin(a, cg->id, true, tmp, sizeof(tmp))) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	if (unlink(tmp) && errno != ENOENT)
		goto fail;
	if (symlink(cg->path, tmp) || rename(tmp, pin)) {
		int err = errno;

		unlink(tmp);
		errno = err;
		goto fail;
	}
	return;
fail:
	pr_err("egress: %s: cannot record the entry of cgroup id %llu: %s; were it removed "
	       "while sockets made in it live on, a next agent would not judge them",
	       cg->path, (unsigned long long)cg->id, strerror(errno));
}

static void record_drop(struct agent *a, uint64_t id)
{
	char pin[PATH_MAX];

	if (!record_pin(a, id, false, pin, sizeof(pin)) && unlink(pin) && errno != ENOENT)
		pr_warn("cannot remove %s: %s", pin, strerror(errno));
}

/* ---- adoption ---- */

static void adopt_one(struct agent *a, const char *path, uint64_t id, enum eg_hook h)
{
	struct agent_egress *eg = a->eg;
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	const char *why = NULL;
	struct eg_adopted *v;
	int fd;

	fd = bpf_obj_get(path);
	if (fd < 0) {
		pr_warn("cannot open the pinned link %s: %s; unpinning it", path, strerror(errno));
		unlink(path);
		return;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_LINK_TYPE_CGROUP)
		why = "not a cgroup link";
	else if (!info.cgroup.cgroup_id)
		why = "its cgroup is gone";
	else if (info.cgroup.cgroup_id != id || info.cgroup.attach_type != eg_hook_types[h])
		why = "it is not the link its name says";
	if (why) {
		pr_info("unpinning the stale link %s: %s", path, why);
		unlink(path);
		close(fd);
		return;
	}
	/*
	 * An upgrade: the previous hooks keep the maps they were loaded with
	 * (STATE/upgrade/) until this build's hold the policy
	 * (egress_move_pending); a hook never runs on maps not written yet.
	 */
	if (!a->legacy_state)
		link_move(a, fd, h);
	v = realloc(eg->adopted, (eg->nadopted + 1) * sizeof(*v));
	if (!v) {
		close(fd);
		return;
	}
	eg->adopted = v;
	v[eg->nadopted++] = (struct eg_adopted){ .id = id, .hook = h, .fd = fd };
}

int cgw_move_pending(struct agent *a)
{
	struct agent_egress *eg = a->eg;
	size_t n = 0, failed = 0;

	for (size_t i = 0; i < eg->ncgs; i++)
		for (int h = 0; h < EGH_MAX; h++)
			if (eg->cgs[i].links[h] >= 0) {
				failed += !link_move(a, eg->cgs[i].links[h], h);
				n++;
			}
	for (size_t i = 0; i < eg->ncgs; i++)
		for (size_t r = 0; r < eg->cgs[i].nrem; r++)
			for (int h = 0; h < EGH_MAX; h++)
				if (eg->cgs[i].rem[r].links[h] >= 0) {
					failed += !link_move(a, eg->cgs[i].rem[r].links[h], h);
					n++;
				}
	for (size_t i = 0; i < eg->nadopted; i++) {
		failed += !link_move(a, eg->adopted[i].fd, eg->adopted[i].hook);
		n++;
	}
	if (n)
		pr_info("egress: %zu cgroup links moved to this build's hooks%s", n - failed,
			failed ? "; some keep the previous hooks and policy" : "");
	return failed ? -EIO : 0;
}

static bool adopted_has(const struct agent_egress *eg, uint64_t id)
{
	for (size_t i = 0; i < eg->nadopted; i++)
		if (eg->adopted[i].id == id)
			return true;
	return false;
}

/*
 * The record at PATH of cgroup ID, once the links are adopted: kept when
 * it names a path and a link of ID was adopted, removed when none was (the
 * kernel let the cgroup go). One that cannot be read is left and said:
 * the links of ID are then those of no entry unless their cgroup is still
 * an entry's, as before records were written.
 */
static void record_adopt(struct agent *a, const char *path, uint64_t id)
{
	struct agent_egress *eg = a->eg;
	char buf[PATH_MAX];
	struct eg_record *v;
	const char *why;
	char *s;

	if (!adopted_has(eg, id)) {
		pr_info("egress: removing the record %s: no link of cgroup id %llu is left",
			path, (unsigned long long)id);
		if (unlink(path) && errno != ENOENT)
			pr_warn("cannot remove %s: %s", path, strerror(errno));
		return;
	}
	if (record_read(a, id, buf, sizeof(buf), &why)) {
		pr_warn("egress: the record %s is not used: %s; if cgroup id %llu was removed, "
			"its links are detached (sockets made in it are judged by no entry)",
			path, why, (unsigned long long)id);
		return;
	}
	s = strdup(buf);
	v = s ? realloc(eg->records, (eg->nrecords + 1) * sizeof(*v)) : NULL;
	if (!v) {
		free(s);
		pr_err("egress: out of memory reading %s", path);
		return;
	}
	eg->records = v;
	v[eg->nrecords++] = (struct eg_record){ .id = id, .path = s };
}

static bool record_known(const struct agent_egress *eg, uint64_t id)
{
	for (size_t r = 0; r < eg->nrecords; r++)
		if (eg->records[r].id == id)
			return true;
	return false;
}

/* Say which adopted cgroups have no record (an earlier build pinned them, or it went). */
static void records_missing(struct agent *a)
{
	const struct agent_egress *eg = a->eg;
	char pin[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < eg->nadopted; i++) {
		uint64_t id = eg->adopted[i].id;
		bool first = true;

		for (size_t k = 0; k < i && first; k++)
			first = eg->adopted[k].id != id;
		/* one there that cannot be used was said by record_adopt */
		if (!first || record_known(eg, id) || record_pin(a, id, false, pin, sizeof(pin)) ||
		    !lstat(pin, &st))
			continue;
		pr_warn("egress: the links of cgroup id %llu have no record (%s); if that cgroup "
			"was removed, they are detached (sockets made in it are judged by no entry)",
			(unsigned long long)id, pin);
	}
}

static void records_free(struct agent_egress *eg)
{
	for (size_t r = 0; r < eg->nrecords; r++)
		free(eg->records[r].path);
	free(eg->records);
	eg->records = NULL;
	eg->nrecords = 0;
}

/* Is NAME "eg_ID_SUFFIX" (ID into *ID) for SUFFIX? */
static bool pin_is(const char *name, const char *suffix, unsigned long long *id)
{
	int n = 0;

	return sscanf(name, "eg_%llu_%n", id, &n) == 1 && n && !strcmp(name + n, suffix);
}

int cgw_adopt(struct agent *a)
{
	char path[PATH_MAX], hook[16];
	unsigned long long id;
	struct dirent *de;
	DIR *d;
	int n;

	d = opendir(a->links_dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		int h;

		if (strncmp(de->d_name, "eg_", 3) ||
		    path_join(path, sizeof(path), a->links_dir, de->d_name))
			continue;
		/* records once every link is known */
		if (pin_is(de->d_name, REC_NAME, &id))
			continue;
		if (pin_is(de->d_name, REC_TMP_NAME, &id)) {
			pr_info("egress: removing %s, a record a previous agent left half-written",
				path);
			unlink(path);
			continue;
		}
		if (sscanf(de->d_name, "eg_%llu_%15[a-z0-9]%n", &id, hook, &n) != 2 ||
		    de->d_name[n]) {
			pr_warn("%s: not a pin of sluiced; leaving it", path);
			continue;
		}
		for (h = 0; h < EGH_MAX && strcmp(hook, eg_hook_names[h]); h++)
			;
		if (h == EGH_MAX) {
			pr_warn("%s: unknown hook \"%s\"; leaving it", path, hook);
			continue;
		}
		adopt_one(a, path, id, h);
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		if (pin_is(de->d_name, REC_NAME, &id) &&
		    !path_join(path, sizeof(path), a->links_dir, de->d_name))
			record_adopt(a, path, id);
	}
	closedir(d);
	records_missing(a);
	if (a->eg->nadopted)
		pr_info("egress: adopted %zu pinned cgroup links", a->eg->nadopted);
	return 0;
}

uint64_t cgw_adopted_removed(const struct agent *a, const char *path, uint64_t live, size_t *k)
{
	const struct agent_egress *eg = a->eg;

	while (*k < eg->nrecords) {
		const struct eg_record *rec = &eg->records[(*k)++];

		if (rec->id != live && !strcmp(rec->path, path) && adopted_has(eg, rec->id))
			return rec->id;
	}
	return 0;
}

/* Take the adopted link of (ID, H), if a previous agent left one: its fd or -1. */
static int adopted_take(struct agent_egress *eg, uint64_t id, enum eg_hook h)
{
	for (size_t i = 0; i < eg->nadopted; i++) {
		if (eg->adopted[i].id != id || eg->adopted[i].hook != h)
			continue;
		int fd = eg->adopted[i].fd;

		eg->adopted[i] = eg->adopted[--eg->nadopted];
		return fd;
	}
	return -1;
}

/* ---- one cgroup ---- */

/* Give CG (it exists: CG->id) a link per hook, adopted or new, and its record first. */
static void cg_attach(struct agent *a, struct eg_cgroup *cg)
{
	char path[PATH_MAX];
	int dfd = -1, n = 0;

	record_write(a, cg);
	for (int h = 0; h < EGH_MAX; h++) {
		int fd;

		if (cg->links[h] >= 0)
			continue;
		fd = adopted_take(a->eg, cg->id, h);
		if (fd >= 0) {
			cg->links[h] = fd;
			continue;
		}
		if (dfd < 0) {
			dfd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			/* gone or another cgroup by now: the watcher sees it next */
			if (dfd < 0 || id_of_fd(dfd) != cg->id)
				break;
		}
		fd = bpf_link_create(a->eg->prog_fds[h], dfd, eg_hook_types[h], NULL);
		if (fd < 0) {
			pr_err("egress: %s: cannot attach %s: %s", cg->path, eg_hook_names[h],
			       strerror(errno));
			continue;
		}
		link_pin(a, cg->id, h, path, sizeof(path));
		if (!path[0] || eg_pin(fd, path)) {
			pr_err("egress: %s: cannot pin the %s link at %s: %s", cg->path,
			       eg_hook_names[h], path, strerror(errno));
			/* an unpinned link would vanish with the agent: do not keep it */
			bpf_link_detach(fd);
			close(fd);
			continue;
		}
		cg->links[h] = fd;
		n++;
	}
	if (dfd >= 0)
		close(dfd);
	if (n)
		pr_info("egress: %s (cgroup id %llu): %d hooks attached, pinned as eg_%llu_*",
			cg->path, (unsigned long long)cg->id, n, (unsigned long long)cg->id);
}

/*
 * Close (DETACH: and detach) the LINKS of cgroup ID (at PATH), unpin them,
 * drop its word and its record.
 */
static void links_forget(struct agent *a, const char *path, uint64_t id, int *links, bool detach)
{
	char pin[PATH_MAX];

	for (int h = 0; h < EGH_MAX; h++) {
		if (links[h] < 0)
			continue;
		if (detach && bpf_link_detach(links[h]) && errno != ENOLINK && errno != EINVAL)
			pr_warn("egress: %s: cannot detach %s: %s", path, eg_hook_names[h],
				strerror(errno));
		close(links[h]);
		links[h] = -1;
		link_pin(a, id, h, pin, sizeof(pin));
		if (pin[0] && unlink(pin) && errno != ENOENT)
			pr_warn("cannot unpin %s: %s", pin, strerror(errno));
	}
	if (id) {
		eg_cg_delete(a, id);
		record_drop(a, id);
	}
}

/* Forget CG's removed cgroups the kernel kept; ALL: also those it still keeps. */
static void remnants_forget(struct agent *a, struct eg_cgroup *cg, bool all)
{
	for (size_t r = 0; r < cg->nrem;) {
		struct eg_remnant *rm = &cg->rem[r];

		if (!all && links_attached(rm->links)) {
			r++;
			continue;
		}
		if (!all)
			pr_info("egress: %s (removed, cgroup id %llu): its last socket is closed: "
				"forgotten", cg->path, (unsigned long long)rm->id);
		links_forget(a, cg->path, rm->id, rm->links, true);
		*rm = cg->rem[--cg->nrem];
	}
	if (!cg->nrem) {
		free(cg->rem);
		cg->rem = NULL;
	}
}

/* Close (DETACH: and detach) CG's links, unpin them, drop its eg_cg word. */
static void cg_forget(struct agent *a, struct eg_cgroup *cg, bool detach)
{
	links_forget(a, cg->path, cg->id, cg->links, detach);
	cg->id = 0;
}

void cgw_audit(struct agent *a)
{
	for (size_t i = 0; i < a->eg->ncgs; i++)
		remnants_forget(a, &a->eg->cgs[i], false);
}

/*
 * CG's cgroup was removed: if the kernel keeps it (sockets made in it live
 * on, its links still attached), its links and word stay as a remnant until
 * the last of those sockets is closed; else it is forgotten.
 */
static void cg_removed(struct agent *a, size_t i)
{
	struct eg_cgroup *cg = &a->eg->cgs[i];
	struct eg_remnant *v;

	v = links_attached(cg->links) ? realloc(cg->rem, (cg->nrem + 1) * sizeof(*v)) : NULL;
	if (!v) {
		pr_info("egress \"%s\": cgroup %s (id %llu) is gone: forgotten, waiting for "
			"it to appear again", a->pol.egs[i].name, cg->path,
			(unsigned long long)cg->id);
		cg_forget(a, cg, true);
		return;
	}
	pr_info("egress \"%s\": cgroup %s (id %llu) is removed, but sockets made in it live "
		"on: they stay judged until the last is closed; waiting for it to appear again",
		a->pol.egs[i].name, cg->path, (unsigned long long)cg->id);
	cg->rem = v;
	v = &cg->rem[cg->nrem++];
	v->id = cg->id;
	for (int h = 0; h < EGH_MAX; h++) {
		v->links[h] = cg->links[h];
		cg->links[h] = -1;
	}
	cg->id = 0;
}

/*
 * The first policy is applied: an adopted cgroup whose links no entry's
 * cgroup claimed, and whose record names the path of entry I, was removed
 * (while a previous agent ran, or while none did) and the kernel keeps it
 * for the sockets made in it: a remnant of entry I, judged by it (the
 * commit of this policy wrote its word: as the entry's cgroup if it still
 * existed then, else through cgw_adopted_removed). The records are not
 * needed any more.
 */
static void remnants_adopt(struct agent *a)
{
	struct agent_egress *eg = a->eg;

	for (size_t r = 0; r < eg->nrecords; r++) {
		const struct eg_record *rec = &eg->records[r];
		struct eg_remnant *v, *rm;
		struct eg_cgroup *cg;
		size_t i;
		int n = 0;

		for (i = 0; i < eg->ncgs && strcmp(eg->cgs[i].path, rec->path); i++)
			;
		/* no entry names it now: detached below, as every link none claims */
		if (i == eg->ncgs || eg->cgs[i].id == rec->id || !adopted_has(eg, rec->id))
			continue;
		cg = &eg->cgs[i];
		v = realloc(cg->rem, (cg->nrem + 1) * sizeof(*v));
		if (!v) {
			pr_err("egress: out of memory");
			continue;
		}
		cg->rem = v;
		rm = &v[cg->nrem];
		rm->id = rec->id;
		for (int h = 0; h < EGH_MAX; h++) {
			rm->links[h] = adopted_take(eg, rec->id, h);
			n += rm->links[h] >= 0;
		}
		if (!n)
			continue;
		cg->nrem++;
		pr_info("egress \"%s\": cgroup %s (id %llu) was removed, but sockets made in it "
			"live on: adopted, they stay judged until the last is closed (%d hooks)",
			a->pol.egs[i].name, cg->path, (unsigned long long)rec->id, n);
	}
	records_free(eg);
}

bool cgw_attached(const struct agent *a, size_t i)
{
	const struct eg_cgroup *cg = &a->eg->cgs[i];

	for (int h = 0; h < EGH_MAX; h++)
		if (cg->links[h] < 0)
			return false;
	return cg->id != 0;
}

/* ---- the watcher ---- */

/* The dir to watch for CG: its parent when it exists, else its nearest existing ancestor. */
static void watch_dir(const struct eg_cgroup *cg, char *buf, size_t len)
{
	struct stat st;
	char *s;

	snprintf(buf, len, "%s", cg->path);
	if (cg->id && (s = strrchr(buf, '/')))
		*s = '\0';
	while (buf[0] && stat(buf, &st)) {
		s = strrchr(buf, '/');
		if (!s)
			break;
		*s = '\0';
	}
	if (!buf[0])
		snprintf(buf, len, "/");
}

static bool in_list(char *const *v, size_t n, const char *s)
{
	for (size_t k = 0; k < n; k++)
		if (v[k] && !strcmp(v[k], s))
			return true;
	return false;
}

/* Watch exactly the dirs the records need (new ones first, then drop the rest). */
static void watches_set(struct agent *a)
{
	struct agent_egress *eg = a->eg;
	char **want = calloc(eg->ncgs + 1, sizeof(*want));
	size_t nwant = 0;

	if (!want)
		return;
	for (size_t i = 0; i < eg->ncgs; i++) {
		char dir[PATH_MAX];

		watch_dir(&eg->cgs[i], dir, sizeof(dir));
		if (!in_list(want, nwant, dir))
			want[nwant++] = strdup(dir);
	}
	for (size_t k = 0; k < nwant; k++) {
		struct eg_watch *v;
		bool have = false;
		char *path;
		int wd;

		for (size_t w = 0; w < eg->nwatches && !have; w++)
			have = want[k] && !strcmp(eg->watches[w].path, want[k]);
		if (have || !want[k])
			continue;
		wd = inotify_add_watch(eg->ino_fd, want[k], CGW_MASK);
		if (wd < 0) {
			pr_warn("egress: cannot watch %s: %s; cgroups appearing there need SIGHUP",
				want[k], strerror(errno));
			continue;
		}
		path = strdup(want[k]);
		v = path ? realloc(eg->watches, (eg->nwatches + 1) * sizeof(*v)) : NULL;
		if (!v) {
			free(path);
			continue;
		}
		eg->watches = v;
		v[eg->nwatches++] = (struct eg_watch){ .wd = wd, .path = path };
	}
	for (size_t w = 0; w < eg->nwatches;) {
		if (in_list(want, nwant, eg->watches[w].path)) {
			w++;
			continue;
		}
		inotify_rm_watch(eg->ino_fd, eg->watches[w].wd);
		free(eg->watches[w].path);
		eg->watches[w] = eg->watches[--eg->nwatches];
	}
	for (size_t k = 0; k < nwant; k++)
		free(want[k]);
	free(want);
}

/*
 * Resolve every record again: a cgroup that appeared gets its word and its
 * links, one that went (or was made again: another id) is forgotten first.
 * Returns whether anything changed.
 */
static bool refresh_once(struct agent *a)
{
	struct agent_egress *eg = a->eg;
	bool changed = false;

	for (size_t i = 0; i < eg->ncgs; i++) {
		struct eg_cgroup *cg = &eg->cgs[i];
		uint64_t id = cgw_id_of(cg->path);
		int err;

		remnants_forget(a, cg, false);
		if (id == cg->id) {
			if (id && !cgw_attached(a, i))
				cg_attach(a, cg);
			continue;
		}
		changed = true;
		if (cg->id)
			cg_removed(a, i);
		if (!id)
			continue;
		cg->id = id;
		/* its word before its links: the hooks never run without a policy */
		err = eg_cg_write(a, id, i);
		if (err) {
			pr_err("egress \"%s\": cgroup %s: cannot write %s: %s", a->pol.egs[i].name,
			       cg->path, SLUICE_MAP_EG_CG, strerror(-err));
			cg->id = 0;
			continue;
		}
		cg_attach(a, cg);
	}
	return changed;
}

static void refresh(struct agent *a)
{
	/* a cgroup made while the watches moved is seen by the next round */
	for (int r = 0; r < CGW_ROUNDS; r++) {
		refresh_once(a);
		watches_set(a);
		if (!refresh_once(a))
			break;
	}
}

/* A watch the kernel dropped (its dir was removed): forget it, or it is never set again. */
static void watch_gone(struct agent_egress *eg, int wd)
{
	for (size_t w = 0; w < eg->nwatches; w++) {
		if (eg->watches[w].wd != wd)
			continue;
		free(eg->watches[w].path);
		eg->watches[w] = eg->watches[--eg->nwatches];
		return;
	}
}

static void ino_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)src;
	(void)events;
	while ((n = read(a->eg->ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_IGNORED)
				watch_gone(a->eg, ev->wd);
		}
	}
	if (a->have_policy)
		refresh(a);
}

int cgw_open(struct agent *a)
{
	struct agent_egress *eg = a->eg;

	eg->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (eg->ino_fd < 0) {
		int err = -errno;

		pr_err("egress: inotify: %s", strerror(errno));
		return err;
	}
	eg->ino_src.fd = eg->ino_fd;
	eg->ino_src.ready = ino_ready;
	return agent_watch(a, &eg->ino_src, EPOLLIN);
}

void cgw_close(struct agent *a)
{
	struct agent_egress *eg = a->eg;

	if (eg->ino_fd >= 0) {
		agent_unwatch(a, &eg->ino_src);
		close(eg->ino_fd);
	}
	eg->ino_fd = -1;
	for (size_t w = 0; w < eg->nwatches; w++)
		free(eg->watches[w].path);
	free(eg->watches);
	eg->watches = NULL;
	eg->nwatches = 0;
}

void cgw_sync_policy(struct agent *a)
{
	struct agent_egress *eg = a->eg;
	struct eg_cgroup *v;
	size_t n = a->pol.negs;

	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		pr_err("egress: out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *path = a->pol.egs[i].cgroup;

		for (size_t k = 0; k < eg->ncgs && !v[i].path; k++) {
			if (!eg->cgs[k].path || strcmp(eg->cgs[k].path, path))
				continue;
			v[i] = eg->cgs[k];
			eg->cgs[k].path = NULL;
		}
		if (v[i].path)
			continue;
		v[i].path = strdup(path);
		for (int h = 0; h < EGH_MAX; h++)
			v[i].links[h] = -1;
	}
	/* cgroups the policy no longer names: their words went with the commit */
	for (size_t k = 0; k < eg->ncgs; k++) {
		if (!eg->cgs[k].path)
			continue;
		pr_info("egress: %s is no longer managed: detaching its hooks", eg->cgs[k].path);
		cg_forget(a, &eg->cgs[k], true);
		remnants_forget(a, &eg->cgs[k], true);
		free(eg->cgs[k].path);
	}
	free(eg->cgs);
	eg->cgs = v;
	eg->ncgs = n;
	refresh(a);
	remnants_adopt(a);
	/* pins of a previous agent that no entry claimed */
	while (eg->nadopted) {
		struct eg_adopted *ad = &eg->adopted[--eg->nadopted];
		char path[PATH_MAX];

		link_pin(a, ad->id, ad->hook, path, sizeof(path));
		pr_info("egress: cgroup id %llu is no longer managed: detaching its %s link",
			(unsigned long long)ad->id, eg_hook_names[ad->hook]);
		bpf_link_detach(ad->fd);
		close(ad->fd);
		if (path[0])
			unlink(path);
		record_drop(a, ad->id);
	}
}

int cgw_detach_all(struct agent *a, struct json_object *names)
{
	struct agent_egress *eg = a->eg;

	for (size_t i = 0; i < eg->ncgs; i++) {
		if (names && eg->cgs[i].id)
			json_object_array_add(names, json_object_new_string(eg->cgs[i].path));
		cg_forget(a, &eg->cgs[i], true);
		remnants_forget(a, &eg->cgs[i], true);
	}
	while (eg->nadopted) {
		struct eg_adopted *ad = &eg->adopted[--eg->nadopted];

		bpf_link_detach(ad->fd);
		close(ad->fd);
	}
	return 0;
}

void cgw_release(struct agent *a)
{
	struct agent_egress *eg = a->eg;

	for (size_t i = 0; i < eg->ncgs; i++) {
		for (int h = 0; h < EGH_MAX; h++)
			if (eg->cgs[i].links[h] >= 0)
				close(eg->cgs[i].links[h]);
		for (size_t r = 0; r < eg->cgs[i].nrem; r++)
			for (int h = 0; h < EGH_MAX; h++)
				if (eg->cgs[i].rem[r].links[h] >= 0)
					close(eg->cgs[i].rem[r].links[h]);
		free(eg->cgs[i].rem);
		free(eg->cgs[i].path);
	}
	free(eg->cgs);
	eg->cgs = NULL;
	eg->ncgs = 0;
	for (size_t i = 0; i < eg->nadopted; i++)
		close(eg->adopted[i].fd);
	free(eg->adopted);
	eg->adopted = NULL;
	eg->nadopted = 0;
	records_free(eg);
}
