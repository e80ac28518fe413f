/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The conntrack test environment, shared by tests/test_ct.c and
 * tests/test_syncookie.c: the XDP and TC skeletons loaded on shared
 * conntrack maps, the table's shards created by lib/ct_shards.c and the
 * sweepers started by ct_start, as the agent does; the firewall policy
 * written the real way (YAML -> compile -> maps), ct_cfg directly. Frames
 * are built here, and entries are checked with keys normalised here,
 * independently of the BPF code.
 *
 * Addresses: the protected host is 192.0.2.1 / 2001:db8::1; remote peers
 * are in 203.0.113.0/24, 198.51.100.0/24, 2001:db8:5::/48.
 */
#ifndef SLUICE_TESTS_CT_ENV_H
#define SLUICE_TESTS_CT_ENV_H

#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include "testlib.h"
#include "xdp_env.h"
#include "ct.h"
#include "sluice_tc.skel.h"

static const char *const POLICY =
	"firewall:\n"
	"  interfaces: [slf0]\n"
	"  default: deny\n"
	"  stateful: false\n"	/* the test turns conntrack on through ct_cfg */
	"  rules:\n"
	"    - name: ssh\n"
	"      action: allow\n"
	"      dst: [192.0.2.1, 2001:db8::1]\n"
	"      proto: tcp\n"
	"      dport: [22]\n"
	"    - name: dns\n"
	"      action: allow\n"
	"      dst: [192.0.2.1, 2001:db8::1]\n"
	"      proto: udp\n"
	"      dport: [53]\n"
	"    - name: ping\n"
	"      action: allow\n"
	"      src: [203.0.113.9, 2001:db8:9::9]\n"
	"      proto: [icmp, icmpv6]\n"
	"    - name: no-telnet\n"
	"      action: deny\n"
	"      proto: tcp\n"
	"      dport: [23]\n";

#define LOCAL4	"192.0.2.1"
#define LOCAL6	"2001:db8::1"
#define PEER4	"203.0.113.5"
#define PEER6	"2001:db8:5::5"

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10

struct ct_env {
	struct xdp_env x;
	struct sluice_tc *tc;
	struct ct_tables tbl;	/* ct4_shards, ct_shards */
	int sweep_fd, cfg_fd, stats_fd, tc_fd;
	uint32_t shards;
	bool shared;		/* a copy of the env most tests share: not closed */
	bool filter;		/* the lookup filter on (ct_cfg.filter): the default */
};

static inline int ct_set_cfg(struct ct_env *e, uint32_t stateful, uint32_t to);

static inline int ct_env_open_policy(struct ct_env *e, uint32_t max_entries, const char *policy)
{
	struct bpf_map *m;
	int err;

	memset(e, 0, sizeof(*e));
	libbpf_set_print(xdp_env_quiet);
	e->x.skel = sluice_xdp__open();
	if (!e->x.skel)
		return -errno;
	err = sluice_xdp__load(e->x.skel);
	if (err) {
		printf("# sluice_xdp load failed: %s\n", strerror(-err));
		return err;
	}
	err = fw_map_fds_from_obj(e->x.skel->obj, &e->x.fds);
	if (err)
		return err;
	e->x.prog_fd = bpf_program__fd(e->x.skel->progs.sluice_xdp);
	e->x.verdict_fd = bpf_map__fd(e->x.skel->maps.sl_verdict_v2);
	e->x.drop_fd = bpf_map__fd(e->x.skel->maps.sl_drop_v2);
	e->x.rule_fd = bpf_map__fd(e->x.skel->maps.fw_rule_cnt_v2);
	snprintf(e->x.dir, sizeof(e->x.dir), "/tmp/slf-ct-XXXXXX");
	if (!mkdtemp(e->x.dir))
		return -errno;
	e->tbl.fd4 = bpf_map__fd(e->x.skel->maps.ct4_shards);
	e->tbl.fd6 = bpf_map__fd(e->x.skel->maps.ct_shards);
	e->sweep_fd = bpf_map__fd(e->x.skel->maps.ct_sweep);
	e->cfg_fd = bpf_map__fd(e->x.skel->maps.ct_cfg);
	e->stats_fd = bpf_map__fd(e->x.skel->maps.ct_stats);
	/* the lookup filter's stamps: what the tests insert is stamped, as the agent does */
	e->tbl.stamps = ct_stamps_map(bpf_map__fd(e->x.skel->maps.ct_stamp));
	if (!e->tbl.stamps)
		return -errno;
	e->filter = true;

	/* The TC program on the same conntrack maps, as the agent pins them. */
	e->tc = sluice_tc__open();
	if (!e->tc)
		return -errno;
	bpf_object__for_each_map(m, e->tc->obj) {
		struct bpf_map *src = bpf_object__find_map_by_name(e->x.skel->obj,
								   bpf_map__name(m));

		if (!src || bpf_map__is_internal(m))
			continue;
		err = bpf_map__reuse_fd(m, bpf_map__fd(src));
		if (err)
			return err;
	}
	err = sluice_tc__load(e->tc);
	if (err) {
		printf("# sluice_tc load failed: %s\n", strerror(-err));
		return err;
	}
	e->tc_fd = bpf_program__fd(e->tc->progs.sluice_tc);
	/* the shards, as the agent creates them (0: the default size) */
	err = ct_shards_create(&e->tbl, max_entries ?: SLUICE_CT_DEFAULT_MAX, &e->shards);
	if (err) {
		printf("# creating the shards failed: %s\n", strerror(-err));
		return err;
	}
	err = ct_set_cfg(e, 0, 0);
	if (err)
		return err;
	return xdp_env_apply(&e->x, policy, 1, NULL);
}

static inline int ct_env_open(struct ct_env *e, uint32_t max_entries)
{
	return ct_env_open_policy(e, max_entries, POLICY);
}

static inline void ct_env_close(struct ct_env *e)
{
	if (e->shared)
		return;
	sluice_tc__destroy(e->tc);
	ct_stamps_unmap(e->tbl.stamps);
	xdp_env_close(&e->x);
}


/* Run ct_start (program FD): the sweepers it started, or -errno. */
static inline int run_start(int fd);

/*
 * Write C with the table's shards and a new generation, then restart the
 * sweepers, as the agent does after every ct_cfg write (a new tick takes
 * effect at once).
 */
static inline int ct_write_cfg(struct ct_env *e, struct sl_ct_config *c)
{
	static uint32_t gen;
	struct sl_ct_config cur, first;
	uint32_t k = 0;
	int n;

	c->shards = e->shards;
	c->gen = ++gen;
	/* the lookup filter, as the agent writes it (agent/conntrack.c) */
	if (bpf_map_lookup_elem(e->cfg_fd, &k, &cur))
		return -errno;
	cur.filter = e->filter;
	if (ct_filter_next(&cur, c, ct_now_ns())) {
		first = cur;
		first.filter_slack = c->filter_slack;
		first.filter_until = c->filter_until;
		if (bpf_map_update_elem(e->cfg_fd, &k, &first, BPF_ANY))
			return -errno;
	}
	c->filter = e->filter;
	e->tbl.stamp_ns = ct_cfg_horizon_ns(c, ct_now_ns());
	if (bpf_map_update_elem(e->cfg_fd, &k, c, BPF_ANY))
		return -errno;
	/* bpf_timer_init allocates without sleeping and can fail (-ENOMEM)
	 * for a moment after a burst: retry as the agent does */
	for (int i = 0; i < 40; i++) {
		n = run_start(bpf_program__fd(e->tc->progs.ct_start));
		if (n < 0)
			return n;
		if ((uint32_t)n == e->shards) {
			if (i)
				printf("# sweepers started at attempt %d\n", i + 1);
			return 0;
		}
		usleep(50000);
	}
	printf("# %d of %u sweepers started after 2 s\n", n, e->shards);
	return -EAGAIN;
}

/* stateful on, every timeout TO seconds (0: the defaults) */
static inline int ct_set_cfg(struct ct_env *e, uint32_t stateful, uint32_t to)
{
	struct sl_ct_config c = { .stateful = stateful };

	for (int i = 0; i < SLUICE_CT_TO_MAX; i++)
		c.timeout[i] = to;
	return ct_write_cfg(e, &c);
}

static inline int ct_set_timeout(struct ct_env *e, int idx, uint32_t secs)
{
	struct sl_ct_config c;
	uint32_t k = 0;

	if (bpf_map_lookup_elem(e->cfg_fd, &k, &c))
		return -errno;
	c.timeout[idx] = secs;
	return ct_write_cfg(e, &c);
}

static inline uint64_t ct_stat(struct ct_env *e, int idx)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t v[ncpu > 0 ? ncpu : 1], sum = 0;
	uint32_t k = idx;

	if (ncpu <= 0 || bpf_map_lookup_elem(e->stats_fd, &k, v))
		return ~0ull;
	for (int i = 0; i < ncpu; i++)
		sum += v[i];
	return sum;
}

/* Entries of every assured shard (UNASSURED: of every unassured shard). */
static inline uint32_t map_count(struct ct_env *e, bool unassured)
{
	uint64_t n[2];

	if (ct_shards_count(&e->tbl, &n[0], &n[1]))
		return ~0u;
	return (uint32_t)n[unassured];
}

/* entries of both kinds: assured and unassured */
static inline uint32_t ct_count(struct ct_env *e)
{
	return map_count(e, false) + map_count(e, true);
}

static inline int ct_flush(struct ct_env *e)
{
	uint64_t n;

	return ct_shards_flush(&e->tbl, &n);
}

static inline int ct_stats_reset(struct ct_env *e)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t zero[ncpu > 0 ? ncpu : 1];

	memset(zero, 0, sizeof(zero));
	for (uint32_t k = 0; k < SLUICE_CT_STAT_MAX; k++)
		if (bpf_map_update_elem(e->stats_fd, &k, zero, BPF_ANY))
			return -errno;
	return 0;
}

/*
 * Opening an env allocates the firewall's 80 MB of tables: most tests share
 * one, emptied (conntrack table, counters) before each.
 */
static inline int ct_env_shared(struct ct_env *e)
{
	static struct ct_env shared;
	static int err = 1;
	int rc;

	/* a failed open leaves nothing for ct_env_close to free */
	memset(e, 0, sizeof(*e));
	e->shared = true;
	if (err == 1)
		err = ct_env_open(&shared, 0);
	if (err)
		return err;
	rc = ct_flush(&shared);
	/* no entry left: no stamp needed (and a test sees only its own) */
	memset(shared.tbl.stamps, 0, SLUICE_CT_STAMPS * sizeof(uint64_t));
	shared.filter = true;
	/*
	 * nor the slack of an earlier test's raised timeouts (which would
	 * keep every stamp live for days): the settings as new, the test
	 * writes its own
	 */
	if (!rc) {
		struct sl_ct_config c = { .shards = shared.shards };
		uint32_t k = 0;

		rc = bpf_map_update_elem(shared.cfg_fd, &k, &c, BPF_ANY) ? -errno : 0;
	}
	if (!rc)
		rc = ct_stats_reset(&shared);
	if (!rc)
		rc = xdp_env_reset_counters(&shared.x);
	*e = shared;
	e->shared = true;
	return rc;
}

/* ---- frames ------------------------------------------------------------- */

struct frame {
	uint8_t b[512];
	size_t len;
};

static inline int family_of(const char *a)
{
	return strchr(a, ':') ? 6 : 4;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* An IP packet (no Ethernet) with payload L4 at OUT; returns its length. */
static inline size_t ip_pkt(uint8_t *out, const char *src, const char *dst, uint8_t proto,
		            const uint8_t *l4, size_t l4len)
{
	if (family_of(src) == 4) {
		memset(out, 0, 20);
		out[0] = 0x45;
		put16(out + 2, 20 + l4len);
		out[8] = 64;
		out[9] = proto;
		inet_pton(AF_INET, src, out + 12);
		inet_pton(AF_INET, dst, out + 16);
		memcpy(out + 20, l4, l4len);
		return 20 + l4len;
	}
	memset(out, 0, 40);
	out[0] = 0x60;
	put16(out + 4, l4len);
	out[6] = proto;
	out[7] = 64;
	inet_pton(AF_INET6, src, out + 8);
	inet_pton(AF_INET6, dst, out + 24);
	memcpy(out + 40, l4, l4len);
	return 40 + l4len;
}

static inline struct frame eth_frame(const char *src, const char *dst, uint8_t proto,
			             const uint8_t *l4, size_t l4len)
{
	struct frame f = { 0 };

	f.b[0] = 0x02;
	f.b[5] = 0x01;
	f.b[6] = 0x02;
	f.b[11] = 0x02;
	put16(f.b + 12, family_of(src) == 4 ? 0x0800 : 0x86dd);
	f.len = 14 + ip_pkt(f.b + 14, src, dst, proto, l4, l4len);
	return f;
}

static inline uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static inline uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The TCP checksum of the segment at L4 (LEN bytes) of the IP packet at IP. */
static inline uint16_t tcp_csum(const uint8_t *ip, const uint8_t *l4, size_t len)
{
	uint8_t ph[40] = { 0 };
	bool v4 = (ip[0] >> 4) == 4;

	if (v4) {
		memcpy(ph, ip + 12, 8);
		ph[9] = 6;
		put16(ph + 10, len);
		return fold(sum16(l4, len, sum16(ph, 12, 0)));
	}
	memcpy(ph, ip + 8, 32);
	put16(ph + 34, len);
	ph[39] = 6;
	return fold(sum16(l4, len, sum16(ph, 40, 0)));
}

/* Fill in the IPv4 header and TCP checksums of frame F (TCP at 14 + IPHL). */
static inline void set_csums(struct frame *f)
{
	uint8_t *ip = f->b + 14;
	bool v4 = (ip[0] >> 4) == 4;
	size_t iphl = v4 ? 20 : 40;
	size_t tcplen = v4 ? (size_t)(ip[2] << 8 | ip[3]) - 20 : (size_t)(ip[4] << 8 | ip[5]);

	if (v4) {
		ip[10] = ip[11] = 0;
		put16(ip + 10, fold(sum16(ip, 20, 0)));
	}
	ip[iphl + 16] = ip[iphl + 17] = 0;
	put16(ip + iphl + 16, tcp_csum(ip, ip + iphl, tcplen));
}

/*
 * A TCP segment with sequence number SEQ, acknowledgment number ACKN and
 * options OPT (OPTLEN bytes, a multiple of 4), both checksums right.
 */
static inline struct frame tcp_opt(const char *src, uint16_t sport, const char *dst,
				   uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ackn,
				   const uint8_t *opt, size_t optlen)
{
	uint8_t h[60] = { 0 };
	struct frame f;

	put16(h, sport);
	put16(h + 2, dport);
	put16(h + 4, seq >> 16);
	put16(h + 6, seq & 0xffff);
	put16(h + 8, ackn >> 16);
	put16(h + 10, ackn & 0xffff);
	h[12] = (uint8_t)((20 + optlen) / 4) << 4;
	h[13] = flags;
	put16(h + 14, 65535);
	if (optlen)
		memcpy(h + 20, opt, optlen);
	f = eth_frame(src, dst, 6, h, 20 + optlen);
	set_csums(&f);
	return f;
}

/* A TCP segment with sequence number SEQ and acknowledgment number ACKN. */
static inline struct frame tcp_sa(const char *src, uint16_t sport, const char *dst,
				  uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ackn)
{
	return tcp_opt(src, sport, dst, dport, flags, seq, ackn, NULL, 0);
}

/* Sequence numbers 0 both ways: an ACK acknowledges 1 (the peer's SYN or SYN-ACK). */
static inline struct frame tcp(const char *src, uint16_t sport, const char *dst, uint16_t dport,
			       uint8_t flags)
{
	return tcp_sa(src, sport, dst, dport, flags, 0, flags & ACK ? 1 : 0);
}

static inline struct frame udp(const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	uint8_t h[12] = { 0 };

	put16(h, sport);
	put16(h + 2, dport);
	put16(h + 4, sizeof(h));
	return eth_frame(src, dst, 17, h, sizeof(h));
}

static inline uint8_t icmp_proto(const char *a)
{
	return family_of(a) == 4 ? 1 : 58;
}

/* echo request (REQ) or reply with identifier ID */
static inline struct frame echo(const char *src, const char *dst, bool req, uint16_t id)
{
	bool v4 = family_of(src) == 4;
	uint8_t h[16] = { 0 };

	h[0] = v4 ? (req ? 8 : 0) : (req ? 128 : 129);
	put16(h + 4, id);
	put16(h + 6, 1);
	return eth_frame(src, dst, icmp_proto(src), h, sizeof(h));
}

/* ICMP error TYPE/CODE from SRC to DST quoting the IP packet in QUOTED (as
 * routers do: the IP header and the first 8 octets of its payload). */
static inline struct frame icmp_err(const char *src, const char *dst, uint8_t type,
			            const struct frame *quoted)
{
	uint8_t h[8 + 60 + 8] = { 0 };
	size_t iphl = family_of(src) == 4 ? 20 : 40;

	h[0] = type;
	memcpy(h + 8, quoted->b + 14, iphl + 8);
	return eth_frame(src, dst, icmp_proto(src), h, 8 + iphl + 8);
}

static inline uint32_t run_prog(int fd, const struct frame *f)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = f->b,
		.data_size_in = (uint32_t)f->len,
		.repeat = 1,
	);

	if (bpf_prog_test_run_opts(fd, &opts)) {
		printf("# BPF_PROG_TEST_RUN: %s\n", strerror(errno));
		return ~0u;
	}
	return opts.retval;
}

/* through the firewall, ingress: XDP, or tcx after OPEN_HOOK(..., true) */
static inline uint32_t in(struct ct_env *e, struct frame f)
{
	return xdp_env_verdict(&e->x, run_prog(e->x.prog_fd, &f));
}

/* through TC egress: leaves the host, always TCX_NEXT (the chain goes on) */
static inline bool out(struct ct_env *e, struct frame f)
{
	return ASSERT_EQ(run_prog(e->tc_fd, &f), (uint32_t)-1, "tc egress verdict");
}

/* ---- entries, keyed here independently of the BPF code ------------------ */

struct tuple {
	const char *src, *dst;
	uint16_t sport, dport;	/* ICMP echo: the identifier in both */
	uint8_t proto;
};

/* The normalised key of T, and whether T's source is endpoint a. */
static inline struct sl_ct_key key_of(const struct tuple *t, bool *src_is_a)
{
	struct sl_ct_key k;
	uint8_t s[16] = { 0 }, d[16] = { 0 };
	int fam = family_of(t->src), c;

	inet_pton(fam == 4 ? AF_INET : AF_INET6, t->src, s);
	inet_pton(fam == 4 ? AF_INET : AF_INET6, t->dst, d);
	c = memcmp(s, d, 16);
	if (!c)
		c = t->sport < t->dport ? -1 : t->sport > t->dport;
	memset(&k, 0, sizeof(k));
	*src_is_a = c <= 0;
	memcpy(k.addr_a, c <= 0 ? s : d, 16);
	memcpy(k.addr_b, c <= 0 ? d : s, 16);
	k.port_a = htons(c <= 0 ? t->sport : t->dport);
	k.port_b = htons(c <= 0 ? t->dport : t->sport);
	k.proto = t->proto;
	k.family = fam;
	return k;
}

/*
 * The entry of T (looked up from either direction) among the connections
 * (UNASSURED false) or the unassured ones: 0, or -ENOENT.
 */
static inline int entry_in(struct ct_env *e, bool unassured, struct tuple t, struct sl_ct_entry *v,
		           bool *src_is_a)
{
	struct sl_ct_key k = key_of(&t, src_is_a);
	struct sl_ct_key4 k4;
	bool v4 = k.family == 4;
	int fd = ct_shard_fd(v4 ? e->tbl.fd4 : e->tbl.fd6, ct_key_shard(&k, e->shards), unassured);
	int err;

	if (fd < 0)
		return fd;
	ct_key4_of(&k, &k4);
	err = bpf_map_lookup_elem(fd, v4 ? (void *)&k4 : (void *)&k, v) ? -errno : 0;
	close(fd);
	return err;
}

static inline void ct_delete(struct ct_env *e, struct tuple t)
{
	bool a;
	struct sl_ct_key k = key_of(&t, &a);

	ct_shards_delete(&e->tbl, e->shards, &k, false);
	ct_shards_delete(&e->tbl, e->shards, &k, true);
}

/* The entry of T, assured or not: 0, or -ENOENT. */
static inline int entry_of(struct ct_env *e, struct tuple t, struct sl_ct_entry *v, bool *src_is_a)
{
	if (!entry_in(e, false, t, v, src_is_a))
		return 0;
	return entry_in(e, true, t, v, src_is_a);
}

static inline bool has_entry(struct ct_env *e, struct tuple t)
{
	struct sl_ct_entry v;
	bool a;

	return entry_of(e, t, &v, &a) == 0;
}

/* State of T's entry, or -1 when there is none. */
static inline int state_of(struct ct_env *e, struct tuple t)
{
	struct sl_ct_entry v;
	bool a;

	return entry_of(e, t, &v, &a) ? -1 : v.state;
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/* Poll until T's entry is gone, at most LIMIT s; returns the time it took or -1. */
static inline double wait_gone(struct ct_env *e, struct tuple t, double limit)
{
	double t0 = now_s();

	while (now_s() - t0 < limit) {
		if (!has_entry(e, t))
			return now_s() - t0;
		sleep_s(0.02);
	}
	return -1;
}

/* Poll until the table is empty, at most LIMIT s. */
static inline bool wait_empty(struct ct_env *e, double limit)
{
	double t0 = now_s();

	while (ct_count(e)) {
		if (now_s() - t0 > limit)
			return false;
		sleep_s(0.05);
	}
	return true;
}

static inline int run_start(int fd)
{
	struct frame f = udp(LOCAL4, 1, LOCAL4, 2);
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = f.b,
		.data_size_in = (uint32_t)f.len,
		.repeat = 1,
	);

	if (bpf_prog_test_run_opts(fd, &opts))
		return -errno;
	return (int)opts.retval;
}

#define OPEN(e, to)								\
	if (!ASSERT_OK(ct_env_shared(&(e)), "open") ||			\
	    !ASSERT_OK(ct_set_cfg(&(e), 1, (to)), "ct_cfg"))			\
		goto out

/* The same, the firewall on the tc hook (TC) or XDP: the env is a copy. */
#define OPEN_HOOK(e, to, tc)							\
	OPEN(e, to);								\
	xdp_env_hook(&(e).x, (tc))

#endif /* SLUICE_TESTS_CT_ENV_H */
