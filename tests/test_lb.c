// SPDX-License-Identifier: GPL-2.0-only
/*
 * The load balancer, packet by packet, with BPF_PROG_TEST_RUN: a frame in,
 * the exact frame out. Expected frames are built here from scratch, their
 * checksums computed in full by this file's own code (RFC 1071), and
 * compared byte for byte with what the datapath wrote. The policy goes the
 * real way (YAML -> parser -> fw_compile + lb_apply).
 *
 * bpf_fib_lookup needs routes and neighbours: the test runs in a network
 * namespace of its own (tests/lb_testnet.h).
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/bpf.h>

#include "ct.h"
#include "lb_testnet.h"
#include "lb_maps.h"
#include "testlib.h"
#include "xdp_env.h"

#define VIP4_NAT	"192.0.2.10"
#define VIP4_DSR	"192.0.2.20"
#define VIP6_NAT	"2001:db8:a::10"
#define VIP6_DSR	"2001:db8:a::20"
#define CLIENT4		"203.0.113.50"
#define CLIENT6		"2001:db8:c::50"
#define OTHER4		"203.0.113.99"

static const uint8_t MAC_IF0[6] = { LB_TESTNET_MAC_IF0 };
static const uint8_t MAC_IF1[6] = { LB_TESTNET_MAC_IF1 };
static const uint8_t MAC_CLIENT[6] = { LB_TESTNET_MAC_CLIENT };
static const uint8_t MAC_PEER[6] = { 0x02, 0xee, 0, 0, 0, 0x01 };	/* a frame's source */

/* Backend N (11..13, 21..22): its MAC as the neighbour table has it (02:bb:00:00:00:N). */
static void be_mac(uint8_t *mac, int n)
{
	const uint8_t m[6] = { 0x02, 0xbb, 0, 0, 0, (uint8_t)(n / 10 * 16 + n % 10) };

	memcpy(mac, m, 6);
}

static const char *const POLICY =
	"firewall:\n"
	"  interfaces: [\"slt*\"]\n"
	"  default: allow\n"
	"  stateful: false\n"
	"loadbalancers:\n"
	"  - name: web4\n"
	"    vip: " VIP4_NAT "\n"
	"    port: 80\n"
	"    backends:\n"
	"      - { addr: 198.51.100.11, port: 8080 }\n"
	"      - { addr: 198.51.100.12, port: 8080, weight: 2 }\n"
	"      - { addr: 198.51.100.13, port: 8080 }\n"
	"  - name: dns4\n"
	"    vip: " VIP4_NAT "\n"
	"    port: 53\n"
	"    proto: udp\n"
	"    backends:\n"
	"      - { addr: 198.51.100.21, port: 5353 }\n"
	"  - name: dsr4\n"
	"    vip: " VIP4_DSR "\n"
	"    port: 80\n"
	"    mode: dsr\n"
	"    encap-source: 198.51.100.0/24\n"
	"    backends:\n"
	"      - { addr: 198.51.100.11, port: 80 }\n"
	"      - { addr: 198.51.100.12, port: 80 }\n"
	"  - name: web6\n"
	"    vip: \"" VIP6_NAT "\"\n"
	"    port: 80\n"
	"    backends:\n"
	"      - { addr: \"2001:db8:b::11\", port: 8080 }\n"
	"      - { addr: \"2001:db8:b::12\", port: 8080 }\n"
	"  - name: dns6\n"
	"    vip: \"" VIP6_NAT "\"\n"
	"    port: 53\n"
	"    proto: udp\n"
	"    backends:\n"
	"      - { addr: \"2001:db8:b::21\", port: 5353 }\n"
	"  - name: dsr6\n"
	"    vip: \"" VIP6_DSR "\"\n"
	"    port: 443\n"
	"    mode: dsr\n"
	"    encap-source: \"2001:db8:b::/112\"\n"
	"    backends:\n"
	"      - { addr: \"2001:db8:b::11\", port: 443 }\n";

/* ---- environment: sluice_xdp with a policy and its load balancer ---- */

static int if0, if1;	/* slt0, slt1 */

static int sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc)
		printf("# command failed (%d): %s\n", rc, cmd);
	return rc;
}

struct lb_env {
	struct xdp_env x;
	struct lb_state *st;
};

/*
 * One program load for the whole file (loading sluice_xdp and writing a
 * policy slot is most of a test's time): each test gets it with its policy
 * applied as a new generation, the flow tables emptied and the counters
 * zeroed, so no test sees another's flows.
 */
static struct lb_env shared;
static uint64_t shared_gen;
static const char *shared_yaml;	/* the policy in force (the same text is not applied again) */

/* The fd of flow table W: lb_flowtab[LB_FLOWS], [LB_REVERSE], 2: lb_flowtab4[0]; or -1. */
static int flowtab_fd(struct lb_env *e, __u32 w)
{
	__u32 id, slot = w < 2 ? w : 0;

	if (bpf_map_lookup_elem(w < 2 ? e->st->fds.flowtab : e->st->fds.flowtab4, &slot, &id))
		return -1;
	return bpf_map_get_fd_by_id(id);
}

#define FLOWS4	2	/* flowtab_fd: the IPv4 flows */

static void flows_clear(struct lb_env *e)
{
	for (__u32 w = 0; w < 3; w++) {
		struct lb_flow_key k, next;	/* room for either key size */
		int fd = flowtab_fd(e, w);

		while (fd >= 0 && !bpf_map_get_next_key(fd, NULL, &next)) {
			k = next;
			bpf_map_delete_elem(fd, &k);
		}
		if (fd >= 0)
			close(fd);
	}
}

/* The next hops kept per client for NAT replies (lb_cnh): none. */
static int cnh_clear(struct lb_env *e)
{
	const struct bpf_map *m = e->x.skel->maps.lb_cnh;
	size_t vs = (bpf_map__value_size(m) + 7) / 8 * 8;
	void *z = calloc(libbpf_num_possible_cpus(), vs);
	int err = z ? 0 : -ENOMEM;

	for (__u32 i = 0; !err && i < bpf_map__max_entries(m); i++)
		if (bpf_map_update_elem(bpf_map__fd(m), &i, z, BPF_ANY))
			err = -errno;
	free(z);
	return err;
}

/* Counters, and the next hops kept per backend (a route changed: as after their TTL). */
static int counters_clear(struct lb_env *e)
{
	int ncpu = libbpf_num_possible_cpus();
	struct lb_nexthop *z = calloc(ncpu, sizeof(*z));
	int err = z ? xdp_env_reset_counters(&e->x) : -ENOMEM;

	for (__u32 i = 0; !err && i < SLUICE_LB_BACKENDS_MAX; i++)
		if (bpf_map_update_elem(e->st->fds.be_stats, &i, z, BPF_ANY) ||
		    bpf_map_update_elem(e->st->fds.nh, &i, z, BPF_ANY))
			err = -errno;
	for (__u32 i = 0; !err && i < SLUICE_LB_STAT_MAX; i++)
		if (bpf_map_update_elem(e->st->fds.stats, &i, z, BPF_ANY))
			err = -errno;
	free(z);
	return err ? err : cnh_clear(e);
}

/* Apply YAML again (a policy change: same state, new generation); E is the shared one. */
static int lb_env_reapply(struct lb_env *e, const char *yaml, uint64_t gen)
{
	struct sl_diags d = {};
	int err = xdp_env_apply(&shared.x, yaml, gen, NULL);

	if (!err)
		err = lb_apply(shared.st, &shared.x.pol, gen, &d);
	shared_yaml = err ? NULL : yaml;
	*e = shared;
	for (size_t i = 0; i < d.n; i++)
		printf("# %s:%d:%d: %s\n", d.v[i].file ? d.v[i].file : "-", d.v[i].line,
		       d.v[i].col, d.v[i].msg);
	sl_diags_free(&d);
	return err;
}

static int lb_env_open(struct lb_env *e, const char *yaml)
{
	struct lb_fds fds;
	int err;

	memset(e, 0, sizeof(*e));
	if (!shared.st) {
		if (lb_testnet_setup(&if0, &if1) || xdp_env_open(&shared.x))
			return -1;
		shared.st = calloc(1, sizeof(*shared.st));
		if (!shared.st || lb_fds_from_obj(shared.x.skel->obj, &fds) ||
		    lb_state_init(shared.st, &fds))
			return -1;
		shared.st->flow_entries = 4096;
		/* both sides may be sent to; decapsulation on the backend side */
		if (lb_devmap_set(shared.st, if0, true) || lb_devmap_set(shared.st, if1, true) ||
		    lb_decap_if_set(shared.st, if1, true))
			return -1;
	}
	/* conntrack off unless the test turns it on */
	if (bpf_map_update_elem(bpf_map__fd(shared.x.skel->maps.ct_cfg), &(__u32){ 0 },
				&(struct sl_ct_config){ 0 }, BPF_ANY))
		return -errno;
	err = yaml == shared_yaml ? 0 : lb_env_reapply(&shared, yaml, ++shared_gen);
	if (err)
		return err;
	flows_clear(&shared);
	err = counters_clear(&shared);
	if (!err)
		*e = shared;
	return err;
}

/* The shared environment stays for the next test; it goes at exit. */
static void lb_env_close(struct lb_env *e)
{
	memset(e, 0, sizeof(*e));
}

__attribute__((destructor)) static void lb_env_free(void)
{
	if (shared.st)
		lb_state_free(shared.st);
	free(shared.st);
	if (shared.x.skel)
		xdp_env_close(&shared.x);
}

/* Run one frame received on IFINDEX; OUT gets the frame after. */
static int run(struct lb_env *e, int ifindex, const uint8_t *in, size_t len, __u32 *ret,
	       uint8_t *out, size_t *outlen)
{
	struct xdp_md ctx = { .ingress_ifindex = (__u32)ifindex, .data_end = (__u32)len };
	LIBBPF_OPTS(bpf_test_run_opts, o,
		.data_in = in,
		.data_size_in = (__u32)len,
		.data_out = out,
		.data_size_out = 2048,
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.repeat = 1,
	);

	if (bpf_prog_test_run_opts(e->x.prog_fd, &o))
		return -errno;
	*ret = o.retval;
	*outlen = o.data_size_out;
	return 0;
}

/* ---- frames, built from scratch (RFC 1071 checksums computed in full) ---- */

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* The IPv4 header at IP, its checksum computed again after a change. */
static void ip4_recsum(uint8_t *ip)
{
	put16(ip + 10, 0);
	put16(ip + 10, fold(sum16(ip, 20, 0)));
}

struct spec {
	int family;			/* 4 or 6 */
	uint8_t proto;			/* 6, 17, 1, 58 */
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t tcp_flags;
	size_t payload;			/* bytes of payload (0x5a each) */
	bool udp_nocsum;		/* IPv4 UDP with checksum 0 */
	bool df;
	uint8_t ttl;			/* TTL or hop limit; 0: 64 */
	const uint8_t *smac, *dmac;
};

static void addr_of(int family, const char *s, uint8_t *out)
{
	memset(out, 0, 16);
	inet_pton(family == 4 ? AF_INET : AF_INET6, s, out);
}

/* The L4 checksum of L4 (LEN bytes) between SRC and DST (pseudo-header). */
static uint16_t l4_csum(int family, uint8_t proto, const uint8_t *src, const uint8_t *dst,
			const uint8_t *l4, size_t len)
{
	uint32_t s = 0;
	uint8_t ph[4];

	s = sum16(src, family == 4 ? 4 : 16, s);
	s = sum16(dst, family == 4 ? 4 : 16, s);
	put16(ph, 0);
	ph[2] = (uint8_t)(len >> 8);
	ph[3] = (uint8_t)len;
	if (family == 4) {
		s += proto;
		s += (uint32_t)len;
	} else {
		s += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff) + proto;
	}
	(void)ph;
	return fold(sum16(l4, len, s));
}

/* Write the IP header (checksummed) at P for a payload of PLEN bytes; its length. */
static size_t ip_hdr(uint8_t *p, int family, uint8_t proto, const uint8_t *src,
		     const uint8_t *dst, size_t plen, bool df, uint8_t ttl)
{
	ttl = ttl ? ttl : 64;
	if (family == 4) {
		memset(p, 0, 20);
		p[0] = 0x45;
		put16(p + 2, (uint16_t)(20 + plen));
		put16(p + 4, 0x1234);
		put16(p + 6, df ? 0x4000 : 0);
		p[8] = ttl;
		p[9] = proto;
		memcpy(p + 12, src, 4);
		memcpy(p + 16, dst, 4);
		put16(p + 10, fold(sum16(p, 20, 0)));
		return 20;
	}
	memset(p, 0, 40);
	p[0] = 0x60;
	put16(p + 4, (uint16_t)plen);
	p[6] = proto;
	p[7] = ttl;
	memcpy(p + 8, src, 16);
	memcpy(p + 24, dst, 16);
	return 40;
}

/*
 * Ethernet (DMAC, SMAC) and an IP header as sluice writes its own (an outer
 * header, an ICMP error) at W: IPv4 with id 0 and TTL 64; for IPv6 the first
 * four bytes (version, class, flow label) are taken from OUT, the frame the
 * datapath wrote, its version checked. Returns the offset after them.
 */
static size_t own_hdr(uint8_t *w, const uint8_t *out, const uint8_t *dmac, const uint8_t *smac,
		      int family, uint8_t proto, const uint8_t *src, const uint8_t *dst,
		      size_t plen)
{
	memcpy(w, dmac, 6);
	memcpy(w + 6, smac, 6);
	put16(w + 12, family == 4 ? 0x0800 : 0x86dd);
	ip_hdr(w + 14, family, proto, src, dst, plen, false, 0);
	if (family == 4) {
		put16(w + 14 + 4, 0);
		ip4_recsum(w + 14);
		return 14 + 20;
	}
	memcpy(w + 14, out + 14, 4);
	tl_check(out[14] >> 4 == 6, __FILE__, __LINE__, "outer version %u", out[14] >> 4);
	return 14 + 40;
}

/* An Ethernet frame from S into BUF; its length. */
static size_t build(uint8_t *buf, const struct spec *s)
{
	uint8_t src[16], dst[16], *l3, *l4;
	size_t hl, l4len;

	addr_of(s->family, s->src, src);
	addr_of(s->family, s->dst, dst);
	memcpy(buf, s->dmac ? s->dmac : MAC_IF0, 6);
	memcpy(buf + 6, s->smac ? s->smac : MAC_PEER, 6);
	put16(buf + 12, s->family == 4 ? 0x0800 : 0x86dd);
	l3 = buf + 14;
	l4len = (s->proto == 6 ? 20 : 8) + s->payload;
	hl = ip_hdr(l3, s->family, s->proto, src, dst, l4len, s->df, s->ttl);
	l4 = l3 + hl;
	memset(l4, 0, l4len);
	memset(l4 + l4len - s->payload, 0x5a, s->payload);
	put16(l4, s->sport);
	put16(l4 + 2, s->dport);
	if (s->proto == 6) {
		put16(l4 + 4, 0x0102);
		l4[12] = 5 << 4;
		l4[13] = s->tcp_flags;
		put16(l4 + 14, 0xffff);
		put16(l4 + 16, l4_csum(s->family, 6, src, dst, l4, l4len));
	} else {
		put16(l4 + 4, (uint16_t)l4len);
		if (!s->udp_nocsum) {
			uint16_t c = l4_csum(s->family, 17, src, dst, l4, l4len);

			put16(l4 + 6, c ? c : 0xffff);
		}
	}
	return 14 + hl + l4len;
}

/* Compare OUT with WANT; print the first differing byte. */
static bool same(const char *what, const uint8_t *out, size_t olen, const uint8_t *want,
		 size_t wlen)
{
	if (olen != wlen)
		return tl_check(false, __FILE__, __LINE__, "%s: %zu bytes out, want %zu", what,
				olen, wlen);
	for (size_t i = 0; i < olen; i++)
		if (out[i] != want[i])
			return tl_check(false, __FILE__, __LINE__, "%s: byte %zu is %02x, want %02x",
					what, i, out[i], want[i]);
	return true;
}

/*
 * The backend a frame OUT was sent to: N of 198.51.100.N or 2001:db8:b::N
 * (11..22), or -1.
 */
static int dst_backend(const uint8_t *out, int family)
{
	const uint8_t *d = out + 14 + (family == 4 ? 16 : 24);
	uint8_t want[16];

	addr_of(family, family == 4 ? "198.51.100.0" : "2001:db8:b::", want);
	if (memcmp(d, want, family == 4 ? 3 : 15))
		return -1;
	return family == 4 ? d[3] : (d[15] >> 4) * 10 + (d[15] & 15);
}

static void be_addr(int family, int n, char *buf, size_t len)
{
	if (family == 4)
		snprintf(buf, len, "198.51.100.%d", n);
	else
		snprintf(buf, len, "2001:db8:b::%d", n);
}

/*
 * S readdressed as the load balancer sends it to backend N in NAT mode: to
 * N's address (written into BADDR, LEN bytes) and PORT, from this host's
 * backend-side MAC to N's (into BMAC), with one hop less (a TTL or hop
 * limit of 0 stands for 64, as in build).
 */
static void to_backend(struct spec *s, int n, uint16_t port, char *baddr, size_t len,
		       uint8_t *bmac)
{
	be_addr(s->family, n, baddr, len);
	be_mac(bmac, n);
	s->dst = baddr;
	s->dport = port;
	s->smac = MAC_IF1;
	s->dmac = bmac;
	s->ttl = (uint8_t)((s->ttl ? s->ttl : 64) - 1);
}

/*
 * Send the frame of S from the client side and return the backend N it went
 * to (198.51.100.N / 2001:db8:b::N), with its address in BADDR and its MAC
 * in BMAC; -1 when it was not forwarded to one.
 */
static int open_flow(struct lb_env *e, const struct spec *s, char *baddr, size_t len,
		     uint8_t *bmac)
{
	uint8_t in[256], out[2048];
	size_t n = build(in, s), olen;
	__u32 ret;
	int be;

	if (run(e, if0, in, n, &ret, out, &olen))
		return -1;
	be = dst_backend(out, s->family);
	if (be < 0)
		return -1;
	be_addr(s->family, be, baddr, len);
	be_mac(bmac, be);
	return be;
}

/* ---- NAT ---- */

/*
 * A TCP SYN and then an ACK of the same flow to the NAT VIP: both go to
 * one backend, rewritten to its address and port, checksums correct, out
 * of the backend side (XDP_REDIRECT through lb_devmap) with that
 * interface's MAC and the backend's; one new flow counted, two packets.
 */
static void nat_tcp(int family)
{
	struct spec s = { .family = family, .proto = 6, .src = family == 4 ? CLIENT4 : CLIENT6,
			  .dst = family == 4 ? VIP4_NAT : VIP6_NAT, .sport = 40001, .dport = 80,
			  .tcp_flags = 0x02, .payload = 0 };
	uint8_t in[256], out[2048], want[256], bmac[6];
	struct lb_be_counter cnt;
	size_t n, olen, wlen;
	struct lb_env e;
	char baddr[64];
	__u32 ret;
	int be, be2, id;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run SYN"))
		goto out;
	ASSERT_EQ(ret, XDP_REDIRECT, "SYN to the VIP: redirected to the backend side");
	be = dst_backend(out, family);
	if (!ASSERT_TRUE(be >= 11 && be <= 13, "sent to a backend of the service"))
		goto out;
	/* the same frame, addressed to that backend, from this host's backend-side MAC */
	to_backend(&s, be, 8080, baddr, sizeof(baddr), bmac);
	wlen = build(want, &s);
	same("NAT SYN", out, olen, want, wlen);

	s = (struct spec){ .family = family, .proto = 6, .src = s.src,
			   .dst = family == 4 ? VIP4_NAT : VIP6_NAT, .sport = 40001, .dport = 80,
			   .tcp_flags = 0x10, .payload = 100 };
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run ACK"))
		goto out;
	be2 = dst_backend(out, family);
	ASSERT_EQ(be2, be, "established flow: the same backend");
	to_backend(&s, be, 8080, baddr, sizeof(baddr), bmac);
	wlen = build(want, &s);
	same("NAT established", out, olen, want, wlen);

	{
		struct lb_svc_key k = { .port = htons(80), .proto = 6, .family = (uint8_t)family };
		uint8_t a[16];

		addr_of(family, family == 4 ? VIP4_NAT : VIP6_NAT, k.vip);
		addr_of(family, baddr, a);
		id = lb_backend_id(e.st, &k, a, 8080);
		if (ASSERT_TRUE(id >= 0, "backend id") &&
		    ASSERT_OK(lb_be_counters(e.st, (uint32_t)id, &cnt), "counters")) {
			ASSERT_EQ(cnt.new_flows, 1, "one new flow");
			ASSERT_EQ(cnt.packets, 2, "two packets");
		}
	}
out:
	lb_env_close(&e);
}

TEST(lb_nat_v4_tcp_new_and_established)
{
	nat_tcp(4);
}

TEST(lb_nat_v6_tcp_new_and_established)
{
	nat_tcp(6);
}

/*
 * UDP: the checksum is updated; an IPv4 datagram without one (0) keeps 0.
 * Then the backend's reply comes back as from VIP:53, to the client side.
 */
static void nat_udp(int family, bool nocsum)
{
	const char *vip = family == 4 ? VIP4_NAT : VIP6_NAT, *cl = family == 4 ? CLIENT4 :
								    CLIENT6;
	struct spec s = { .family = family, .proto = 17, .src = cl, .dst = vip, .sport = 5000,
			  .dport = 53, .payload = 33, .udp_nocsum = nocsum };
	uint8_t in[256], out[2048], want[256], bmac[6];
	size_t n, olen, wlen;
	struct lb_env e;
	char baddr[64];
	__u32 ret;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run"))
		goto out;
	ASSERT_EQ(ret, XDP_REDIRECT, "redirected");
	to_backend(&s, 21, 5353, baddr, sizeof(baddr), bmac);
	wlen = build(want, &s);
	same(nocsum ? "UDP, checksum 0 stays 0" : "UDP", out, olen, want, wlen);

	/* the reply: backend:5353 -> client:5000 arrives on the backend side */
	s = (struct spec){ .family = family, .proto = 17, .src = baddr, .dst = cl, .sport = 5353,
			   .dport = 5000, .payload = 70, .udp_nocsum = nocsum, .dmac = MAC_IF1,
			   .smac = bmac };
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if1, in, n, &ret, out, &olen), "run reply"))
		goto out;
	ASSERT_EQ(ret, XDP_REDIRECT, "reply redirected to the client side");
	s.src = vip;
	s.sport = 53;
	s.smac = MAC_IF0;
	s.dmac = MAC_CLIENT;
	s.ttl = 63;	/* the hop it took through the load balancer */
	wlen = build(want, &s);
	same("NAT reply: from VIP:port", out, olen, want, wlen);
out:
	lb_env_close(&e);
}

TEST(lb_nat_v4_udp_and_reply)
{
	nat_udp(4, false);
}

TEST(lb_nat_v4_udp_zero_checksum_stays_zero)
{
	nat_udp(4, true);
}

TEST(lb_nat_v6_udp_and_reply)
{
	nat_udp(6, false);
}

/* A TCP reply (SYN-ACK with data) of a NAT flow: source back to VIP:80. */
static void nat_tcp_reply(int family)
{
	const char *vip = family == 4 ? VIP4_NAT : VIP6_NAT, *cl = family == 4 ? CLIENT4 :
								    CLIENT6;
	struct spec s = { .family = family, .proto = 6, .src = cl, .dst = vip, .sport = 40100,
			  .dport = 80, .tcp_flags = 0x02 };
	uint8_t in[512], out[2048], want[512], bmac[6];
	size_t n, olen, wlen;
	struct lb_env e;
	char baddr[64];
	__u32 ret;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open") ||
	    !ASSERT_TRUE(open_flow(&e, &s, baddr, sizeof(baddr), bmac) > 0, "SYN balanced"))
		goto out;
	s = (struct spec){ .family = family, .proto = 6, .src = baddr, .dst = cl, .sport = 8080,
			   .dport = 40100, .tcp_flags = 0x12, .payload = 200, .dmac = MAC_IF1,
			   .smac = bmac };
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if1, in, n, &ret, out, &olen), "run reply"))
		goto out;
	ASSERT_EQ(ret, XDP_REDIRECT, "reply redirected to the client side");
	s.src = vip;
	s.sport = 80;
	s.smac = MAC_IF0;
	s.dmac = MAC_CLIENT;
	s.ttl = 63;	/* the hop it took through the load balancer */
	wlen = build(want, &s);
	same("NAT TCP reply", out, olen, want, wlen);
	/* the same backend port from another client port: not a flow, untouched */
	s = (struct spec){ .family = family, .proto = 6, .src = baddr, .dst = cl, .sport = 8080,
			   .dport = 40101, .tcp_flags = 0x10, .dmac = MAC_IF1, .smac = bmac };
	n = build(in, &s);
	if (ASSERT_OK(run(&e, if1, in, n, &ret, out, &olen), "run stray")) {
		ASSERT_EQ(ret, XDP_PASS, "not a NAT flow: to the stack");
		same("stray packet untouched", out, olen, in, n);
	}
out:
	lb_env_close(&e);
}

TEST(lb_nat_v4_tcp_reply)
{
	nat_tcp_reply(4);
}

TEST(lb_nat_v6_tcp_reply)
{
	nat_tcp_reply(6);
}

/* Not for a VIP, or for a VIP's other port: XDP_PASS, not a byte changed. */
TEST(lb_non_vip_untouched)
{
	const struct spec cases[] = {
		{ .family = 4, .proto = 6, .src = CLIENT4, .dst = OTHER4, .sport = 1, .dport = 80,
		  .tcp_flags = 2 },
		{ .family = 4, .proto = 6, .src = CLIENT4, .dst = VIP4_NAT, .sport = 1,
		  .dport = 81, .tcp_flags = 2 },
		{ .family = 4, .proto = 17, .src = CLIENT4, .dst = VIP4_NAT, .sport = 1,
		  .dport = 80 },
		{ .family = 6, .proto = 6, .src = CLIENT6, .dst = "2001:db8:a::99", .sport = 1,
		  .dport = 80, .tcp_flags = 2 },
	};
	uint8_t in[256], out[2048];
	struct lb_env e;
	size_t n, olen;
	__u32 ret;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = build(in, &cases[i]);
		if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run"))
			break;
		ASSERT_EQ(ret, XDP_PASS, "passed");
		same("untouched", out, olen, in, n);
	}
out:
	lb_env_close(&e);
}

/* ---- DSR ---- */

/*
 * DSR: the frame leaves as IP-in-IP (IPv6-in-IPv6) to the backend: an outer
 * header from the service's encap-source prefix to the backend, the inner
 * packet unchanged to the byte. Two client ports give two outer sources.
 */
static void dsr(int family)
{
	const char *vip = family == 4 ? VIP4_DSR : VIP6_DSR, *cl = family == 4 ? CLIENT4 :
								    CLIENT6;
	uint16_t port = family == 4 ? 80 : 443;
	uint8_t in[512], out[2048], want[600], bmac[6], osrc[2][16];
	size_t n, olen, hl = family == 4 ? 20 : 40;
	struct lb_env e;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	for (int k = 0; k < 2; k++) {
		struct spec s = { .family = family, .proto = 6, .src = cl, .dst = vip,
				  .sport = (uint16_t)(41000 + k * 7), .dport = port,
				  .tcp_flags = 0x02, .payload = 10 };
		uint8_t src[16], dst[16];
		char baddr[64];
		__u32 ret;
		int be;

		n = build(in, &s);
		/* the second flow's IPv4 packets carry a TOS (DSCP EF): the outer header's too */
		if (family == 4 && k) {
			in[15] = 0xb8;
			ip4_recsum(in + 14);
		}
		if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run"))
			goto out;
		ASSERT_EQ(ret, XDP_REDIRECT, "encapsulated to the backend side");
		be = dst_backend(out, family);
		if (!ASSERT_TRUE(be == 11 || be == 12, "a backend of the service"))
			goto out;
		be_addr(family, be, baddr, sizeof(baddr));
		be_mac(bmac, be);
		/* the outer source: in the prefix; the rest is checked by rebuilding */
		memcpy(src, out + 14 + (family == 4 ? 12 : 8), 16);
		memcpy(osrc[k], src, 16);
		if (family == 4)
			ASSERT_TRUE(!memcmp(src, "\xc6\x33\x64", 3), "outer source in 198.51.100.0/24");
		else
			ASSERT_TRUE(!memcmp(src, "\x20\x01\x0d\xb8\x00\x0b\0\0\0\0\0\0\0\0", 14),
				    "outer source in 2001:db8:b::/112");
		addr_of(family, baddr, dst);
		own_hdr(want, out, bmac, MAC_IF1, family, family == 4 ? 4 : 41, src, dst, n - 14);
		if (family == 4) {
			want[15] = in[15];
			ip4_recsum(want + 14);
		}
		memcpy(want + 14 + hl, in + 14, n - 14);
		same("DSR frame", out, olen, want, 14 + hl + n - 14);
	}
	ASSERT_TRUE(memcmp(osrc[0], osrc[1], 16), "two flows, two outer sources");
out:
	lb_env_close(&e);
}

TEST(lb_dsr_v4_ipip)
{
	dsr(4);
}

TEST(lb_dsr_v6_ip6ip6)
{
	dsr(6);
}

/*
 * DSR and the MTU: a 1400-byte IPv4 packet with DF does not fit a 1410-byte
 * link with the outer header: an ICMP fragmentation-needed offering 1390
 * goes back out of the receiving interface (XDP_TX) from the VIP; without
 * DF it is dropped as lb-too-big. IPv6: packet too big.
 */
static void too_big(int family)
{
	const char *vip = family == 4 ? VIP4_DSR : VIP6_DSR, *cl = family == 4 ? CLIENT4 :
								    CLIENT6;
	struct spec s = { .family = family, .proto = 6, .src = cl, .dst = vip, .sport = 42000,
			  .dport = family == 4 ? 80 : 443, .tcp_flags = 0x10, .df = true,
			  .payload = family == 4 ? 1360 : 1340 };
	uint8_t in[1600], out[2048], want[400], a_cl[16], a_vip[16];
	size_t n, olen, q = family == 4 ? 84 : 104, hl = family == 4 ? 20 : 40;
	struct sl_counter drop[SLUICE_DROP_MAX];
	struct lb_env e;
	__u32 ret;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open") ||
	    !ASSERT_OK(sh("ip link set slt1 mtu 1410"), "mtu") ||
	    !ASSERT_OK(counters_clear(&e), "next hops"))
		goto out;
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run"))
		goto out;
	ASSERT_EQ(ret, XDP_TX, "ICMP back out of the receiving interface");
	addr_of(family, cl, a_cl);
	addr_of(family, vip, a_vip);
	own_hdr(want, out, MAC_PEER, MAC_IF0, family, family == 4 ? 1 : 58, a_vip, a_cl, 8 + q);
	{
		uint8_t *icmp = want + 14 + hl;
		uint16_t c;

		memset(icmp, 0, 8);
		icmp[0] = family == 4 ? 3 : 2;
		icmp[1] = family == 4 ? 4 : 0;
		if (family == 4)
			put16(icmp + 6, 1390);
		else
			put16(icmp + 6, 1370);
		memcpy(icmp + 8, in + 14, q);
		c = family == 4 ? fold(sum16(icmp, 8 + q, 0)) :
		    l4_csum(6, 58, a_vip, a_cl, icmp, 8 + q);
		put16(icmp + 2, c);
	}
	same("ICMP too big", out, olen, want, 14 + hl + 8 + q);
	if (family == 4) {
		s.df = false;
		n = build(in, &s);
		xdp_env_reset_counters(&e.x);
		if (ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run no DF")) {
			ASSERT_EQ(ret, XDP_DROP, "no DF: dropped");
			if (ASSERT_OK(sl_counters_read(e.x.drop_fd, SLUICE_DROP_MAX, drop), "drops"))
				ASSERT_EQ(drop[SLUICE_DROP_LB_TOO_BIG].packets, 1, "lb-too-big");
		}
	}
out:
	sh("ip link set slt1 mtu 1500");
	lb_env_close(&e);
}

TEST(lb_dsr_v4_too_big_icmp)
{
	too_big(4);
}

TEST(lb_dsr_v6_packet_too_big)
{
	too_big(6);
}

/* ---- ICMP errors about a balanced flow ---- */

/*
 * A router on the client side sends an ICMP error about a reply the flow's
 * backend sent (quoted: VIP:80 -> client). NAT: it reaches that backend with
 * the destination and the quoted source translated (IPv4 header, quoted
 * header and ICMP checksums recomputed here). DSR: encapsulated as it is.
 */
static void icmp_error(int family, bool dsr_mode)
{
	const char *vip = family == 4 ? (dsr_mode ? VIP4_DSR : VIP4_NAT) :
				       (dsr_mode ? VIP6_DSR : VIP6_NAT);
	const char *cl = family == 4 ? CLIENT4 : CLIENT6, *router = family == 4 ? "203.0.113.7" :
								    "2001:db8:c::7";
	uint16_t vport = family == 6 && dsr_mode ? 443 : 80, bport = dsr_mode ? vport : 8080;
	struct spec s = { .family = family, .proto = 6, .src = cl, .dst = vip, .sport = 43000,
			  .dport = vport, .tcp_flags = 0x02 };
	uint8_t in[512], out[2048], want[700], quoted[128], bmac[6];
	uint8_t a_r[16], a_vip[16], a_be[16], *icmp;
	size_t n, olen, qlen, hl = family == 4 ? 20 : 40, wl;
	struct lb_env e;
	char baddr[64];
	__u32 ret;
	int be;

	be = lb_env_open(&e, POLICY) ? -1 : open_flow(&e, &s, baddr, sizeof(baddr), bmac);
	if (!ASSERT_TRUE(be > 0, "the flow opened"))
		goto out;
	/* what the backend's reply looked like on the client side: VIP:vport -> client */
	s = (struct spec){ .family = family, .proto = 6, .src = vip, .dst = cl, .sport = vport,
			   .dport = 43000, .tcp_flags = 0x12 };
	qlen = build(quoted, &s) - 14;
	memmove(quoted, quoted + 14, qlen);
	qlen = hl + 8;	/* the IP header and 8 bytes of it */
	/* the error: router -> VIP */
	addr_of(family, router, a_r);
	addr_of(family, vip, a_vip);
	memcpy(in, MAC_IF0, 6);
	memcpy(in + 6, MAC_PEER, 6);
	put16(in + 12, family == 4 ? 0x0800 : 0x86dd);
	ip_hdr(in + 14, family, family == 4 ? 1 : 58, a_r, a_vip, 8 + qlen, false, 0);
	icmp = in + 14 + hl;
	memset(icmp, 0, 8);
	icmp[0] = family == 4 ? 3 : 1;	/* unreachable */
	icmp[1] = family == 4 ? 3 : 4;	/* port */
	memcpy(icmp + 8, quoted, qlen);
	put16(icmp + 2, family == 4 ? fold(sum16(icmp, 8 + qlen, 0)) :
			l4_csum(6, 58, a_r, a_vip, icmp, 8 + qlen));
	n = 14 + hl + 8 + qlen;
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run ICMP"))
		goto out;
	ASSERT_EQ(ret, XDP_REDIRECT, "the error goes to the backend side");
	addr_of(family, baddr, a_be);
	memcpy(want, bmac, 6);
	memcpy(want + 6, MAC_IF1, 6);
	put16(want + 12, family == 4 ? 0x0800 : 0x86dd);
	if (dsr_mode) {
		const uint8_t *osrc = out + 14 + (family == 4 ? 12 : 8);

		ASSERT_EQ(dst_backend(out, family), be, "encapsulated to the flow's backend");
		own_hdr(want, out, bmac, MAC_IF1, family, family == 4 ? 4 : 41, osrc, a_be, n - 14);
		memcpy(want + 14 + hl, in + 14, n - 14);
		wl = 14 + hl + n - 14;
	} else {
		uint8_t *q, *wi;

		ip_hdr(want + 14, family, family == 4 ? 1 : 58, a_r, a_be, 8 + qlen, false, 0);
		wi = want + 14 + hl;
		memset(wi, 0, 8);
		wi[0] = icmp[0];
		wi[1] = icmp[1];
		q = wi + 8;
		memcpy(q, quoted, qlen);
		/* the quoted packet as the backend sent it: from backend:8080 */
		if (family == 4) {
			memcpy(q + 12, a_be, 4);
			ip4_recsum(q);
		} else {
			memcpy(q + 8, a_be, 16);
		}
		put16(q + hl, bport);
		put16(wi + 2, family == 4 ? fold(sum16(wi, 8 + qlen, 0)) :
			      l4_csum(6, 58, a_r, a_be, wi, 8 + qlen));
		wl = 14 + hl + 8 + qlen;
	}
	same(dsr_mode ? "ICMP error, DSR" : "ICMP error, NAT", out, olen, want, wl);
out:
	lb_env_close(&e);
}

TEST(lb_icmp_error_nat_v4)
{
	icmp_error(4, false);
}

TEST(lb_icmp_error_nat_v6)
{
	icmp_error(6, false);
}

TEST(lb_icmp_error_dsr_v4)
{
	icmp_error(4, true);
}

TEST(lb_icmp_error_dsr_v6)
{
	icmp_error(6, true);
}

/* ---- policy changes: drain, removal ---- */

#define NFLOWS 60

/* Open (or continue: FLAGS 0x10) flow I to the NAT VIP:80; the backend it went to. */
static int flow_to(struct lb_env *e, int i, uint8_t flags)
{
	struct spec s = { .family = 4, .proto = 6, .src = CLIENT4, .dst = VIP4_NAT,
			  .sport = (uint16_t)(30000 + i), .dport = 80, .tcp_flags = flags };
	uint8_t in[256], out[2048];
	size_t n = build(in, &s), olen;
	__u32 ret;

	if (run(e, if0, in, n, &ret, out, &olen) || ret != XDP_REDIRECT)
		return -1;
	return dst_backend(out, 4);
}

/* TEXT with the first FROM replaced by TO (malloc'd), NULL when FROM is not there. */
static char *subst(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);
	char *s;

	if (!p || asprintf(&s, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from)) < 0)
		return NULL;
	return s;
}

/*
 * drain: established flows stay on the drained backend, new flows avoid
 * it. Removal: the removed backend's flows go elsewhere (counted
 * rebalanced), every other flow stays where it was.
 */
TEST(lb_drain_then_remove)
{
	char *drained = subst(POLICY, "198.51.100.12, port: 8080, weight: 2 }",
			      "198.51.100.12, port: 8080, weight: 2, drain: true }");
	char *removed = NULL;
	int was[NFLOWS], on13 = 0, on12 = 0;
	uint64_t st0[SLUICE_LB_STAT_MAX], st1[SLUICE_LB_STAT_MAX];
	struct lb_env e;

	if (drained)
		removed = subst(drained, "      - { addr: 198.51.100.13, port: 8080 }\n", "");
	if (!ASSERT_TRUE(drained && removed, "policies") ||
	    !ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	for (int i = 0; i < NFLOWS; i++) {
		was[i] = flow_to(&e, i, 0x02);
		on12 += was[i] == 12;
		on13 += was[i] == 13;
	}
	if (!ASSERT_TRUE(on12 > 0 && on13 > 0, "flows on every backend"))
		goto out;
	if (!ASSERT_OK(lb_env_reapply(&e, drained, ++shared_gen), "drain 198.51.100.12"))
		goto out;
	for (int i = 0; i < NFLOWS; i++)
		if (!ASSERT_EQ(flow_to(&e, i, 0x10), was[i], "established flow stays (drain)") ||
		    !ASSERT_EQ(flow_to(&e, i, 0x02), was[i], "its SYN again: the same backend"))
			break;
	for (int i = NFLOWS; i < 3 * NFLOWS; i++)
		if (!ASSERT_NEQ(flow_to(&e, i, 0x02), 12, "a new flow avoids the drained backend"))
			break;
	lb_stats_read(e.st, st0);
	if (!ASSERT_OK(lb_env_reapply(&e, removed, ++shared_gen), "remove 198.51.100.13"))
		goto out;
	for (int i = 0; i < NFLOWS; i++) {
		/* a retransmitted SYN of a removed backend's flow is balanced again too */
		int now = flow_to(&e, i, i % 2 ? 0x02 : 0x10);

		if (was[i] == 13)
			ASSERT_EQ(now, 11, "the removed backend's flow moves (12 drains)");
		else
			ASSERT_EQ(now, was[i], "other flows stay");
	}
	lb_stats_read(e.st, st1);
	ASSERT_EQ(st1[SLUICE_LB_STAT_RESELECT] - st0[SLUICE_LB_STAT_RESELECT], on13,
		  "rebalanced: the removed backend's flows");
out:
	free(drained);
	free(removed);
	lb_env_close(&e);
}

/* Every backend drained: nothing to balance to, a named drop. */
TEST(lb_no_backend_dropped)
{
	char *a = subst(POLICY, "{ addr: 198.51.100.11, port: 8080 }",
			"{ addr: 198.51.100.11, port: 8080, drain: true }");
	char *b = a ? subst(a, "weight: 2 }", "weight: 2, drain: true }") : NULL;
	char *c = b ? subst(b, "{ addr: 198.51.100.13, port: 8080 }",
			    "{ addr: 198.51.100.13, port: 8080, drain: true }") : NULL;
	struct sl_counter drop[SLUICE_DROP_MAX];
	struct lb_env e;
	int be;

	if (!ASSERT_TRUE(c != NULL, "policy") || !ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	be = flow_to(&e, 2, 0x02);
	if (!ASSERT_TRUE(be >= 11, "a flow before") ||
	    !ASSERT_OK(lb_env_reapply(&e, c, ++shared_gen), "every backend drained"))
		goto out;
	xdp_env_reset_counters(&e.x);
	ASSERT_EQ(flow_to(&e, 1, 0x02), -1, "not forwarded");
	ASSERT_EQ(flow_to(&e, 2, 0x02), be, "a SYN of the flow before: to its backend");
	if (ASSERT_OK(sl_counters_read(e.x.drop_fd, SLUICE_DROP_MAX, drop), "drops"))
		ASSERT_EQ(drop[SLUICE_DROP_LB_NO_BACKEND].packets, 1, "lb-no-backend");
out:
	lb_env_close(&e);
	free(a);
	free(b);
	free(c);
}

/* ---- the backend side of DSR: decap ---- */

static const char *const DECAP =
	"firewall:\n"
	"  interfaces: [\"slt*\"]\n"
	"  default: allow\n"
	"  stateful: false\n"
	"decap:\n"
	"  interfaces: [slt1]\n"
	"  vips: [" VIP4_DSR ", \"" VIP6_DSR "\"]\n";

/*
 * IP-in-IP for a decap VIP on a decap interface: the outer header goes, the
 * inner packet stays to the byte, behind the same Ethernet header (and the
 * stack gets it). Not a decap VIP, or not a decap interface: untouched.
 */
static void decap(int family)
{
	const char *vip = family == 4 ? VIP4_DSR : VIP6_DSR;
	struct spec s = { .family = family, .proto = 6, .src = family == 4 ? CLIENT4 : CLIENT6,
			  .dst = vip, .sport = 44000, .dport = 80, .tcp_flags = 0x02,
			  .payload = 20 };
	uint8_t inner[256], in[300], out[2048], osrc[16], odst[16];
	size_t hl = family == 4 ? 20 : 40, n, ilen, olen;
	struct lb_env e;
	__u32 ret;

	if (!ASSERT_OK(lb_env_open(&e, DECAP), "open"))
		goto out;
	for (int k = 0; k < 3; k++) {
		/* 0: decap; 1: another VIP inside; 2: a decap VIP on another interface */
		s.dst = k == 1 ? (family == 4 ? VIP4_NAT : VIP6_NAT) : vip;
		ilen = build(inner, &s);
		addr_of(family, family == 4 ? "198.51.100.200" : "2001:db8:b::200", osrc);
		addr_of(family, family == 4 ? "198.51.100.1" : "2001:db8:b::1", odst);
		memcpy(in, inner, 14);
		ip_hdr(in + 14, family, family == 4 ? 4 : 41, osrc, odst, ilen - 14, false, 0);
		memcpy(in + 14 + hl, inner + 14, ilen - 14);
		n = ilen + hl;
		if (!ASSERT_OK(run(&e, k == 2 ? if0 : if1, in, n, &ret, out, &olen), "run"))
			goto out;
		ASSERT_EQ(ret, XDP_PASS, "to the stack");
		if (k == 0)
			same("decapsulated", out, olen, inner, ilen);
		else
			same("left as it is", out, olen, in, n);
	}
out:
	lb_env_close(&e);
}

TEST(lb_decap_v4)
{
	decap(4);
}

TEST(lb_decap_v6)
{
	decap(6);
}

/* ---- the flow hash, as docs/lb.md documents it ---- */

/* docs/lb.md: the hash of the 10 words of struct lb_flow_key, written out again here. */
static uint32_t doc_hash(const uint8_t *cl, const uint8_t *vip, uint16_t cport, uint16_t vport,
			 uint8_t proto, uint8_t family)
{
	uint8_t k[40] = { 0 };
	uint32_t h = 0x736c6231, w;

	memcpy(k, cl, 16);
	memcpy(k + 16, vip, 16);
	put16(k + 32, cport);
	put16(k + 34, vport);
	k[36] = proto;
	k[37] = family;
	for (int i = 0; i < 10; i++) {
		memcpy(&w, k + 4 * i, 4);	/* the word as it lies in memory */
		h = (h ^ w) * 0x9e3779b1u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

/*
 * For 200 flows the datapath's backend is the one the service's Maglev
 * table holds at (documented hash) mod (table size): what lets two nodes
 * with the same tables pick the same backend.
 */
TEST(lb_flow_hash_as_documented)
{
	struct lb_svc_key k = { .port = htons(80), .proto = 6, .family = 4 };
	uint8_t cl[16], vip[16];
	struct lb_service svc;
	struct lb_backend be;
	struct lb_env e;
	__u32 inner_id, slot, el, id;
	struct lb_maglev_line line;
	int tfd = -1;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	addr_of(4, VIP4_NAT, vip);
	memcpy(k.vip, vip, 16);
	addr_of(4, CLIENT4, cl);
	if (!ASSERT_OK(bpf_map_lookup_elem(e.st->fds.svc, &k, &svc), "service") ||
	    !ASSERT_OK(bpf_map_lookup_elem(e.st->fds.maglev, &svc.table, &inner_id), "table"))
		goto out;
	tfd = bpf_map_get_fd_by_id(inner_id);
	if (!ASSERT_TRUE(tfd >= 0, "table fd") || !ASSERT_EQ(svc.size, 65537, "default size"))
		goto out;
	for (int i = 0; i < 200; i++) {
		slot = doc_hash(cl, vip, (uint16_t)(20000 + i), 80, 6, 4) % svc.size;
		/* entry SLOT: id[SLOT % 32] of the table's element SLOT / 32 */
		el = slot / SLUICE_LB_LINE_IDS;
		if (!ASSERT_OK(bpf_map_lookup_elem(tfd, &el, &line), "slot"))
			break;
		id = line.id[slot % SLUICE_LB_LINE_IDS];
		if (!ASSERT_OK(bpf_map_lookup_elem(e.st->fds.backends, &id, &be), "backend"))
			break;
		if (!ASSERT_EQ(flow_to(&e, 20000 + i - 30000, 0x02), be.addr[3],
			       "the table's backend at the documented hash"))
			break;
	}
out:
	if (tfd >= 0)
		close(tfd);
	lb_env_close(&e);
}

/* ---- to the stack, and dropped ---- */

/*
 * A backend whose neighbour is not resolved yet: the rewritten packet goes
 * to the stack (XDP_PASS) with its Ethernet header as it came, counted.
 */
TEST(lb_no_neighbour_to_stack)
{
	char *p = subst(POLICY, "      - { addr: 198.51.100.21, port: 5353 }\n",
			"      - { addr: 198.51.100.77, port: 5353 }\n");
	struct spec s = { .family = 4, .proto = 17, .src = CLIENT4, .dst = VIP4_NAT,
			  .sport = 5001, .dport = 53, .payload = 12 };
	uint8_t in[256], out[2048], want[256];
	uint64_t st[SLUICE_LB_STAT_MAX];
	size_t n, olen, wlen;
	struct lb_env e;
	__u32 ret;

	if (!ASSERT_TRUE(p != NULL, "policy") || !ASSERT_OK(lb_env_open(&e, p), "open"))
		goto out;
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run"))
		goto out;
	ASSERT_EQ(ret, XDP_PASS, "to the stack");
	s.dst = "198.51.100.77";
	s.dport = 5353;
	s.ttl = 63;	/* the hop it took through the load balancer */
	wlen = build(want, &s);
	same("rewritten, Ethernet as it came", out, olen, want, wlen);
	if (ASSERT_OK(lb_stats_read(e.st, st), "stats"))
		ASSERT_EQ(st[SLUICE_LB_STAT_STACK], 1, "to-stack-no-neighbour");
out:
	lb_env_close(&e);
	free(p);
}

/* A fragment after the first carries no ports: not balanced, a named drop. */
TEST(lb_fragment_dropped)
{
	struct spec s = { .family = 4, .proto = 17, .src = CLIENT4, .dst = VIP4_NAT,
			  .sport = 1, .dport = 53, .payload = 40 };
	struct sl_counter drop[SLUICE_DROP_MAX];
	uint8_t in[256], out[2048];
	struct lb_env e;
	size_t n, olen;
	__u32 ret;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	n = build(in, &s);
	put16(in + 14 + 6, 0x0010);	/* fragment offset 16 */
	ip4_recsum(in + 14);
	xdp_env_reset_counters(&e.x);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run"))
		goto out;
	ASSERT_EQ(ret, XDP_DROP, "dropped");
	if (ASSERT_OK(sl_counters_read(e.x.drop_fd, SLUICE_DROP_MAX, drop), "drops"))
		ASSERT_EQ(drop[SLUICE_DROP_LB_FRAGMENT].packets, 1, "lb-fragment");
out:
	lb_env_close(&e);
}

/*
 * The load balancer is a hop: a packet for a VIP with TTL (hop limit) 1
 * goes to the stack as it came, whose forwarding answers it (ICMP time
 * exceeded); with 2 it is balanced, with 1 left (the checksum the frame's
 * builder computes, not the datapath's update).
 */
static void ttl_hop(int family)
{
	struct spec s = { .family = family, .proto = 17, .src = family == 4 ? CLIENT4 : CLIENT6,
			  .dst = family == 4 ? VIP4_NAT : VIP6_NAT, .sport = 5001, .dport = 53,
			  .payload = 20, .ttl = 1 };
	uint8_t in[256], out[2048], want[256], bmac[6];
	size_t n, olen, wlen;
	struct lb_env e;
	char baddr[64];
	__u32 ret;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run TTL 1"))
		goto out;
	ASSERT_EQ(ret, XDP_PASS, "TTL 1: to the stack");
	same("TTL 1: as it came", out, olen, in, n);
	s.ttl = 2;
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run TTL 2"))
		goto out;
	ASSERT_EQ(ret, XDP_REDIRECT, "TTL 2: balanced");
	to_backend(&s, 21, 5353, baddr, sizeof(baddr), bmac);
	wlen = build(want, &s);
	same("TTL 2: balanced with 1 left", out, olen, want, wlen);
out:
	lb_env_close(&e);
}

TEST(lb_ttl_v4_one_hop)
{
	ttl_hop(4);
}

TEST(lb_hop_limit_v6_one_hop)
{
	ttl_hop(6);
}

/*
 * A packet for a VIP from a VIP (LAND), or from the address and port a NAT
 * backend serves on (whose service's replies would be taken for this
 * flow's: a loop), opens no flow: dropped as lb-spoofed-source. The same
 * backend's address from another port is a client like any other.
 */
static void own_source(int family)
{
	const char *vip = family == 4 ? VIP4_NAT : VIP6_NAT;
	struct sl_counter drop[SLUICE_DROP_MAX];
	uint8_t in[256], out[2048];
	struct lb_env e;
	char baddr[64];
	size_t n, olen;
	__u32 ret;
	struct spec s = { .family = family, .proto = 17, .src = vip, .dst = vip, .sport = 53,
			  .dport = 53, .payload = 20 };

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	xdp_env_reset_counters(&e.x);
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run VIP -> VIP"))
		goto out;
	ASSERT_EQ(ret, XDP_DROP, "from the VIP to the VIP: dropped");
	/* the backend of dns (udp 53) at its port 5353, and the one of web (tcp 80) at 8080 */
	be_addr(family, 21, baddr, sizeof(baddr));
	s.src = baddr;
	s.sport = 5353;
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run backend:5353 -> VIP:53"))
		goto out;
	ASSERT_EQ(ret, XDP_DROP, "from a NAT backend's serving port: dropped");
	be_addr(family, 11, baddr, sizeof(baddr));
	s = (struct spec){ .family = family, .proto = 6, .src = baddr, .dst = vip, .sport = 8080,
			   .dport = 80, .tcp_flags = 0x02 };
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run backend:8080 -> VIP:80"))
		goto out;
	ASSERT_EQ(ret, XDP_DROP, "a SYN from a NAT backend's serving port: dropped");
	if (ASSERT_OK(sl_counters_read(e.x.drop_fd, SLUICE_DROP_MAX, drop), "drops"))
		ASSERT_EQ(drop[SLUICE_DROP_LB_SPOOFED].packets, 3, "lb-spoofed-source");
	s.sport = 40000;
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run backend:40000 -> VIP:80"))
		goto out;
	ASSERT_EQ(ret, XDP_REDIRECT, "the backend's address from another port: balanced");
out:
	lb_env_close(&e);
}

TEST(lb_own_source_v4_opens_no_flow)
{
	own_source(4);
}

TEST(lb_own_source_v6_opens_no_flow)
{
	own_source(6);
}

/* ---- with the stateful firewall in front ---- */

/* Conntrack as the policy in force says (stateful), with fresh tables. */
static int ct_on(struct lb_env *e)
{
	struct ct_tables tbl = { bpf_map__fd(e->x.skel->maps.ct4_shards),
				 bpf_map__fd(e->x.skel->maps.ct_shards) };
	struct sl_ct_config ctc;
	uint32_t max, zero = 0;
	int err;

	ct_config_compile(&e->x.pol, &ctc, &max);
	if (!ctc.stateful)
		return -EINVAL;
	err = ct_shards_create(&tbl, 4096, &ctc.shards);
	if (!err && bpf_map_update_elem(bpf_map__fd(e->x.skel->maps.ct_cfg), &zero, &ctc,
					BPF_ANY))
		err = -errno;
	return err;
}

/*
 * default deny, one rule for the VIP: the SYN is balanced, the backend's
 * SYN-ACK comes back through conntrack as the reply of client <-> VIP (the
 * entry program reads it as from VIP:80) and leaves rewritten; a packet
 * from that backend port to another client port is no reply: denied.
 */
TEST(lb_stateful_reply_through_conntrack)
{
	static const char *const yaml =
		"firewall:\n"
		"  interfaces: [\"slt*\"]\n"
		"  default: deny\n"
		"  rules:\n"
		"    - { name: web, action: allow, dst: [" VIP4_NAT "], proto: tcp, dport: [80] }\n"
		"loadbalancers:\n"
		"  - name: web4\n"
		"    vip: " VIP4_NAT "\n"
		"    port: 80\n"
		"    backends:\n"
		"      - { addr: 198.51.100.11, port: 8080 }\n";
	struct spec s = { .family = 4, .proto = 6, .src = CLIENT4, .dst = VIP4_NAT,
			  .sport = 45000, .dport = 80, .tcp_flags = 0x02 };
	uint8_t in[256], out[2048], want[256], bmac[6];
	size_t n, olen, wlen;
	struct lb_env e;
	__u32 ret;

	if (!ASSERT_OK(lb_env_open(&e, yaml), "open") || !ASSERT_OK(ct_on(&e), "conntrack on"))
		goto out;
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run SYN"))
		goto out;
	ASSERT_EQ(ret, XDP_REDIRECT, "SYN allowed by the rule and balanced");
	be_mac(bmac, 11);
	s = (struct spec){ .family = 4, .proto = 6, .src = "198.51.100.11", .dst = CLIENT4,
			   .sport = 8080, .dport = 45000, .tcp_flags = 0x12, .dmac = MAC_IF1,
			   .smac = bmac };
	n = build(in, &s);
	if (!ASSERT_OK(run(&e, if1, in, n, &ret, out, &olen), "run SYN-ACK"))
		goto out;
	ASSERT_EQ(ret, XDP_REDIRECT, "the reply passes conntrack and goes to the client");
	s.src = VIP4_NAT;
	s.sport = 80;
	s.smac = MAC_IF0;
	s.dmac = MAC_CLIENT;
	s.ttl = 63;	/* the hop it took through the load balancer */
	wlen = build(want, &s);
	same("reply from VIP:80", out, olen, want, wlen);
	s = (struct spec){ .family = 4, .proto = 6, .src = "198.51.100.11", .dst = CLIENT4,
			   .sport = 8080, .dport = 45001, .tcp_flags = 0x12, .dmac = MAC_IF1,
			   .smac = bmac };
	n = build(in, &s);
	if (ASSERT_OK(run(&e, if1, in, n, &ret, out, &olen), "run stray"))
		ASSERT_EQ(ret, XDP_DROP, "no flow, no rule: denied");
out:
	lb_env_close(&e);
}

/* SYN cookies: MODE for every port (ct_ck_cfg; lb_env_open leaves conntrack off). */
static int ck_mode(struct lb_env *e, uint32_t mode)
{
	static struct sl_ck_config cfg;
	uint32_t zero = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.mode = mode;
	cfg.key[0] = 0x0123456789abcdefull;
	cfg.key[1] = 0xfedcba9876543210ull;
	if (bpf_map_update_elem(bpf_map__fd(e->x.skel->maps.ct_ck_cfg), &zero, &cfg, BPF_ANY))
		return -errno;
	return 0;
}

/*
 * SYN cookies on for every SYN a rule allows, a socket listening on *:80
 * here: a SYN to another address's port 80 is answered with a cookie
 * (XDP_TX), but a SYN for the service VIP:80 goes to its backend, which
 * answers it.
 */
TEST(lb_syn_cookies_leave_the_vip_to_its_backend)
{
	static const char *const yaml =
		"firewall:\n"
		"  interfaces: [\"slt*\"]\n"
		"  default: deny\n"
		"  rules:\n"
		"    - { name: web, action: allow, proto: tcp, dport: [80] }\n"
		"loadbalancers:\n"
		"  - name: web4\n"
		"    vip: " VIP4_NAT "\n"
		"    port: 80\n"
		"    backends:\n"
		"      - { addr: 198.51.100.11, port: 8080 }\n";
	struct spec s = { .family = 4, .proto = 6, .src = CLIENT4, .dst = OTHER4,
			  .sport = 46000, .dport = 80, .tcp_flags = 0x02 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
	uint8_t in[256], out[2048];
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct lb_env e = {};
	size_t n, olen;
	__u32 ret;

	if (!ASSERT_TRUE(lfd >= 0, "socket") ||
	    !ASSERT_OK(setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		       bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 16) ? -errno : 0,
		       "listen on *:80") ||
	    !ASSERT_OK(lb_env_open(&e, yaml), "open") || !ASSERT_OK(ct_on(&e), "conntrack on") ||
	    !ASSERT_OK(ck_mode(&e, SLUICE_CK_ALWAYS), "cookies always"))
		goto out;
	n = build(in, &s);
	if (ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run SYN to another address"))
		ASSERT_EQ(ret, XDP_TX, "answered with a cookie: cookies are on");
	s.dst = VIP4_NAT;
	s.sport = 46001;
	n = build(in, &s);
	if (ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "run SYN to the VIP")) {
		ASSERT_EQ(ret, XDP_REDIRECT, "the SYN for the service is balanced");
		ASSERT_EQ(dst_backend(out, 4), 11, "to its backend");
	}
out:
	if (e.x.skel)
		ck_mode(&e, SLUICE_CK_OFF);
	lb_env_close(&e);
	if (lfd >= 0)
		close(lfd);
}

/* ---- NAT replies through the forward flow; services cached in flows ---- */

static int count_entry(void *ctx, const struct lb_flow_key *k, const struct lb_flow *f)
{
	(void)k;
	(void)f;
	++*(long *)ctx;
	return 0;
}

/* Entries of lb_flowtab[WHICH], or -1. */
static long flowtab_count(struct lb_env *e, __u32 which)
{
	long n = 0;

	return lb_flows_walk(e->st, which, count_entry, &n) ? -1 : n;
}

/*
 * A reply from BADDR:BPORT (MAC BMAC) to CL:CPORT over TCP, received on the
 * backend side: the (VIP) source port it leaves with, 0 when it went to
 * the stack untouched, -1 otherwise.
 */
static int reply_from(struct lb_env *e, int family, const char *baddr, const uint8_t *bmac,
		      uint16_t bport, const char *cl, uint16_t cport, uint8_t *vip_out)
{
	struct spec s = { .family = family, .proto = 6, .src = baddr, .dst = cl, .sport = bport,
			  .dport = cport, .tcp_flags = 0x10, .payload = 10, .dmac = MAC_IF1,
			  .smac = bmac };
	uint8_t in[256], out[2048];
	size_t n = build(in, &s), olen, hl = family == 4 ? 12 : 8;
	__u32 ret;

	if (run(e, if1, in, n, &ret, out, &olen))
		return -1;
	if (ret == XDP_PASS && olen == n && !memcmp(in, out, n))
		return 0;
	if (ret != XDP_REDIRECT)
		return -1;
	if (vip_out)
		memcpy(vip_out, out + 14 + hl, family == 4 ? 4 : 16);
	return out[14 + (family == 4 ? 20 : 40)] << 8 | out[14 + (family == 4 ? 21 : 41)];
}

/*
 * A new NAT flow leaves one entry (no reverse entry): its backend's replies
 * are found through lb_nat_be and the forward flow, and leave as from
 * VIP:80. The same ports from another backend of the service: not that
 * flow's, untouched.
 */
TEST(lb_nat_reply_found_through_its_forward_flow)
{
	struct spec s = { .family = 4, .proto = 6, .src = CLIENT4, .dst = VIP4_NAT,
			  .sport = 41000, .dport = 80, .tcp_flags = 0x02 };
	struct lb_svc_key bk = { .port = htons(8080), .proto = 6, .family = 4 };
	uint8_t bmac[6], omac[6], vip[16], want[16];
	char baddr[64], other[64];
	struct lb_nat_be nb;
	struct lb_env e;
	int be;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	be = open_flow(&e, &s, baddr, sizeof(baddr), bmac);
	if (!ASSERT_TRUE(be >= 11 && be <= 13, "balanced"))
		goto out;
	ASSERT_EQ(flowtab_count(&e, LB_FLOWS), 1, "one flow entry");
	ASSERT_EQ(flowtab_count(&e, LB_REVERSE), 0, "no reverse entry");
	addr_of(4, baddr, bk.vip);
	if (ASSERT_OK(bpf_map_lookup_elem(e.st->fds.nat_be, &bk, &nb), "lb_nat_be entry"))
		ASSERT_EQ(nb.n, 1, "the backend serves one NAT service");
	memset(vip, 0, sizeof(vip));
	ASSERT_EQ(reply_from(&e, 4, baddr, bmac, 8080, CLIENT4, 41000, vip), 80,
		  "the reply leaves from the service port");
	addr_of(4, VIP4_NAT, want);
	ASSERT_TRUE(!memcmp(vip, want, 4), "the reply leaves from the VIP");
	be_addr(4, be == 11 ? 12 : 11, other, sizeof(other));
	be_mac(omac, be == 11 ? 12 : 11);
	ASSERT_EQ(reply_from(&e, 4, other, omac, 8080, CLIENT4, 41000, NULL), 0,
		  "another backend's packet: not the flow's reply");
out:
	lb_env_close(&e);
}

/*
 * One backend in more NAT services than an lb_nat_be entry holds: the
 * services past LB_NAT_VIPS leave reverse entries (LB_SVC_F_REV), and the
 * replies of every service's flow leave from its own VIP:port.
 */
TEST(lb_nat_backend_in_more_services_than_lb_nat_be_holds)
{
	char *yaml = NULL, *p;
	int nsvc = LB_NAT_VIPS + 2, rev = 0;
	struct lb_env e;
	size_t len;
	FILE *f = open_memstream(&yaml, &len);

	if (!ASSERT_TRUE(f != NULL, "policy"))
		return;
	fputs("firewall:\n  interfaces: [\"slt*\"]\n  default: allow\n  stateful: false\n"
	      "loadbalancers:\n", f);
	for (int i = 0; i < nsvc; i++)
		fprintf(f, "  - name: s%d\n    vip: " VIP4_NAT "\n    port: %d\n    backends:\n"
			"      - { addr: 198.51.100.11, port: 8080 }\n", i, 81 + i);
	fclose(f);
	/* from a policy without services: no entry left of an earlier test's */
	if (!ASSERT_OK(lb_env_open(&e, DECAP), "no services") ||
	    !ASSERT_OK(lb_env_open(&e, yaml), "open"))
		goto out;
	for (size_t i = 0; i < e.st->ncur; i++)
		rev += !!(e.st->cur[i].val.flags & LB_SVC_F_REV);
	ASSERT_EQ(rev, nsvc - LB_NAT_VIPS, "services past the entry's room leave reverse entries");
	for (int i = 0; i < nsvc; i++) {
		struct spec s = { .family = 4, .proto = 6, .src = CLIENT4, .dst = VIP4_NAT,
				  .sport = (uint16_t)(42000 + i), .dport = (uint16_t)(81 + i),
				  .tcp_flags = 0x02 };
		uint8_t bmac[6];
		char baddr[64];

		if (!ASSERT_EQ(open_flow(&e, &s, baddr, sizeof(baddr), bmac), 11, "balanced") ||
		    !ASSERT_EQ(reply_from(&e, 4, baddr, bmac, 8080, CLIENT4, (uint16_t)(42000 + i),
					  NULL), 81 + i, "reply from its own service port"))
			break;
	}
	ASSERT_EQ(flowtab_count(&e, LB_REVERSE), nsvc - LB_NAT_VIPS, "reverse entries");
out:
	p = yaml;
	free(p);
	lb_env_close(&e);
}

/*
 * An upgrade from a build before lb_nat_be: its flows (no service cached,
 * epoch 0) and reverse entries are in the pinned tables, lb_nat_be is new
 * and empty. A flow of it stays on its backend (here not the one Maglev
 * picks now) and its replies are turned back to the VIP; the new agent's
 * adoption (lb_state_init) fills lb_nat_be, and new flows need no reverse
 * entry.
 */
TEST(lb_flows_of_the_previous_build_go_on)
{
	struct spec s = { .family = 4, .proto = 6, .src = CLIENT4, .dst = VIP4_NAT,
			  .sport = 43000, .dport = 80, .tcp_flags = 0x02 };
	struct lb_svc_key sk = { .port = htons(80), .proto = 6, .family = 4 };
	struct lb_flow_key fk = { .sport = htons(43000), .dport = htons(80), .proto = 6,
				  .family = 4 };
	struct lb_flow_key rk = { .sport = htons(8080), .dport = htons(43000), .proto = 6,
				  .family = 4 };
	struct lb_state *st2 = NULL;
	struct lb_flow4_key fk4;
	struct lb_flow fv, rv;
	uint8_t bmac[6], omac[6], a[16];
	char baddr[64], other[64];
	int be, o, oid, fd[2] = { -1, -1 };
	struct lb_env e;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	be = open_flow(&e, &s, baddr, sizeof(baddr), bmac);
	if (!ASSERT_TRUE(be >= 11 && be <= 13, "balanced"))
		goto out;
	/* IPv4 flows in lb_flowtab4, reverse entries in lb_flowtab[LB_REVERSE] */
	fd[LB_FLOWS] = flowtab_fd(&e, FLOWS4);
	fd[LB_REVERSE] = flowtab_fd(&e, LB_REVERSE);
	if (!ASSERT_TRUE(fd[LB_FLOWS] >= 0 && fd[LB_REVERSE] >= 0, "flow tables"))
		goto out;
	/* the flow as the previous build left it: on backend O, with a reverse entry */
	o = be == 11 ? 12 : 11;
	be_addr(4, o, other, sizeof(other));
	be_mac(omac, o);
	addr_of(4, VIP4_NAT, sk.vip);
	addr_of(4, other, a);
	oid = lb_backend_id(e.st, &sk, a, 8080);
	addr_of(4, CLIENT4, fk.src);
	memcpy(fk.dst, sk.vip, 16);
	sl_lb_flow4_key(&fk4, &fk);
	if (!ASSERT_TRUE(oid >= 0, "backend id") ||
	    !ASSERT_OK(bpf_map_lookup_elem(fd[LB_FLOWS], &fk4, &fv), "the flow"))
		goto out;
	fv.backend = (uint32_t)oid;
	fv.be_gen = e.st->be[oid].gen;
	fv.flags = 0;
	fv.epoch = 0;
	memset(fv.encap_src, 0, sizeof(fv.encap_src));
	rv = fv;
	rv.vport = htons(80);
	memcpy(rv.vip, sk.vip, 16);
	memcpy(rk.src, a, 16);
	memcpy(rk.dst, fk.src, 16);
	if (!ASSERT_OK(bpf_map_update_elem(fd[LB_FLOWS], &fk4, &fv, BPF_EXIST), "old flow") ||
	    !ASSERT_OK(bpf_map_update_elem(fd[LB_REVERSE], &rk, &rv, BPF_NOEXIST), "old reverse"))
		goto out;
	for (struct lb_svc_key k, next; !bpf_map_get_next_key(e.st->fds.nat_be, NULL, &next);) {
		k = next;
		bpf_map_delete_elem(e.st->fds.nat_be, &k);
	}
	ASSERT_EQ(flow_to(&e, 43000 - 30000, 0x10), o, "the old flow stays on its backend");
	ASSERT_EQ(reply_from(&e, 4, other, omac, 8080, CLIENT4, 43000, NULL), 80,
		  "its reply: through the old reverse entry");
	/* the new agent adopts the state */
	st2 = calloc(1, sizeof(*st2));
	if (!ASSERT_TRUE(st2 != NULL, "state") || !ASSERT_OK(lb_state_init(st2, &e.st->fds),
							     "adopt"))
		goto out;
	s.sport = 43001;
	be = open_flow(&e, &s, baddr, sizeof(baddr), bmac);
	if (ASSERT_TRUE(be >= 11 && be <= 13, "a new flow balanced"))
		ASSERT_EQ(reply_from(&e, 4, baddr, bmac, 8080, CLIENT4, 43001, NULL), 80,
			  "its reply: through its forward flow");
	ASSERT_EQ(flowtab_count(&e, LB_REVERSE), 1, "no new reverse entry");
	ASSERT_EQ(flow_to(&e, 43000 - 30000, 0x10), o, "the old flow still on its backend");
out:
	for (int w = 0; w < 2; w++)
		if (fd[w] >= 0)
			close(fd[w]);
	if (st2)
		lb_state_free(st2);
	free(st2);
	lb_env_close(&e);
}

/*
 * Established flows cache their service; every commit is a new epoch, so
 * a change shows at once: a removed service's flow is not forwarded any
 * more, a DSR flow takes its service's new outer source. A commit of the
 * same generation is a new epoch too (health checks apply that way).
 */
TEST(lb_established_flows_see_service_changes)
{
	char *moved = subst(POLICY, "    port: 80\n    backends:\n      - { addr: 198.51.100.11",
			    "    port: 81\n    backends:\n      - { addr: 198.51.100.11");
	char *encap = subst(POLICY, "encap-source: 198.51.100.0/24", "encap-source: 203.0.113.0/24");
	struct spec s = { .family = 4, .proto = 6, .src = CLIENT4, .dst = VIP4_DSR, .sport = 44000,
			  .dport = 80, .tcp_flags = 0x10, .payload = 10 };
	uint8_t in[256], out[2048], pfx[16];
	struct lb_config c0, c1;
	struct sl_diags d = {};
	size_t n, olen;
	struct lb_env e;
	__u32 ret, zero = 0;

	if (!ASSERT_TRUE(moved && encap, "policies") || !ASSERT_OK(lb_env_open(&e, POLICY), "open"))
		goto out;
	ASSERT_TRUE(flow_to(&e, 44000 - 30000, 0x02) > 0, "NAT flow");
	ASSERT_TRUE(flow_to(&e, 44000 - 30000, 0x10) > 0, "NAT flow established");
	n = build(in, &s);
	ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "DSR flow");
	ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "DSR flow established");
	addr_of(4, "198.51.100.0", pfx);
	ASSERT_TRUE(ret == XDP_REDIRECT && !memcmp(out + 14 + 12, pfx, 3), "outer source");
	if (!ASSERT_OK(lb_env_reapply(&e, encap, ++shared_gen), "new encap-source"))
		goto out;
	ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "DSR flow after");
	addr_of(4, "203.0.113.0", pfx);
	ASSERT_TRUE(ret == XDP_REDIRECT && !memcmp(out + 14 + 12, pfx, 3),
		    "the established flow takes the new outer source");
	if (!ASSERT_OK(lb_env_reapply(&e, moved, ++shared_gen), "VIP:80 gone"))
		goto out;
	ASSERT_EQ(flow_to(&e, 44000 - 30000, 0x10), -1, "a removed service's flow: not forwarded");
	/* the same generation again */
	if (ASSERT_OK(bpf_map_lookup_elem(e.st->fds.cfg, &zero, &c0), "cfg") &&
	    ASSERT_OK(lb_apply(e.st, &e.x.pol, shared_gen, &d), "apply again") &&
	    ASSERT_OK(bpf_map_lookup_elem(e.st->fds.cfg, &zero, &c1), "cfg"))
		ASSERT_TRUE(c1.gen > c0.gen, "a new epoch");
	sl_diags_free(&d);
out:
	free(moved);
	free(encap);
	lb_env_close(&e);
}

/*
 * NAT replies keep their client's next hop per CPU (lb_cnh): two clients
 * behind different MACs, replies alternating, each to its own MAC (on one
 * CPU, so that each reply finds the other's entry); the IPv6 pair shares
 * the cache's slot. A changed neighbour shows within the cache's second.
 */
static void reply_next_hop(int family)
{
	static const uint8_t mac2[6] = { 0x02, 0xcc, 0, 0, 0, 0x51 };
	static const uint8_t mac3[6] = { 0x02, 0xcc, 0, 0, 0, 0x52 };
	/* 2001:db8:c::dce: the slot of 2001:db8:c::50 (SL_LB_CNH_BITS 12) */
	const char *cl[2] = { family == 4 ? CLIENT4 : CLIENT6,
			      family == 4 ? "203.0.113.51" : "2001:db8:c::dce" };
	const uint8_t *mac[2] = { MAC_CLIENT, mac2 };
	char baddr[64], cmd[160];
	uint8_t in[256], out[2048], bmac[6];
	cpu_set_t one, was;
	bool moved = false;
	size_t n, olen;
	struct lb_env e;
	double deadline;
	__u32 ret;

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (!ASSERT_OK(sched_getaffinity(0, sizeof(was), &was), "affinity") ||
	    !ASSERT_OK(sched_setaffinity(0, sizeof(one), &one), "one CPU"))
		return;
	be_mac(bmac, 21);
	be_addr(family, 21, baddr, sizeof(baddr));
	snprintf(cmd, sizeof(cmd), "ip neigh replace %s lladdr 02:cc:00:00:00:51 dev slt0 "
		 "nud permanent", cl[1]);
	/* (the open makes the test network first) */
	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open") || !ASSERT_OK(sh(cmd), "second client"))
		goto out;
	for (int i = 0; i < 2; i++) {
		struct spec s = { .family = family, .proto = 17, .src = cl[i],
				  .dst = family == 4 ? VIP4_NAT : VIP6_NAT, .sport = 5000,
				  .dport = 53, .payload = 20 };

		n = build(in, &s);
		if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "flow") ||
		    !ASSERT_EQ(ret, XDP_REDIRECT, "flow to its backend"))
			goto out;
	}
	for (int r = 0; r < 6; r++) {
		int i = r & 1;
		struct spec s = { .family = family, .proto = 17, .src = baddr, .dst = cl[i],
				  .sport = 5353, .dport = 5000, .payload = 20, .dmac = MAC_IF1,
				  .smac = bmac };

		n = build(in, &s);
		if (!ASSERT_OK(run(&e, if1, in, n, &ret, out, &olen), "reply") ||
		    !ASSERT_EQ(ret, XDP_REDIRECT, "reply to the client side") ||
		    !ASSERT_TRUE(!memcmp(out, mac[i], 6), "the reply goes to its own client's MAC") ||
		    !ASSERT_TRUE(!memcmp(out + 6, MAC_IF0, 6), "from the client side's MAC"))
			goto out;
	}
	snprintf(cmd, sizeof(cmd), "ip neigh replace %s lladdr 02:cc:00:00:00:52 dev slt0 "
		 "nud permanent", cl[1]);
	if (family == 6 || !ASSERT_OK(sh(cmd), "the second client moves"))
		goto out;
	deadline = tl_now() + 10;
	while (!moved && tl_now() < deadline) {
		struct spec s = { .family = 4, .proto = 17, .src = baddr, .dst = cl[1],
				  .sport = 5353, .dport = 5000, .payload = 20, .dmac = MAC_IF1,
				  .smac = bmac };

		n = build(in, &s);
		if (!ASSERT_OK(run(&e, if1, in, n, &ret, out, &olen), "reply"))
			goto out;
		moved = ret == XDP_REDIRECT && !memcmp(out, mac3, 6);
		if (!moved)
			usleep(50000);
	}
	ASSERT_TRUE(moved, "the new neighbour is used within the cache's second");
out:
	snprintf(cmd, sizeof(cmd), "ip neigh del %s dev slt0", cl[1]);
	sh(cmd);
	sched_setaffinity(0, sizeof(was), &was);
	lb_env_close(&e);
}

TEST(lb_nat_reply_next_hop_per_client_v4)
{
	reply_next_hop(4);
}

TEST(lb_nat_reply_next_hop_per_client_v6)
{
	reply_next_hop(6);
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t ns_apart(uint64_t a, uint64_t b)
{
	return a > b ? (int64_t)(a - b) : (int64_t)(b - a);
}

/*
 * A flow's last-seen time is the coarse monotonic clock (sl_scratch keeps it
 * per CPU, read again every jiffy) and moves with it; a flow idle past its
 * UDP timeout is balanced again (a new flow), one just inside it is not.
 */
TEST(lb_flow_clock_and_idle_timeout)
{
	struct spec s = { .family = 4, .proto = 17, .src = CLIENT4, .dst = VIP4_NAT,
			  .sport = 5002, .dport = 53, .payload = 12 };
	struct lb_flow_key k = { .sport = htons(5002), .dport = htons(53), .proto = 17,
				 .family = 4 };
	uint64_t st[SLUICE_LB_STAT_MAX], to, t;
	uint8_t in[256], out[2048];
	struct lb_flow f0, f;
	struct lb_config c;
	struct lb_flow4_key k4;
	__u32 ret, zero = 0;
	struct lb_env e;
	size_t n, olen;
	int fd = -1;

	addr_of(4, CLIENT4, k.src);
	addr_of(4, VIP4_NAT, k.dst);
	sl_lb_flow4_key(&k4, &k);
	n = build(in, &s);
	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open") ||
	    !ASSERT_OK(bpf_map_lookup_elem(e.st->fds.cfg, &zero, &c), "cfg"))
		goto out;
	to = (c.timeout[LB_TO_UDP] ? c.timeout[LB_TO_UDP] : 30) * 1000000000ull;
	fd = flowtab_fd(&e, FLOWS4);
	if (!ASSERT_TRUE(fd >= 0, "flow table fd") ||
	    !ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "first packet") ||
	    !ASSERT_EQ(ret, XDP_REDIRECT, "balanced"))
		goto out;
	t = coarse_ns();
	if (!ASSERT_OK(bpf_map_lookup_elem(fd, &k4, &f0), "its flow"))
		goto out;
	ASSERT_TRUE(ns_apart(f0.last_seen, t) < 50000000, "last seen: the coarse clock's now");
	usleep(300000);
	if (!ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "a packet later"))
		goto out;
	t = coarse_ns();
	if (!ASSERT_OK(bpf_map_lookup_elem(fd, &k4, &f), "its flow"))
		goto out;
	ASSERT_TRUE(f.last_seen >= f0.last_seen + 250000000 && ns_apart(f.last_seen, t) < 50000000,
		    "last seen moved with the clock");
	/* idle for 2 s less than the timeout: the same flow */
	f.last_seen = coarse_ns() - to + 2000000000ull;
	if (!ASSERT_OK(bpf_map_update_elem(fd, &k4, &f, BPF_EXIST), "idle: timeout - 2 s") ||
	    !ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "a packet then") ||
	    !ASSERT_OK(lb_stats_read(e.st, st), "stats"))
		goto out;
	ASSERT_EQ(st[SLUICE_LB_STAT_NEW_FLOW], 1, "inside the timeout: still its flow");
	if (!ASSERT_OK(bpf_map_lookup_elem(fd, &k4, &f), "its flow"))
		goto out;
	f.last_seen = coarse_ns() - to - 1000000000ull;
	if (!ASSERT_OK(bpf_map_update_elem(fd, &k4, &f, BPF_EXIST), "idle: timeout + 1 s") ||
	    !ASSERT_OK(run(&e, if0, in, n, &ret, out, &olen), "a packet then") ||
	    !ASSERT_OK(lb_stats_read(e.st, st), "stats"))
		goto out;
	ASSERT_EQ(ret, XDP_REDIRECT, "balanced again");
	ASSERT_EQ(st[SLUICE_LB_STAT_NEW_FLOW], 2, "past the timeout: a new flow");
out:
	if (fd >= 0)
		close(fd);
	lb_env_close(&e);
}

/*
 * A flow table holds its size in flows however they spread over CPUs: here
 * all of them open on one CPU (one receive queue, a veth). An LRU list per
 * CPU (BPF_F_NO_COMMON_LRU) gives each possible CPU its share of the
 * entries alone: one CPU's flows were evicted at 1/CPUs of the size.
 */
#define SMALL_TABLE 4096

TEST(lb_flow_table_full_size_from_one_cpu)
{
	int fd = -1, prev = -1, cpu;
	cpu_set_t was, one;
	struct lb_env e;
	__u32 w = 0;
	long n;

	if (!ASSERT_OK(lb_env_open(&e, POLICY), "open") ||
	    !ASSERT_OK(sched_getaffinity(0, sizeof(was), &was) ? -errno : 0, "affinity"))
		goto out;
	/* an IPv4 flow table as the agent makes them, of a size this test fills quickly */
	prev = flowtab_fd(&e, FLOWS4);
	fd = lb_flowtab4_create(SLUICE_MAP_LB_FLOWS4, SMALL_TABLE);
	if (!ASSERT_TRUE(prev >= 0 && fd >= 0, "tables") ||
	    !ASSERT_OK(bpf_map_update_elem(e.st->fds.flowtab4, &w, &fd, BPF_ANY) ? -errno : 0,
		       "the small table in place"))
		goto out;
	for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &was); cpu++)
		;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (ASSERT_OK(sched_setaffinity(0, sizeof(one), &one) ? -errno : 0, "one CPU")) {
		for (int i = 0; i < SMALL_TABLE; i++)
			if (!ASSERT_TRUE(flow_to(&e, i, 0x02) >= 11, "balanced"))
				break;
		sched_setaffinity(0, sizeof(was), &was);
	}
	n = flowtab_count(&e, LB_FLOWS);
	printf("# %ld of %d flows opened on CPU %d are in the table\n", n, SMALL_TABLE, cpu);
	/* the kernel may keep up to 128 entries per CPU free for the next inserts */
	ASSERT_TRUE(n >= SMALL_TABLE - 128 * libbpf_num_possible_cpus(), "every flow kept");
out:
	if (prev >= 0)
		bpf_map_update_elem(e.st->fds.flowtab4, &w, &prev, BPF_ANY);
	if (fd >= 0)
		close(fd);
	if (prev >= 0)
		close(prev);
	lb_env_close(&e);
}
