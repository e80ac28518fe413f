/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The policy model: what the YAML policy dir says, after parsing and checking.
 * Load (policy_load.c: which files) -> parse (policy_parse.c, lb_parse.c,
 * egress_parse.c) -> check (policy_check.c, glob.c) -> compile (fw_compile.c);
 * the model's lookups and release are policy_model.c.
 * Shared by the agent, the CLI (policy check, offline) and the tests.
 */
#ifndef SLUICE_POLICY_H
#define SLUICE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "../bpf/sluice_abi.h"

struct sl_prefix {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t len;		/* prefix length in bits */
	uint8_t addr[16];	/* network order; IPv4 in the first 4 bytes; host bits zero */
};

struct sl_set {
	char *name;
	struct sl_loc loc;
	struct sl_prefix *v;
	size_t n;
};

/* One element of a src/dst list: a prefix, or a reference to a named set. */
struct sl_addr_item {
	bool is_set;
	struct sl_prefix pfx;		/* when !is_set */
	char *set_name;			/* when is_set, without the '@' */
	const struct sl_set *set;	/* resolved by the checker */
	struct sl_loc loc;
};

struct sl_port_range {
	uint16_t lo, hi;		/* inclusive; lo == hi for a single port */
};

/* Bits of sl_rule.protos; 0 means any protocol. */
#define SL_PROTO_TCP	(1u << 0)
#define SL_PROTO_UDP	(1u << 1)
#define SL_PROTO_ICMP	(1u << 2)
#define SL_PROTO_ICMPV6	(1u << 3)

struct sl_rule {
	char *name;
	struct sl_loc loc;
	enum sluice_action action;
	bool early;			/* `early: true`: a deny checked before conntrack */
	struct sl_loc early_loc;	/* the `early` value (file NULL: not written) */
	struct sl_addr_item *src;	/* nsrc == 0: any */
	size_t nsrc;
	struct sl_addr_item *dst;
	size_t ndst;
	uint32_t protos;		/* SL_PROTO_* bits, 0 = any */
	struct sl_port_range *sport;	/* nsport == 0: any */
	size_t nsport;
	struct sl_port_range *dport;
	size_t ndport;
};

/*
 * One firewall section: the rules of the interfaces it names. `firewall:` is
 * one section (a mapping) or a list of them; each interface runs the section
 * policy_fw_for_iface picks (docs/policy.md, "Sections").
 */
/*
 * `hook:` of a firewall section: where its interfaces run the firewall
 * (docs/policy.md). auto resolves per interface in the agent (attach.c).
 */
enum sl_fw_hook {
	SL_FW_HOOK_AUTO,
	SL_FW_HOOK_XDP,
	SL_FW_HOOK_TC,
};

struct sl_firewall {
	bool present;			/* false only in the built-in empty section */
	char *name;			/* `name:`, or "fw<index>" */
	struct sl_loc loc;		/* the section's mapping */
	char **ifaces;			/* names or fnmatch(3) globs */
	struct sl_loc *iface_locs;	/* where each of ifaces is written */
	size_t nifaces;
	enum sluice_action default_action;	/* default: allow */
	bool stateful;			/* tracked connections pass before the rules (default: true) */
	enum sl_fw_hook hook;		/* default: auto */
	struct sl_loc hook_loc;		/* the `hook` value (file NULL: not written) */
	struct sl_rule *rules;		/* rule names are unique across all sections */
	size_t nrules;
};

/*
 * conntrack: the connection table of the stateful firewall. Omitted keys
 * keep the defaults of bpf/sluice_abi.h (netfilter's, see docs/policy.md).
 */
#define SL_CT_MAX_ENTRIES_MIN	1024u
#define SL_CT_MAX_ENTRIES_MAX	(1u << 24)
#define SL_CT_TIMEOUT_MAX	(30u * 86400)	/* seconds: longer is a typo */

#define SL_CK_PORT_RANGES	64	/* syn-cookie-ports: ports and ranges at most */

struct sl_conntrack {
	bool present;
	struct sl_loc loc;
	uint32_t max_entries;			/* the conntrack table's capacity */
	uint32_t timeout[SLUICE_CT_TO_MAX];	/* seconds, by enum sluice_ct_timeout */
	uint32_t syncookies;			/* syn-cookies: enum sluice_ck_mode (default auto) */
	struct sl_port_range syncookie_ports[SL_CK_PORT_RANGES];	/* always get cookies */
	uint32_t nsyncookie_ports;
};

/*
 * loadbalancers: services (VIP, port, proto) -> backends (docs/lb.md),
 * parsed and checked by lb_parse.c, compiled by lb_compile.c.
 */
enum sl_lb_mode { SL_LB_NAT, SL_LB_DSR };
enum sl_lb_check { SL_HC_NONE, SL_HC_TCP, SL_HC_HTTP };

/* sections and egress entries of one policy: half the slots (the next is written beside it) */
#define SL_POLICY_SLOTS_MAX	(SLUICE_POL_SLOTS / 2)

#define SL_LB_WEIGHT_MAX	65535u
#define SL_LB_SERVICES_MAX	SLUICE_LB_SVC_MAX
#define SL_LB_BACKENDS_MAX	(SLUICE_LB_BACKENDS_MAX / 2)	/* room for a change's new ids */

struct sl_lb_backend {
	struct sl_loc loc;		/* its mapping in the backends list */
	uint8_t addr[16];		/* network order; IPv4 in the first 4 bytes */
	uint16_t port;			/* host order */
	uint32_t weight;		/* 1 .. SL_LB_WEIGHT_MAX */
	bool drain;			/* no new flows: `drain: true` or `sluice lb drain` */
	bool drain_cli;			/* the drain comes from `sluice lb drain` */
	bool drain_file;		/* `drain: true` in a policy file (too) */
};

struct sl_lb_health {
	enum sl_lb_check type;		/* SL_HC_NONE: every backend counts as up */
	struct sl_loc loc;
	uint32_t interval_ms, timeout_ms;
	uint32_t rise, fall;		/* consecutive results to come back / to leave */
	char *path;			/* http: the GET path */
	uint32_t expect;		/* http: the status that means up */
};

struct sl_lb_service {
	char *name;
	struct sl_loc loc;		/* its name */
	uint8_t family;			/* 4 or 6 */
	uint8_t vip[16];		/* network order */
	uint16_t port;			/* host order */
	uint8_t proto;			/* IPPROTO_TCP or IPPROTO_UDP */
	enum sl_lb_mode mode;
	uint32_t table_size;		/* Maglev table entries (a prime) */
	struct sl_prefix encap;		/* dsr: outer source prefix */
	struct sl_lb_health health;
	struct sl_lb_backend *backends;
	size_t nbackends;
};

/* decap: the backend side of DSR (interfaces and VIPs decapsulated in XDP). */
struct sl_decap {
	bool present;
	struct sl_loc loc;		/* the `decap` key */
	char **ifaces;
	struct sl_loc *iface_locs;
	size_t nifaces;
	struct sl_prefix *vips;		/* single addresses (/32, /128) */
	struct sl_loc *vip_locs;
	size_t nvips;
};

/*
 * egress: the policy of one cgroup v2 (and its descendants) for what its
 * sockets connect and send to (docs/egress.md). Its rules are firewall
 * rules naming only dst, proto and dport, kept in FW, the section form that
 * fw_compile compiles (no interfaces, stateless); FW's name is the entry's.
 * The backstop (optional) applies the same rules in TC on the interfaces
 * it names, to packets from the entry's source addresses.
 */
#define SL_EG_PATH_MAX	4000	/* bytes of a cgroup path */

struct sl_egress {
	char *name;			/* == fw.name */
	struct sl_loc loc;		/* its name (or its list item) */
	char *cgroup;			/* absolute path, no "." / ".." / "//" */
	struct sl_loc cgroup_loc;
	struct sl_firewall fw;		/* default (allow when omitted) and rules */
	struct sl_loc bs_loc;		/* `backstop:` (file NULL: no backstop) */
	char **bs_ifaces;		/* names or fnmatch(3) globs */
	struct sl_loc *bs_iface_locs;
	size_t nbs_ifaces;
	struct sl_addr_item *bs_src;	/* the container's addresses (prefixes, @sets) */
	size_t nbs_src;
};

struct sl_policy {
	struct sl_set *sets;
	size_t nsets;
	struct sl_firewall *fws;	/* the firewall sections in file order; 0: no firewall */
	size_t nfws;
	struct sl_loc fw_loc;		/* the `firewall` key (file NULL: none) */
	struct sl_conntrack ct;
	struct sl_lb_service *lbs;	/* loadbalancers, in file order */
	size_t nlbs;
	struct sl_loc lb_loc;		/* the first `loadbalancers` key (file NULL: none) */
	struct sl_decap decap;
	struct sl_egress *egs;		/* egress entries, in file order */
	size_t negs;
	char **files;			/* the files read, in order; sl_loc.file points here */
	size_t nfiles;
};

/*
 * Read every *.yaml of DIR (not recursive, name order) or the given files,
 * then check the merged policy. Returns 0 when valid; otherwise -EINVAL with
 * every error appended to DIAGS (FILE:LINE:COL: message), or another -errno
 * for an unreadable input (also recorded in DIAGS).
 */
int policy_load_dir(const char *dir, struct sl_policy *pol, struct sl_diags *diags);
int policy_load_paths(const char *const *paths, size_t npaths, struct sl_policy *pol,
		      struct sl_diags *diags);
void policy_free(struct sl_policy *pol);
/* The defaults of an empty policy: no firewall section, conntrack of sluice_abi.h. */
void policy_defaults(struct sl_policy *pol);
/* Conntrack's default timeouts (s), by enum sluice_ct_timeout: sluice_abi.h's. */
extern const uint32_t ct_timeout_defaults[SLUICE_CT_TO_MAX];

/* Look up a set by name; NULL when absent. */
const struct sl_set *policy_find_set(const struct sl_policy *pol, const char *name);

/* Characters that make an interface pattern a glob; without them it is a name. */
#define SL_GLOB_CHARS	"*?[\\"

/*
 * Interface globs in a policy, all sections and decap together: the checks
 * compare them pair by pair (sl_glob_covers, up to ~100 us a pair), so
 * their number bounds the time a policy takes to check; a real policy has
 * a handful.
 */
#define SL_GLOBS_MAX	64

/*
 * The section interface IFNAME runs: the section that lists the name exactly,
 * else the first section in file order with a glob that matches it. Returns
 * its index in pol->fws, or -1 when no section wants the interface.
 */
int policy_fw_for_iface(const struct sl_policy *pol, const char *ifname);
/* The same, by exact names only (the agent never attaches loopback by glob). */
int policy_fw_for_name(const struct sl_policy *pol, const char *ifname);
/* Does any section want IFNAME? policy_fw_for_iface(pol, ifname) >= 0. */
bool policy_iface_match(const struct sl_policy *pol, const char *ifname);
/* The index of the section called NAME, or -1. */
int policy_find_fw(const struct sl_policy *pol, const char *name);
/* The sections' names, "a, b, c", into BUF (truncated to LEN; "" without any). */
void policy_fw_names(const struct sl_policy *pol, char *buf, size_t len);

/*
 * Section I of POL; for I out of range (-1 from the lookups above, or any
 * index of a policy without firewall) the built-in empty section: no rules,
 * no interfaces, default allow, present false. Never NULL.
 */
const struct sl_firewall *policy_fw(const struct sl_policy *pol, int i);

/*
 * Is any section stateful? Conntrack is one table shared by every section:
 * it runs (TC egress attached, entries created) when at least one is.
 */
bool policy_stateful(const struct sl_policy *pol);

/* All rules of every section (for counts and summaries). */
size_t policy_nrules(const struct sl_policy *pol);

/* The egress entry called NAME, or -1. */
int policy_find_egress(const struct sl_policy *pol, const char *name);
/* Does any egress entry have a backstop interface pattern matching IFNAME? */
bool policy_backstop_match(const struct sl_policy *pol, const char *ifname);

/* A packet as the classifier sees it (fw_tables_classify). */
struct sl_pkt {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t proto;		/* IP protocol number */
	bool has_ports;		/* TCP/UDP and not a non-first fragment */
	uint16_t sport, dport;	/* host order */
	uint8_t src[16], dst[16];
};

/* Text forms used by the printers: "198.51.100.0/24", "2001:db8::/32". */
void sl_prefix_format(const struct sl_prefix *p, char *buf, size_t len);
const char *sl_action_name(enum sluice_action a);
const char *sl_fw_hook_name(enum sl_fw_hook h);

#endif /* SLUICE_POLICY_H */
