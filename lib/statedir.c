// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the agent and the CLI check of a state dir before they touch it
 * (statedir.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "statedir.h"

bool sl_is_mount_root(const char *dir, const struct stat *st)
{
	struct stat parent;
	char *up;
	bool root;

	if (asprintf(&up, "%s/..", dir) < 0)
		return true;	/* cannot tell: be safe */
	root = stat(up, &parent) || parent.st_dev != st->st_dev || parent.st_ino == st->st_ino;
	free(up);
	return root;
}

struct sl_netns_id {
	uint64_t dev;
	uint64_t ino;
};

int sl_state_netns_claim(const char *state_dir, char *err, size_t errlen)
{
	struct sl_netns_id me, owner;
	struct bpf_map_info info;
	uint32_t zero = 0, info_len;
	struct stat st;
	char *pin;
	int fd, rc;

	if (stat("/proc/self/ns/net", &st)) {
		rc = -errno;
		snprintf(err, errlen, "/proc/self/ns/net: %s", strerror(errno));
		return rc;
	}
	me.dev = st.st_dev;
	me.ino = st.st_ino;
	if (asprintf(&pin, "%s/%s", state_dir, SL_STATE_NETNS_PIN) < 0)
		return -ENOMEM;
	fd = bpf_obj_get(pin);
	if (fd < 0 && errno == ENOENT) {
		/* the first agent on this dir (or one of a build before the pin) */
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sl_netns", sizeof(zero), sizeof(me), 1,
				    NULL);
		rc = fd < 0 ? -errno : 0;
		if (!rc && (bpf_map_update_elem(fd, &zero, &me, BPF_ANY) ||
			    bpf_obj_pin(fd, pin) || chmod(pin, 0600)))
			rc = -errno;
		if (rc)
			snprintf(err, errlen, "cannot pin %s: %s", pin, strerror(-rc));
		goto out;
	}
	info_len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (fd >= 0 && (bpf_obj_get_info_by_fd(fd, &info, &info_len) ||
			info.type != BPF_MAP_TYPE_ARRAY || info.value_size != sizeof(owner))) {
		snprintf(err, errlen, "%s is not the pin sluiced makes there", pin);
		rc = -EINVAL;
		goto out;
	}
	if (fd < 0 || bpf_map_lookup_elem(fd, &zero, &owner)) {
		rc = -errno;
		snprintf(err, errlen, "cannot read %s: %s", pin, strerror(errno));
		goto out;
	}
	rc = 0;
	if (owner.dev != me.dev || owner.ino != me.ino) {
		rc = -EXDEV;
		snprintf(err, errlen, "state dir %s belongs to an agent in another network "
			 "namespace (net:[%llu]; this is net:[%llu]): its links are on that "
			 "namespace's interfaces; give each namespace a state dir of its own "
			 "(if that namespace is gone, `sluice teardown --state-dir %s` removes "
			 "what is left)", state_dir, (unsigned long long)owner.ino,
			 (unsigned long long)me.ino, state_dir);
	}
out:
	if (fd >= 0)
		close(fd);
	free(pin);
	return rc;
}
