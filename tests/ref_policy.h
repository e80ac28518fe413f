/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The test oracle: a firewall policy as the random generator made it, and
 * what a packet gets from it. Nothing here includes or calls lib/: the model
 * is the generator's own (never the parser's output), it is written out as
 * YAML and set files by ref_write (ref_gen.c), and the product reads those
 * files the way an operator's would. The datapath and the compiler must
 * then agree with ref_classify (ref_policy.c) on every packet.
 *
 *	struct ref_rng rng = { seed };
 *	struct ref_policy p;
 *	ref_gen_policy(&rng, &opts, &p);   // or fill a ref_policy by hand
 *	ref_finish(&p);                    // builds the lookup indexes
 *	ref_write(&p, dir, style_seed);    // YAML + set files for the product
 *	ref_gen_pkt(&rng, &p, sec, &pkt);  // packets aimed at its prefixes and ports
 *	ref_classify(&p, sec, &pkt);       // rule index or -1 (default)
 *	ref_policy_free(&p);
 *
 * Scale: a packet costs, per rule it passes over, a few compares: a scan of
 * an address list of up to 8 prefixes, else one binary search per distinct
 * prefix length present (a million-prefix set costs about as much as a small
 * one). Measured under ASan+UBSan: 10,000 packets that match none of 16,384
 * rules (each with a src and a dst list) take ~5.6 s, ~35 ns per rule passed
 * over; random policies from ref_gen_policy match far earlier.
 */
#ifndef SLUICE_TESTS_REF_POLICY_H
#define SLUICE_TESTS_REF_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the model ---- */

struct ref_prefix {
	bool v6;
	uint8_t len;		/* 0..32 or 0..128 */
	uint8_t addr[16];	/* network order, IPv4 in the first 4 bytes, host bits zero */
};

/* A prefix list made searchable by ref_finish: one sorted array per family. */
struct ref_key {
	uint64_t hi, lo;	/* the address, masked to len; IPv4 in the top 32 bits of hi */
	uint8_t len;
};

struct ref_index {
	struct ref_key *k[2];	/* [v6] sorted by (len, hi, lo) */
	size_t n[2];
	uint8_t *lens[2];	/* the distinct lengths present (long lists only) */
	int nlens[2];
};

struct ref_set {
	char name[64];
	struct ref_prefix *pfx;		/* under `prefixes:` */
	size_t npfx;
	bool in_file;			/* `file: NAME.txt` holds FILE_PFX */
	struct ref_prefix *file_pfx;
	size_t nfile;
	struct ref_index idx;		/* both parts */
};

/* A src or dst list: prefixes and "@set" references. Both counts 0: omitted (any). */
struct ref_list {
	struct ref_prefix *pfx;
	size_t npfx;
	int *sets;			/* indexes into ref_policy.sets */
	size_t nsets;
	struct ref_index idx;		/* the prefixes */
};

enum {
	REF_TCP = 1 << 0,
	REF_UDP = 1 << 1,
	REF_ICMP = 1 << 2,
	REF_ICMPV6 = 1 << 3,
	REF_ANY = 1 << 4,		/* `any` written (alone or in a list) */
};

struct ref_ports {
	uint16_t lo, hi;		/* 1..65535, lo <= hi */
};

struct ref_rule {
	char name[64];
	bool allow;
	struct ref_list src, dst;
	unsigned int protos;		/* REF_* bits as written; 0: the key is omitted */
	struct ref_ports *sport, *dport;	/* count 0: omitted */
	size_t nsport, ndport;
};

struct ref_section {
	char name[64];			/* "" : unnamed (the product calls it fw<index>) */
	char ifaces[4][16];
	int nifaces;
	bool allow_default;
	bool stateful;
	struct ref_rule *rules;
	size_t nrules;
};

struct ref_policy {
	struct ref_set *sets;
	size_t nsets;
	struct ref_section *secs;
	size_t nsecs;
	bool list_form;			/* `firewall:` as a list even with one section */
	/* Built by ref_finish: every prefix of the policy, for ref_gen_pkt to aim at. */
	const struct ref_prefix **aim[2];
	size_t naim[2];
	/* Set by ref_gen_policy: the addresses its prefixes were cut from. */
	uint8_t pool[2][8][16];
	bool have_pool;
	int v6_percent;			/* IPv6 share of ref_gen_pkt's packets (with have_pool) */
};

/* A packet as the classifier sees it. */
struct ref_pkt {
	bool v6;
	uint8_t proto;			/* IP protocol number */
	bool has_ports;			/* TCP or UDP and not a non-first fragment */
	uint16_t sport, dport;
	uint8_t src[16], dst[16];	/* network order */
};

/* ---- the classifier (ref_policy.c) ---- */

/* Build the indexes; call once the model is complete. Returns 0 or -ENOMEM. */
int ref_finish(struct ref_policy *p);
void ref_policy_free(struct ref_policy *p);

/* The first rule of section SEC that PKT matches, or -1 when the default applies. */
int ref_classify(const struct ref_policy *p, size_t sec, const struct ref_pkt *pkt);
/* Does section SEC let PKT through? */
bool ref_allows(const struct ref_policy *p, size_t sec, const struct ref_pkt *pkt);

/* ---- random policies and packets, YAML (ref_gen.c) ---- */

struct ref_rng {
	uint64_t s;
};

uint64_t ref_rnd(struct ref_rng *r);
uint32_t ref_rndn(struct ref_rng *r, uint32_t n);	/* 0..n-1; 0 when n is 0 */
bool ref_chance(struct ref_rng *r, int percent);

struct ref_gen_opts {
	int nrules;		/* over all sections */
	int nsecs;		/* 1: the mapping form; more: a list, rules dealt out in runs */
	int max_sets;		/* 0..max_sets sets */
	int max_set_pfx;	/* prefixes under `prefixes:` per set, 1..max */
	int max_file_pfx;	/* 0: no set files; else half the sets get a file of 0..max */
	int v6_percent;		/* share of IPv6 prefixes */
	bool same_shape;	/* every rule names both src and dst or neither */
	const char *dflt;	/* "allow", "deny" or NULL: random per section */
};

/* A random policy (free with ref_policy_free); ref_finish is done. 0 or -ENOMEM. */
int ref_gen_policy(struct ref_rng *r, const struct ref_gen_opts *o, struct ref_policy *p);

/*
 * A random packet for section SEC: most addresses inside or at the edge of
 * the policy's prefixes, most ports at the edges of its rules' ranges (port
 * 0 included: packets may carry it), TCP/UDP/ICMP/ICMPv6 and other
 * protocols. has_ports is true for TCP and UDP; clear it for a non-first
 * fragment.
 */
void ref_gen_pkt(struct ref_rng *r, const struct ref_policy *p, size_t sec, struct ref_pkt *pkt);

/*
 * Write P into DIR (which exists and holds nothing else) as an operator
 * could: one file or sets and firewall apart, block or flow style, scalars
 * or lists, plain addresses for host prefixes, set files with comments.
 * STYLE picks among these; the meaning is always P's. Returns 0 or -errno.
 */
int ref_write(const struct ref_policy *p, const char *dir, uint64_t style);

/* "192.0.2.0/24" etc., for messages. */
void ref_prefix_str(const struct ref_prefix *x, char *buf, size_t len);
void ref_pkt_str(const struct ref_pkt *pkt, char *buf, size_t len);

/* A fresh directory under /tmp (BUF of 64 bytes) and its removal with all files in it. */
int ref_dir_new(char *buf, size_t len);
void ref_dir_remove(const char *dir);

#endif /* SLUICE_TESTS_REF_POLICY_H */
