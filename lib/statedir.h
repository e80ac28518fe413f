/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the agent and the CLI check of a state dir before they touch it.
 */
#ifndef SLUICE_STATEDIR_H
#define SLUICE_STATEDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* Is DIR (whose stat is ST) where a filesystem is mounted? Its parent is on another one. */
bool sl_is_mount_root(const char *dir, const struct stat *st);

/*
 * The network namespace a state dir belongs to: STATE/netns, a pinned
 * one-entry array holding the device and inode of the namespace
 * (/proc/self/ns/net) of the agent that first used the dir. Its links are
 * on that namespace's interfaces, which another namespace's agent can
 * neither see nor tell from gone ones.
 *
 * sl_state_netns_claim: 0 when the dir is this namespace's (the pin made
 * now if there was none, 0600); -EXDEV when it is another's (ERR says
 * which); another -errno on failure (ERR says what).
 */
#define SL_STATE_NETNS_PIN	"netns"
int sl_state_netns_claim(const char *state_dir, char *err, size_t errlen);

#endif /* SLUICE_STATEDIR_H */
