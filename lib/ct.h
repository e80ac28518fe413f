/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Conntrack in userspace: the policy's conntrack settings compiled to
 * ct_cfg (ct_config.c), the tables' shards created, found and walked
 * (ct_shards.c), and entries read back as the connections an operator sees
 * (ct_view.c): originator -> responder, state, seconds left. Shared by the
 * agent (ct-list, ct-stats), the CLI, the tests and the bench.
 */
#ifndef SLUICE_CT_H
#define SLUICE_CT_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "policy.h"

/*
 * ct_cfg[0] (all but shards and gen, which are the agent's) and the table's
 * capacity for POL: stateful when the policy has a
 * firewall that is stateful (the default), timeouts in seconds.
 */
void ct_config_compile(const struct sl_policy *pol, struct sl_ct_config *cfg,
		       uint32_t *max_entries);
/*
 * ct_ck_cfg[0] for POL: the mode and the ports that always get cookies;
 * the key and what the host's TCP accepts are the agent's to fill in.
 */
void ct_cookie_compile(const struct sl_policy *pol, struct sl_ck_config *ck);

/* The number of shards for a table of MAX_ENTRIES connections (a power of two). */
uint32_t ct_shards_for(uint32_t max_entries);
/* The unassured entries that go with MAX_ENTRIES assured ones (all shards). */
uint32_t ct_unassured_entries(uint32_t max_entries);

/*
 * The connection table: two arrays of maps of the same shape, IPv4
 * connections in ct4_shards (16-byte keys), IPv6 ones in ct_shards
 * (sluice_abi.h). Userspace sees every entry with a struct sl_ct_key
 * (an IPv4 key in its first words, the rest zero): the functions below
 * take and give that form and pick the table by its family.
 */
struct ct_tables {
	int fd4;	/* ct4_shards */
	int fd6;	/* ct_shards */
	/*
	 * The lookup filter's stamps (ct_stamp, mmapped: ct_stamps_map), NULL
	 * when not used; then ct_shards_insert stamps what it inserts, as live
	 * for STAMP_NS (the longest timeout in force, ct_cfg_horizon_ns).
	 */
	uint64_t *stamps;
	uint64_t stamp_ns;
};

/* The IPv4 key of K (family 4), and back. */
void ct_key4_of(const struct sl_ct_key *k, struct sl_ct_key4 *k4);
void ct_key_of4(const struct sl_ct_key4 *k4, struct sl_ct_key *k);
/* The shard of K (either family) among SHARDS: the datapath's. */
uint32_t ct_key_shard(const struct sl_ct_key *k, uint32_t shards);

/*
 * Create the shards of a table of MAX_ENTRIES connections of each family
 * into the empty arrays of maps T; *SHARDS is set to their number (the
 * same in both). On failure nothing is left in T.
 */
int ct_shards_create(const struct ct_tables *t, uint32_t max_entries, uint32_t *shards);
/* Empty T (the shards go with the last reference). */
void ct_shards_clear(const struct ct_tables *t);
/*
 * What T holds: shards 0 when empty; -EPROTO for a layout not ours, or
 * tables of different shapes. Capacities are each family's.
 */
struct ct_shard_info {
	uint32_t shards;
	uint64_t capacity, unassured_capacity;	/* assured, unassured: all shards */
};
int ct_shards_info(const struct ct_tables *t, struct ct_shard_info *info);
/* A new fd of assured shard I of the array of maps OUTER_FD (UNASSURED: its unassured one). */
int ct_shard_fd(int outer_fd, uint32_t i, bool unassured);
/*
 * Call FN for every entry of every shard (IPv4 first, then IPv6; in each,
 * assured ones, then unassured ones: UNASSURED set), a batch at a time. The
 * table changes while it is read: an entry may be missed or seen twice, as
 * with `conntrack -L`. FN returning > 0 stops the walk (0 returned), < 0
 * stops it with that error.
 */
typedef int (*ct_entry_fn)(void *ctx, const struct sl_ct_key *k, const struct sl_ct_entry *e,
			   bool unassured);
int ct_shards_walk(const struct ct_tables *t, ct_entry_fn fn, void *ctx);
/* Delete every entry of every shard, counted in *DELETED: 0 or -errno. */
int ct_shards_flush(const struct ct_tables *t, uint64_t *deleted);
/* Assured and unassured entries in every shard now (a walk): 0 or -errno. */
int ct_shards_count(const struct ct_tables *t, uint64_t *assured, uint64_t *unassured);
/* The entry of K (in its shard, SHARDS of them): 0, -ENOENT, or -errno; *UNASSURED: where. */
int ct_shards_lookup(const struct ct_tables *t, uint32_t shards, const struct sl_ct_key *k,
		     struct sl_ct_entry *e, bool *unassured);
/* Add E under K to its assured shard (UNASSURED: its unassured one) unless there: 0 or -errno. */
int ct_shards_insert(const struct ct_tables *t, uint32_t shards, const struct sl_ct_key *k,
		     const struct sl_ct_entry *e, bool unassured);
/* Delete K from its assured shard (or its unassured shard, UNASSURED). */
int ct_shards_delete(const struct ct_tables *t, uint32_t shards, const struct sl_ct_key *k,
		     bool unassured);

/*
 * The lookup filter (sluice_abi.h, ct_stamp). The stamps of ct_stamp (its
 * fd), mmapped shared: NULL and errno on failure.
 */
uint64_t *ct_stamps_map(int fd);
void ct_stamps_unmap(uint64_t *stamps);
/*
 * Raise the stamp of the assured (UNA false) or unassured entries of K's
 * bucket (either family) to cover END (coarse ns): atomic.
 */
void ct_stamp_raise(uint64_t *stamps, const struct sl_ct_key *k, bool una, uint64_t end);
/* The timeout of index IDX (enum sluice_ct_timeout) in CFG, in ns: 0 means the default. */
uint64_t ct_cfg_timeout_ns(const struct sl_ct_config *cfg, unsigned int idx);
/*
 * How long an entry seen at NOW may live under CFG (the longest timeout),
 * plus the filter's slack while it runs: a stamp covering that covers it.
 */
uint64_t ct_cfg_horizon_ns(const struct sl_ct_config *cfg, uint64_t now);
/*
 * CFG's filter fields for a write that replaces CUR (the settings in
 * force) at NOW: the filter as CUR has it, and when CFG raises a timeout
 * of CUR's, the raise added to the slack (until no entry stamped under
 * CUR can be live any more). Returns true when a datapath could meet CFG's
 * longer timeouts with CUR's slack in a write that is not atomic for it:
 * CUR with CFG's filter fields must be written first.
 */
bool ct_filter_next(const struct sl_ct_config *cur, struct sl_ct_config *cfg, uint64_t now);
/*
 * Stamp every entry of T (t->stamps) as live until its last_seen + HORIZON
 * ns, before the filter is turned on: *N the entries stamped. 0 or -errno.
 */
int ct_stamps_fill(const struct ct_tables *t, uint64_t horizon, uint64_t *n);

/* "syn-sent", ... ("unknown" outside enum sl_ct_state). */
const char *ct_state_name(unsigned int state);
/* "tcp-syn", ... (NULL outside enum sluice_ct_timeout). */
const char *ct_timeout_name(unsigned int idx);
/* The timeout (index of sl_ct_config.timeout) that governs STATE; -1 when none. */
int ct_state_timeout(unsigned int state);

/* Now on the clock of bpf_ktime_get_coarse_ns(): CLOCK_MONOTONIC_COARSE, in ns. */
uint64_t ct_now_ns(void);

/* One entry as the operator reads it: the originator is src. */
struct ct_view {
	uint8_t family;			/* AF_INET or AF_INET6 */
	uint8_t proto;			/* IP protocol number */
	uint8_t src[16], dst[16];	/* network order; IPv4 in the first 4 bytes */
	uint16_t sport, dport;		/* host order; ICMP echo: the identifier in both */
	unsigned int state;		/* enum sl_ct_state */
	int64_t expires_in;		/* seconds until it expires (>= 0); -1: unknown */
	bool dead;			/* past its timeout: the datapath treats it as gone,
					 * its shard's sweeper deletes it on its next walk */
	uint64_t age;			/* seconds since it was created */
	bool assured;			/* among the assured entries (set by the walker:
					 * which shard it was read from) */
	uint64_t packets[2], bytes[2];	/* [SL_CT_DIR_ORIG], [SL_CT_DIR_REPLY] */
};

/*
 * Turn a conntrack key and value into a view, with the timeouts of CFG and NOW
 * from ct_now_ns(). Returns -EINVAL for a key that is not well formed.
 */
int ct_view_from(const struct sl_ct_key *k, const struct sl_ct_entry *e,
		 const struct sl_ct_config *cfg, uint64_t now, struct ct_view *v);

/* What `sluice ct list` asks for; unset fields match anything. */
struct ct_filter {
	int proto;			/* -1: any */
	bool has_src, has_dst;
	struct sl_prefix src, dst;	/* the originator's and the responder's address */
	int sport, dport;		/* -1: any */
	int port;			/* either port; -1: any */
};

void ct_filter_init(struct ct_filter *f);
bool ct_filter_match(const struct ct_filter *f, const struct ct_view *v);
/* "tcp", "udp", "icmp", "icmpv6" or a number 0..255; -EINVAL otherwise. */
int ct_proto_parse(const char *s, int *proto);
/* "tcp", ..., or the number as text in BUF. */
const char *ct_proto_name(uint8_t proto, char *buf, size_t len);

/*
 * The view as a JSON object with the keys of SPEC.md: proto, src, sport,
 * dst, dport, state, expires_in, packets, bytes (both directions), and
 * orig_packets, orig_bytes, reply_packets, reply_bytes, age, assured. NULL
 * when out of memory.
 */
struct json_object *ct_view_json(const struct ct_view *v);

#endif /* SLUICE_CT_H */
