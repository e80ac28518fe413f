// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice teardown: detach every program and remove the pinned state.
 *
 * With an agent answering, the agent does it (and exits). With none, the CLI
 * removes the pins under the state dir itself: an XDP bpf_link lives as long
 * as its pin or an fd holds it, so unpinning the link detaches the program.
 * Links go first so that no hook is left attached to half-removed state.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/magic.h>

#include "cli.h"
#include "print.h"
#include "statedir.h"

/* What nftw found under the state dir, removed after the walk. */
struct pin_walk {
	struct cli_list links;	/* pinned bpf_links: unpinned first */
	struct cli_list files;	/* other pins (maps, programs) */
	struct cli_list dirs;	/* deepest first, the state dir last */
	int err;
};

static struct pin_walk *walk;	/* nftw passes no user pointer */

static bool is_bpf_link(const char *path)
{
	char proc[64], target[64];
	ssize_t n;
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return false;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, target, sizeof(target) - 1);
	close(fd);
	if (n < 0)
		return false;
	target[n] = '\0';
	return !strcmp(target, "anon_inode:bpf-link");
}

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct cli_list *l;
	int err;

	(void)st;
	(void)ftw;
	if (type == FTW_DNR || type == FTW_NS) {
		/* a dir we cannot read would keep pins (and hooks) we never saw */
		walk->err = -EACCES;
		return 1;
	}
	l = type == FTW_DP ? &walk->dirs : is_bpf_link(path) ? &walk->links : &walk->files;
	err = -ENOMEM;
	if (l->n % 16 == 0) {
		char **v = reallocarray(l->v, l->n + 16, sizeof(*v));

		if (!v)
			goto fail;
		l->v = v;
	}
	l->v[l->n] = strdup(path);
	if (!l->v[l->n])
		goto fail;
	l->n++;
	return 0;
fail:
	walk->err = err;
	return 1;
}

/* "veth0" for the interface a pinned XDP link is attached to; NULL when not XDP. */
static char *link_iface(const char *path)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char name[IF_NAMESIZE], *s = NULL;
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return NULL;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_LINK_TYPE_XDP) {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);

		/*
		 * The link knows its ifindex, not its namespace: the name is only
		 * ours to print when the interface of that index here runs the
		 * link's program (the agent may live in another namespace).
		 */
		if (info.xdp.ifindex && if_indextoname(info.xdp.ifindex, name) &&
		    !bpf_xdp_query(info.xdp.ifindex, 0, &q) && q.prog_id == info.prog_id)
			s = strdup(name);
		else if (asprintf(&s, "ifindex %u", info.xdp.ifindex) < 0)
			s = NULL;
	}
	close(fd);
	return s;
}

/* The pid holding an flock on the file ST names (/proc/locks), or 0 when not found. */
static long lock_holder(const struct stat *st)
{
	unsigned int maj, min;
	unsigned long ino;
	char line[256];
	long pid = 0, p;
	FILE *f = fopen("/proc/locks", "re");

	while (f && !pid && fgets(line, sizeof(line), f)) {
		/* "1: FLOCK  ADVISORY  WRITE 4242 00:1a:17 0 EOF" */
		if (sscanf(line, "%*s FLOCK %*s %*s %ld %x:%x:%lu", &p, &maj, &min, &ino) == 4 &&
		    ino == st->st_ino && maj == major(st->st_dev) && min == minor(st->st_dev))
			pid = p;
	}
	if (f)
		fclose(f);
	return pid;
}

/*
 * A running agent holds an flock on its state dir (agent/loader.c). Its
 * pins removed from under it, a later SIGKILL of that agent would leave the
 * interfaces without a firewall: refuse, unless FORCE. On success *LOCK_FD
 * holds the lock for the time of the teardown (-1 when forced past it).
 */
static int state_unlocked(struct cli *c, const struct stat *st, bool force, int *lock_fd)
{
	int fd = open(c->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long pid;

	*lock_fd = -1;
	if (fd < 0)
		return cli_error(c, EXIT_FAIL, "cannot open state dir %s: %s", c->state_dir,
				 strerror(errno));
	if (!flock(fd, LOCK_EX | LOCK_NB)) {
		*lock_fd = fd;
		return EXIT_OK;
	}
	close(fd);
	if (errno != EWOULDBLOCK)
		return cli_error(c, EXIT_FAIL, "cannot lock state dir %s: %s", c->state_dir,
				 strerror(errno));
	if (force)
		return EXIT_OK;
	pid = lock_holder(st);
	if (pid)
		return cli_error(c, EXIT_FAIL, "no agent answers at %s, but sluiced pid %ld holds "
				 "the state dir %s: give its --socket, or stop it first "
				 "(teardown --force removes the pins anyway)", c->socket, pid,
				 c->state_dir);
	return cli_error(c, EXIT_FAIL, "no agent answers at %s, but another process holds the "
			 "state dir %s: give the agent's --socket, or stop it first (teardown "
			 "--force removes the pins anyway)", c->socket, c->state_dir);
}

static int teardown_offline(struct cli *c, bool force)
{
	struct json_object *data = NULL, *removed = NULL, *pins = NULL;
	struct pin_walk w = {};
	struct statfs sfs;
	struct stat st;
	int rc = EXIT_OK, failed = 0, lock_fd = -1;

	if (lstat(c->state_dir, &st)) {
		if (errno != ENOENT)
			return cli_error(c, EXIT_FAIL, "cannot read state dir %s: %s", c->state_dir,
					 strerror(errno));
		goto report;
	}
	/* never walk and delete anything but a bpffs tree, whatever --state-dir says */
	if (!S_ISDIR(st.st_mode) || statfs(c->state_dir, &sfs) || sfs.f_type != BPF_FS_MAGIC)
		return cli_error(c, EXIT_USAGE, "state dir %s is not a directory on a bpf "
				 "filesystem; refusing to remove it", c->state_dir);
	/* the root of a bpffs holds every other tool's pins too: never empty it */
	if (sl_is_mount_root(c->state_dir, &st))
		return cli_error(c, EXIT_USAGE, "state dir %s is the root of a bpf filesystem; "
				 "refusing to remove it", c->state_dir);
	rc = state_unlocked(c, &st, force, &lock_fd);
	if (rc)
		return rc;
	walk = &w;
	if (nftw(c->state_dir, walk_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && !w.err)
		w.err = -errno;
	walk = NULL;
	if (w.err) {
		rc = cli_error(c, EXIT_FAIL, "cannot walk state dir %s: %s", c->state_dir,
			       strerror(-w.err));
		goto out;
	}

report:
	data = json_object_new_object();
	removed = json_object_new_array();
	pins = json_object_new_array();
	if (!data || !removed || !pins) {
		json_object_put(removed);
		json_object_put(pins);
		rc = cli_error(c, EXIT_FAIL, "out of memory");
		goto out;
	}
	json_object_object_add(data, "agent", json_object_new_boolean(false));
	json_object_object_add(data, "state_dir", json_object_new_string(c->state_dir));
	json_object_object_add(data, "removed", removed);
	json_object_object_add(data, "pins", pins);

	for (size_t i = 0; i < w.links.n; i++) {
		const char *p = w.links.v[i];
		char *ifname = link_iface(p);

		if (unlink(p)) {
			rc = cli_error(c, EXIT_FAIL, "cannot unpin %s: %s", p, strerror(errno));
			free(ifname);
			goto out;
		}
		if (ifname)
			json_object_array_add(removed, json_object_new_string(ifname));
		json_object_array_add(pins, json_object_new_string(p));
		free(ifname);
	}
	for (size_t i = 0; i < w.files.n; i++) {
		if (unlink(w.files.v[i])) {
			rc = cli_error(c, EXIT_FAIL, "cannot unpin %s: %s", w.files.v[i],
				       strerror(errno));
			goto out;
		}
		json_object_array_add(pins, json_object_new_string(w.files.v[i]));
	}
	for (size_t i = 0; i < w.dirs.n; i++) {
		/* a pin created meanwhile by someone else stays, and so does its dir */
		if (rmdir(w.dirs.v[i]) && errno != ENOTEMPTY && errno != ENOENT)
			failed = errno;
	}
	if (failed) {
		rc = cli_error(c, EXIT_FAIL, "cannot remove the dirs under %s: %s", c->state_dir,
			       strerror(failed));
		goto out;
	}

	if (c->json) {
		pr_json(stdout, data, c->pretty);
	} else if (!json_object_array_length(pins)) {
		printf("nothing to tear down under %s (no agent at %s)\n", c->state_dir,
		       c->socket);
	} else {
		char *ifs = pr_text(removed, 0);

		printf("no agent at %s: removed %zu pins under %s\n", c->socket,
		       json_object_array_length(pins), c->state_dir);
		if (json_object_array_length(removed))
			printf("detached xdp from %s\n", ifs ? ifs : "?");
		free(ifs);
	}
out:
	if (lock_fd >= 0)
		close(lock_fd);
	json_object_put(data);
	cli_list_free(&w.links);
	cli_list_free(&w.files);
	cli_list_free(&w.dirs);
	return rc;
}

static int teardown_text(struct json_object *data)
{
	struct json_object *removed = pr_get(data, "removed");
	char *ifs;

	if (!json_object_is_type(removed, json_type_array) || !json_object_array_length(removed)) {
		puts("sluiced removed its state and exits (no hooks were attached)");
		return 0;
	}
	ifs = pr_text(removed, 0);
	if (!ifs)
		return -ENOMEM;
	printf("sluiced detached from %s, removed its state and exits\n", ifs);
	free(ifs);
	return 0;
}

static const struct cli_opt teardown_opts[] = {
	{ "--force", NULL, 0, CV_TEXT, NULL,
	  "remove the pins even while an agent holds the state dir" },
	{ NULL },
};

static int do_teardown(struct cli *c, int argc, char **argv)
{
	struct json_object *data;
	struct cli_args a;
	bool force;
	int rc, fd;

	rc = cli_parse(c, argc, argv, &a);
	if (rc)
		return rc;
	force = cli_arg(c, &a, "--force") != NULL;
	cli_args_free(&a);
	fd = ctl_connect(c);
	/* nobody listens: no agent to ask, do it ourselves */
	if (fd == -ENOENT || fd == -ECONNREFUSED)
		return teardown_offline(c, force);
	if (fd < 0)
		return ctl_connect_error(c, fd);
	rc = ctl_call_fd(c, fd, "teardown", NULL, &data);
	close(fd);
	if (rc)
		return rc;
	rc = cli_output(c, data, teardown_text);
	json_object_put(data);
	return rc;
}

const struct cli_object cli_teardown = {
	.name = "teardown",
	.cmd = &(const struct cli_verb){ NULL, do_teardown, "", teardown_opts },
	.summary = "Detach every program and remove the pinned state. The agent does it when\n"
		   "it answers (and exits); otherwise the pins under the state dir are removed\n"
		   "here (--state-dir, default " SLUICE_DEFAULT_STATE "), unless an agent holds\n"
		   "that dir (--force: anyway).",
};
