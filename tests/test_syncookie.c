// SPDX-License-Identifier: GPL-2.0-only
/*
 * SYN cookies in XDP with BPF_PROG_TEST_RUN (the environment: ct_env.h).
 * The binary runs in a network namespace of its own, with listening
 * sockets on port 22 there: XDP looks up the listener of a SYN's
 * destination in the namespace of the test run's device (this one's
 * loopback).
 *
 * The oracle shares nothing with the BPF code: the SYN-ACK expected is
 * built here byte by byte from the SYN, its checksums computed here, and
 * the cookie checked against SipHash-2-4 written here from the paper (its
 * own test vector checked first), over the byte layout documented in
 * sluice_abi.h.
 */
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>

#include "ct_env.h"

#define SSH	22
#define CK_RCV_WSCALE	9

static const uint8_t KEY[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

/* ---- reference SipHash-2-4, byte by byte as in the paper ---------------- */

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t ref_siphash(const uint8_t k[16], const uint8_t *m, size_t len)
{
	uint64_t k0 = le64(k), k1 = le64(k + 8), b = (uint64_t)len << 56, mi;
	uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	size_t i;

#define ROUND do { \
	v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
	v2 += v3; v3 = rotl(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = rotl(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); } while (0)

	for (i = 0; i + 8 <= len; i += 8) {
		mi = le64(m + i);
		v3 ^= mi;
		ROUND;
		ROUND;
		v0 ^= mi;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)m[i + j] << (8 * j);
	v3 ^= b;
	ROUND;
	ROUND;
	v0 ^= b;
	v2 ^= 0xff;
	ROUND;
	ROUND;
	ROUND;
	ROUND;
#undef ROUND
	return v0 ^ v1 ^ v2 ^ v3;
}

/*
 * The cookie of a handshake as sluice_abi.h documents it: SipHash of saddr,
 * daddr (4 or 16 bytes each), sport, dport, the client's ISN (network
 * order), the time slot (host order), the low byte, the family, zero-padded
 * to whole words; its low 32 bits with the low byte replaced.
 */
static uint32_t ref_cookie(const char *client, uint16_t sport, const char *server,
			   uint16_t dport, uint32_t isn, uint32_t slot, uint8_t low)
{
	uint8_t m[48] = { 0 };
	int fam = family_of(client), alen = fam == 4 ? 4 : 16, o = 2 * alen;

	inet_pton(fam == 4 ? AF_INET : AF_INET6, client, m);
	inet_pton(fam == 4 ? AF_INET : AF_INET6, server, m + alen);
	put16(m + o, sport);
	put16(m + o + 2, dport);
	put16(m + o + 4, isn >> 16);
	put16(m + o + 6, isn & 0xffff);
	memcpy(m + o + 8, &slot, 4);
	m[o + 12] = low;
	m[o + 13] = fam;
	return ((uint32_t)ref_siphash(KEY, m, fam == 4 ? 24 : 48) & ~0xffu) | low;
}

static uint32_t coarse_slot(void)
{
	return (uint32_t)(ct_now_ns() >> SLUICE_CK_SLOT_SHIFT);
}

/* ---- frames ------------------------------------------------------------ */

/* Are the IPv4 header and TCP checksums of F right? */
static bool csums_ok(const struct frame *f)
{
	const uint8_t *ip = f->b + 14;
	bool v4 = (ip[0] >> 4) == 4;
	size_t iphl = v4 ? 20 : 40;
	size_t tcplen = v4 ? (size_t)(ip[2] << 8 | ip[3]) - 20 : (size_t)(ip[4] << 8 | ip[5]);

	if (v4 && fold(sum16(ip, 20, 0)) != 0)
		return false;
	return tcp_csum(ip, ip + iphl, tcplen) == 0;
}

/* Linux's SYN options: MSS, SACK permitted, timestamps (TSVAL, 0), NOP, window scale 7. */
static size_t linux_syn_opts(uint8_t *o, uint16_t mss, uint32_t tsval)
{
	const uint8_t t[20] = { 2, 4, mss >> 8, mss & 0xff, 4, 2, 8, 10, tsval >> 24,
				(tsval >> 16) & 0xff, (tsval >> 8) & 0xff, tsval & 0xff,
				0, 0, 0, 0, 1, 3, 3, 7 };

	memcpy(o, t, sizeof(t));
	return sizeof(t);
}

/* ---- the environment --------------------------------------------------- */

static int listeners[2] = { -1, -1 };

/* A socket listening on port 22 of every address of FAMILY (IPv6: IPv6 only), or -1. */
static int listen22(int family)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(SSH) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(SSH),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = socket(family, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	if ((family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    (family == AF_INET ? bind(fd, (struct sockaddr *)&a4, sizeof(a4)) :
				 bind(fd, (struct sockaddr *)&a6, sizeof(a6))) ||
	    listen(fd, 16)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* This binary's own network namespace, with listeners on port 22 (v4, v6). */
static bool ck_ns(void)
{
	static int done;

	if (done)
		return done > 0;
	done = -1;
	if (!ASSERT_OK(unshare(CLONE_NEWNET) ? -errno : 0, "own network namespace"))
		return false;
	listeners[0] = listen22(AF_INET);
	listeners[1] = listen22(AF_INET6);
	if (!ASSERT_TRUE(listeners[0] >= 0 && listeners[1] >= 0, "listeners on port 22"))
		return false;
	done = 1;
	return true;
}

struct ck_env {
	struct ct_env e;
	int cfg_fd, load_fd, sent_fd, hand_fd;
};

/*
 * Take the handoff XDP left for TC in ct_ck_hand under the flow of CLIENT
 * (port SPORT) to SERVER (DPORT) whose ISN is ISN, into H, and delete it,
 * as the TC ingress program does. 0 if there was one.
 */
static int hand_take(struct ck_env *c, const char *client, uint16_t sport, const char *server,
		     uint16_t dport, uint32_t isn, struct sl_ck_hand *h)
{
	struct sl_ck_flow f;
	int fam = family_of(client);

	memset(&f, 0, sizeof(f));
	if (inet_pton(fam == 4 ? AF_INET : AF_INET6, client, f.saddr) != 1 ||
	    inet_pton(fam == 4 ? AF_INET : AF_INET6, server, f.daddr) != 1)
		return -EINVAL;
	f.sport = htons(sport);
	f.dport = htons(dport);
	f.isn = isn;
	f.family = (uint8_t)fam;
	if (bpf_map_lookup_elem(c->hand_fd, &f, h))
		return -errno;
	return bpf_map_delete_elem(c->hand_fd, &f) ? -errno : 0;
}

/* Empty ct_ck_hand: the env is shared, an earlier test's handoffs stay. */
static void hand_flush(struct ck_env *c)
{
	struct sl_ck_flow k;

	while (!bpf_map_get_next_key(c->hand_fd, NULL, &k) && !bpf_map_delete_elem(c->hand_fd, &k))
		;
}

/* How many handoffs ct_ck_hand holds. */
static unsigned int hand_count(struct ck_env *c)
{
	struct sl_ck_flow k, next;
	unsigned int n = 0;
	void *prev = NULL;

	while (n < SLUICE_CK_HAND_MAX && !bpf_map_get_next_key(c->hand_fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/* ct_ck_sent: the slots a cookie was sent in, as the datapath left them. */
static struct sl_ck_sent ck_sent(struct ck_env *c)
{
	struct sl_ck_sent s;
	uint32_t k = 0;

	memset(&s, 0xff, sizeof(s));
	bpf_map_lookup_elem(c->sent_fd, &k, &s);
	return s;
}

/* Mark SLOT as one a cookie was sent in, as a SYN answered then would have. */
static int ck_mark(struct ck_env *c, uint32_t slot)
{
	struct sl_ck_sent s = ck_sent(c);
	uint32_t k = 0;

	s.slot[slot % SLUICE_CK_SENT_SLOTS] = slot;
	return bpf_map_update_elem(c->sent_fd, &k, &s, BPF_ANY) ? -errno : 0;
}

/* Cookie settings: MODE, PORT always (0: none), PRESS_MIN for auto, TX_TC: ifindex 1 bounces. */
static int ck_set_tx(struct ck_env *c, uint32_t mode, uint16_t port, uint32_t press_min,
		     bool tx_tc)
{
	static struct sl_ck_config cfg;
	uint32_t k = 0;
	int ncpu = libbpf_num_possible_cpus();
	struct sl_ck_load zero[ncpu > 0 ? ncpu : 1];
	struct sl_ck_sent none = { { 0 } };

	memset(&cfg, 0, sizeof(cfg));
	cfg.mode = mode;
	cfg.press_min = press_min;
	cfg.opts = SLUICE_CK_OPT_TS | SLUICE_CK_OPT_SACK | SLUICE_CK_OPT_WSCALE;
	cfg.rcv_wscale = CK_RCV_WSCALE;
	memcpy(cfg.key, KEY, sizeof(cfg.key));
	if (port)
		cfg.ports[port / 64] |= 1ull << (port % 64);
	if (tx_tc)
		cfg.tx_tc[0] |= 1ull << 1;	/* this namespace's loopback, the test device */
	memset(zero, 0, sizeof(zero));
	/* and no cookie sent lately (slot 0 is the first ~69 s after boot) */
	if (bpf_map_update_elem(c->cfg_fd, &k, &cfg, BPF_ANY) ||
	    bpf_map_update_elem(c->load_fd, &k, zero, BPF_ANY) ||
	    bpf_map_update_elem(c->sent_fd, &k, &none, BPF_ANY))
		return -errno;
	return 0;
}

static int ck_set(struct ck_env *c, uint32_t mode, uint16_t port, uint32_t press_min)
{
	return ck_set_tx(c, mode, port, press_min, false);
}

static int ck_open(struct ck_env *c, uint32_t mode, uint16_t port)
{
	int err;

	if (!ck_ns())
		return -EPERM;
	err = ct_env_shared(&c->e);
	if (!err)
		err = ct_set_cfg(&c->e, 1, 0);
	if (err)
		return err;
	c->cfg_fd = bpf_map__fd(c->e.x.skel->maps.ct_ck_cfg);
	c->load_fd = bpf_map__fd(c->e.x.skel->maps.ct_ck_load);
	c->sent_fd = bpf_map__fd(c->e.x.skel->maps.ct_ck_sent);
	c->hand_fd = bpf_map__fd(c->e.x.skel->maps.ct_ck_hand);
	hand_flush(c);
	return ck_set(c, mode, port, 0);
}

#define CK_OPEN(c, mode, port)							\
	if (!ASSERT_OK(ck_open(&(c), (mode), (port)), "open"))			\
		goto out

/*
 * A test run that returns the frame out in OUT. Nothing travels in front of
 * the frame: XDP hands TC what it has through ct_ck_hand (hand_take).
 */
static uint32_t run_out(struct ck_env *c, const struct frame *in, struct frame *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in->b,
		.data_size_in = (uint32_t)in->len,
		.data_out = out->b,
		.data_size_out = sizeof(out->b),
		.repeat = 1,
	);

	memset(out, 0, sizeof(*out));
	if (bpf_prog_test_run_opts(c->e.x.prog_fd, &opts)) {
		printf("# BPF_PROG_TEST_RUN: %s\n", strerror(errno));
		return ~0u;
	}
	out->len = opts.data_size_out;
	return opts.retval;
}

static uint64_t verdict(struct ck_env *c, int v)
{
	struct sl_counter cnt[SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS];

	if (sl_verdicts_read(c->e.x.verdict_fd, c->e.x.drop_fd, cnt))
		return ~0ull;
	return cnt[v].packets;
}

static uint64_t dropped(struct ck_env *c, int reason)
{
	struct sl_counter cnt[SLUICE_DROP_MAX];

	if (sl_counters_read(c->e.x.drop_fd, SLUICE_DROP_MAX, cnt))
		return ~0ull;
	return cnt[reason].packets;
}

/*
 * The MSS XDP announces here: the test device's MTU (this namespace's
 * loopback) less the IP and TCP headers, at most 65495.
 */
static uint16_t our_mss(bool v4)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), mtu = 0;

	if (fd >= 0 && !ioctl(fd, SIOCGIFMTU, &ifr))
		mtu = ifr.ifr_mtu;
	if (fd >= 0)
		close(fd);
	mtu -= v4 ? 40 : 60;
	return mtu > 65495 ? 65495 : (uint16_t)mtu;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* ---- tests -------------------------------------------------------------- */

/* The oracle first: the paper's test vector (key 00..0f, message 00..0e). */
TEST(ck_reference_siphash)
{
	uint8_t m[15];

	for (int i = 0; i < 15; i++)
		m[i] = i;
	ASSERT_EQ(ref_siphash(KEY, m, 15), 0xa129ca6149be45e5ull, "SipHash-2-4 test vector");
}

/*
 * The SYN-ACK a cookie SYN gets, byte for byte: addresses, ports and MACs
 * swapped, IPv4 DF with id 0 and TTL 64 (IPv6: hop limit 64, no class or
 * flow), ACK of the ISN + 1, SYN|ACK, options in the kernel's order (MSS of
 * the interface, SACK-permitted + timestamps echoing the client's, window
 * scale ours), checksums right; the cookie's low byte says MSS 1460/1440,
 * SACK, the client's window scale and the time slot, its hash the
 * reference's. Nothing is tracked.
 */
static void synack(const char *peer, const char *local, uint16_t mss_in, uint32_t mss_idx)
{
	const uint32_t isn = 0x01020304, tsval = 0x11223344;
	uint8_t opt[40], exp_opt[20];
	uint32_t v, slot0, slot1, low, cookie, ts_ms0, ts_ms1;
	size_t n = linux_syn_opts(opt, mss_in, tsval);
	struct frame syn = tcp_opt(peer, 40500, local, SSH, SYN, isn, 0, opt, n), out, exp;
	bool v4 = family_of(local) == 4;
	size_t iphl = v4 ? 20 : 40;
	uint16_t mss = our_mss(v4);
	struct ck_env c;
	uint8_t *th;

	CK_OPEN(c, SLUICE_CK_ALWAYS, 0);
	slot0 = coarse_slot();
	ts_ms0 = (uint32_t)(ct_now_ns() / 1000000);
	v = run_out(&c, &syn, &out);
	ts_ms1 = (uint32_t)(ct_now_ns() / 1000000);
	slot1 = coarse_slot();
	if (!ASSERT_EQ(v, XDP_TX, "answered with XDP_TX") || slot0 != slot1)
		goto out;
	ASSERT_EQ(hand_count(&c), 0, "nothing for TC: XDP_TX sent it");
	th = out.b + 14 + iphl;
	cookie = get32(th + 4);
	low = (slot0 & 1) << 7 | mss_idx << 5 | 1 << 4 | 7;
	ASSERT_EQ(cookie & 0xff, low, "cookie bits 7..0: slot, MSS, SACK, window scale");
	ASSERT_EQ(cookie, ref_cookie(peer, 40500, local, SSH, isn, slot0, low),
		  "cookie hash: the reference SipHash");

	/* the SYN-ACK expected, built here */
	memset(exp_opt, 0, sizeof(exp_opt));
	exp_opt[0] = 2;
	exp_opt[1] = 4;
	put16(exp_opt + 2, mss);
	memcpy(exp_opt + 4, (uint8_t[]){ 4, 2, 8, 10 }, 4);
	memcpy(exp_opt + 8, th + 28, 4);	/* our tsval: the coarse clock in ms */
	put16(exp_opt + 12, tsval >> 16);
	put16(exp_opt + 14, tsval & 0xffff);
	memcpy(exp_opt + 16, (uint8_t[]){ 1, 3, 3, CK_RCV_WSCALE }, 4);
	ASSERT_TRUE(get32(th + 28) - ts_ms0 <= ts_ms1 - ts_ms0, "tsval: the clock, in ms");
	exp = tcp_opt(local, SSH, peer, 40500, SYN | ACK, cookie, isn + 1, exp_opt, 20);
	memcpy(exp.b, syn.b + 6, 6);		/* MACs swapped */
	memcpy(exp.b + 6, syn.b, 6);
	put16(exp.b + 14 + iphl + 14, 65535 / mss * mss);
	if (v4)
		exp.b[14 + 6] = 0x40;		/* DF */
	set_csums(&exp);
	ASSERT_TRUE(csums_ok(&out), "the SYN-ACK's checksums, recomputed here");
	if (ASSERT_EQ(out.len, exp.len, "SYN-ACK length")) {
		for (size_t i = 0; i < exp.len; i++)
			if (!ASSERT_EQ(out.b[i], exp.b[i], "SYN-ACK byte"))
				printf("# at byte %zu\n", i);
	}
	ASSERT_EQ(ct_count(&c.e), 0, "no state for the SYN");
	ASSERT_EQ(ct_stat(&c.e, SLUICE_CT_STAT_CK_SENT), 1, "syncookie-sent");
	ASSERT_EQ(verdict(&c, SLUICE_VERDICT_TX), 1, "verdict tx");
out:
	ct_env_close(&c.e);
}

TEST(ck_synack_v4)
{
	synack(PEER4, LOCAL4, 1460, 3);
}

TEST(ck_synack_v6)
{
	/* IPv6: 1440 is index 2 of 1220, 1420, 1440, 8940 */
	synack(PEER6, LOCAL6, 1440, 2);
}

/*
 * Where XDP_TX cannot be trusted (a veth), the SYN-ACK is the same frame,
 * passed up with SLUICE_CK_MAGIC_TX in ct_ck_hand for the TC ingress
 * program to send back; counted tx all the same.
 */
TEST(ck_synack_through_tc)
{
	uint8_t opt[40];
	size_t n = linux_syn_opts(opt, 1460, 9);
	struct frame syn = tcp_opt(PEER4, 40510, LOCAL4, SSH, SYN, 3, 0, opt, n), out;
	struct sl_ck_hand h;
	struct ck_env c;

	CK_OPEN(c, SLUICE_CK_ALWAYS, 0);
	ASSERT_OK(ck_set_tx(&c, SLUICE_CK_ALWAYS, 0, 0, true), "ifindex 1 through TC");
	ASSERT_EQ(run_out(&c, &syn, &out), XDP_PASS, "passed up");
	ASSERT_EQ(hand_count(&c), 1, "one handoff");
	if (ASSERT_OK(hand_take(&c, PEER4, 40510, LOCAL4, SSH, 3, &h), "under the SYN's flow"))
		ASSERT_EQ(h.magic, SLUICE_CK_MAGIC_TX, "send me back");
	ASSERT_EQ(out.b[14 + 20 + 13], SYN | ACK, "the frame is the SYN-ACK");
	ASSERT_TRUE(csums_ok(&out), "checksums");
	ASSERT_EQ(verdict(&c, SLUICE_VERDICT_TX), 1, "counted tx");
	ASSERT_EQ(verdict(&c, SLUICE_VERDICT_PASS), 0, "not pass");
out:
	ct_env_close(&c.e);
}

/*
 * A SYN without options gets MSS only (the frame grows by 4 bytes); one
 * padded to 60 bytes by Ethernet loses the padding; the cookie says: MSS
 * 536 (none asked), no SACK, no window scale.
 */
TEST(ck_synack_no_options)
{
	const uint32_t isn = 77;
	struct frame syn = tcp_opt(PEER4, 40501, LOCAL4, SSH, SYN, isn, 0, NULL, 0), out;
	uint32_t low, cookie, slot;
	struct ck_env c;
	uint8_t *th;

	CK_OPEN(c, SLUICE_CK_ALWAYS, 0);
	syn.len = 60;				/* Ethernet padding */
	slot = coarse_slot();
	if (!ASSERT_EQ(run_out(&c, &syn, &out), XDP_TX, "answered"))
		goto out;
	ASSERT_EQ(out.len, 14 + 20 + 24, "Ethernet, IPv4, TCP with the MSS option");
	th = out.b + 34;
	ASSERT_EQ(th[12], 6 << 4, "data offset 6");
	ASSERT_EQ(get32(th + 20), 0x02040000u | our_mss(true), "MSS option only");
	ASSERT_TRUE(csums_ok(&out), "checksums");
	cookie = get32(th + 4);
	low = (slot & 1) << 7 | 0 << 5 | 0 << 4 | 0xf;
	ASSERT_EQ(cookie & 0xff, low, "MSS 536, no SACK, no window scale");
	ASSERT_EQ(cookie, ref_cookie(PEER4, 40501, LOCAL4, SSH, isn, slot, low), "cookie");
out:
	ct_env_close(&c.e);
}

/* The ACK of a cookie's SYN-ACK, as the client sends it. */
static struct frame cookie_ack(const char *peer, uint16_t sport, const char *local,
			       uint32_t isn, uint32_t cookie, uint32_t tsval, uint32_t tsecr)
{
	uint8_t o[12] = { 1, 1, 8, 10 };

	put16(o + 4, tsval >> 16);
	put16(o + 6, tsval & 0xffff);
	put16(o + 8, tsecr >> 16);
	put16(o + 10, tsecr & 0xffff);
	return tcp_opt(peer, sport, local, SSH, ACK, isn + 1, cookie + 1, o, sizeof(o));
}

/*
 * The ACK returning a good cookie passes, is tracked as an established,
 * assured connection (the peer its originator), and carries the handshake's
 * options to TC in ct_ck_hand; the connection's next packet is a
 * plain conntrack hit.
 */
static void good_ack(const char *peer, const char *local, uint16_t mss_in, uint16_t mss_out)
{
	const uint32_t isn = 0x0a0b0c0d;
	uint8_t opt[40];
	size_t n = linux_syn_opts(opt, mss_in, 5000);
	struct frame syn = tcp_opt(peer, 40600, local, SSH, SYN, isn, 0, opt, n), out, ack;
	struct tuple t = { peer, local, 40600, SSH, 6 };
	bool v4 = family_of(local) == 4, a;
	uint32_t cookie, our_ts;
	struct sl_ct_entry e;
	struct sl_ck_hand m;
	struct ck_env c;

	CK_OPEN(c, SLUICE_CK_ALWAYS, 0);
	if (!ASSERT_EQ(run_out(&c, &syn, &out), XDP_TX, "SYN answered"))
		goto out;
	cookie = get32(out.b + 14 + (v4 ? 20 : 40) + 4);
	our_ts = get32(out.b + 14 + (v4 ? 20 : 40) + 28);
	ack = cookie_ack(peer, 40600, local, isn, cookie, 5001, our_ts);
	ASSERT_EQ(run_out(&c, &ack, &out), XDP_PASS, "the cookie's ACK passes");
	ASSERT_EQ(ct_stat(&c.e, SLUICE_CT_STAT_CK_VALID), 1, "syncookie-valid");
	if (ASSERT_OK(entry_in(&c.e, false, t, &e, &a), "tracked among the assured")) {
		ASSERT_EQ(e.state, SL_CT_ESTABLISHED, "established");
		ASSERT_TRUE(e.orig_is_a == a, "the peer opened it");
	}
	ASSERT_EQ(hand_count(&c), 1, "one handoff");
	if (ASSERT_OK(hand_take(&c, peer, 40600, local, SSH, isn, &m), "for TC, under the flow")) {
		ASSERT_EQ(m.magic, SLUICE_CK_MAGIC, "magic");
		ASSERT_EQ(m.mss, mss_out, "the client's MSS, from the cookie");
		ASSERT_EQ(m.snd_wscale, 7, "the client's window scale");
		ASSERT_EQ(m.rcv_wscale, CK_RCV_WSCALE, "ours");
		ASSERT_EQ(m.flags, 7, "SACK, timestamps, window scale");
		ASSERT_EQ(m.tsval, 5001, "the ACK's tsval");
		ASSERT_EQ(m.tsecr, our_ts, "the ACK's tsecr: our tsval");
	}
	ack = tcp_opt(peer, 40600, local, SSH, ACK | PSH, isn + 1, cookie + 1, NULL, 0);
	ASSERT_EQ(run_out(&c, &ack, &out), XDP_PASS, "the next packet: a hit");
	ASSERT_EQ(hand_count(&c), 0, "nothing for TC of a tracked packet");
	ASSERT_EQ(ct_stat(&c.e, SLUICE_CT_STAT_CK_VALID), 1, "one cookie validated");
	ASSERT_EQ(ct_stat(&c.e, SLUICE_CT_STAT_CREATED), 1, "one connection created");
	/* the cookie's ACK told where both streams are: a blind RST ends nothing, a FIN in its stream does */
	ack = tcp_opt(peer, 40600, local, SSH, RST, isn + 0x40000000, 0, NULL, 0);
	ASSERT_EQ(run_out(&c, &ack, &out), XDP_PASS, "a blind RST passes");
	ASSERT_EQ(state_of(&c.e, t), SL_CT_ESTABLISHED, "and ends nothing");
	ack = tcp_opt(peer, 40600, local, SSH, FIN | ACK, isn + 1, cookie + 1, NULL, 0);
	ASSERT_EQ(run_out(&c, &ack, &out), XDP_PASS, "the client's FIN");
	ASSERT_EQ(state_of(&c.e, t), SL_CT_FIN_WAIT, "fin-wait");
out:
	ct_env_close(&c.e);
}

TEST(ck_good_ack_v4)
{
	good_ack(PEER4, LOCAL4, 1460, 1460);
}

TEST(ck_good_ack_v6)
{
	good_ack(PEER6, LOCAL6, 1440, 1440);
}

/*
 * The TC ingress program takes what XDP handed it, and only that: the
 * SYN-ACK XDP passed up (SLUICE_CK_MAGIC_TX) is redirected back out and its
 * entry deleted, a second time it is not; a cookie's ACK has its entry taken
 * and the listener asked (counted accepted or failed, once); an ACK of
 * another flow, or with another sequence number, finds nothing and goes on;
 * while no cookie was sent lately TC looks nothing up at all.
 */
TEST(ck_tc_takes_handoffs)
{
	const uint32_t isn = 0x51525354;
	uint8_t opt[40];
	size_t n = linux_syn_opts(opt, 1460, 77);
	struct frame syn = tcp_opt(PEER4, 40520, LOCAL4, SSH, SYN, isn, 0, opt, n), synack, out,
		     ack, other;
	int tc = -1;
	uint64_t done0;
	uint32_t cookie, our_ts;
	struct sl_ck_hand h = { .magic = SLUICE_CK_MAGIC };
	struct sl_ck_flow f;
	struct ck_env c;

	CK_OPEN(c, SLUICE_CK_ALWAYS, 0);
	tc = bpf_program__fd(c.e.tc->progs.sl_tc_ingress);
	ASSERT_OK(ck_set_tx(&c, SLUICE_CK_ALWAYS, 0, 0, true), "ifindex 1 through TC");
	if (!ASSERT_EQ(run_out(&c, &syn, &synack), XDP_PASS, "SYN-ACK passed up"))
		goto out;
	ASSERT_EQ(hand_count(&c), 1, "handed to TC");
	ASSERT_EQ(run_prog(tc, &synack), TC_ACT_REDIRECT, "TC sends the SYN-ACK back out");
	ASSERT_EQ(hand_count(&c), 0, "and takes its entry");
	ASSERT_EQ(run_prog(tc, &synack), (uint32_t)-1, "a second time: nothing to take");

	/* the cookie's ACK: XDP validates it and hands its options over */
	cookie = get32(synack.b + 14 + 20 + 4);
	our_ts = get32(synack.b + 14 + 20 + 28);
	ack = cookie_ack(PEER4, 40520, LOCAL4, isn, cookie, 78, our_ts);
	if (!ASSERT_EQ(run_out(&c, &ack, &out), XDP_PASS, "the cookie's ACK passes"))
		goto out;
	ASSERT_EQ(hand_count(&c), 1, "its options handed to TC");
	other = cookie_ack(PEER4, 40521, LOCAL4, isn, cookie, 78, our_ts);
	ASSERT_EQ(run_prog(tc, &other), (uint32_t)-1, "another flow's ACK goes on");
	other = cookie_ack(PEER4, 40520, LOCAL4, isn + 1, cookie, 78, our_ts);
	ASSERT_EQ(run_prog(tc, &other), (uint32_t)-1, "another sequence number goes on");
	ASSERT_EQ(hand_count(&c), 1, "neither took it");
	done0 = ct_stat(&c.e, SLUICE_CT_STAT_CK_ACCEPTED) + ct_stat(&c.e, SLUICE_CT_STAT_CK_FAILED);
	ASSERT_EQ(run_prog(tc, &ack), (uint32_t)-1, "the ACK goes on to the listener");
	ASSERT_EQ(hand_count(&c), 0, "its entry taken");
	ASSERT_EQ(ct_stat(&c.e, SLUICE_CT_STAT_CK_ACCEPTED) +
		  ct_stat(&c.e, SLUICE_CT_STAT_CK_FAILED), done0 + 1, "the listener asked once");

	/* no cookie sent lately: TC does not look (the entry stays for the LRU) */
	memset(&f, 0, sizeof(f));
	inet_pton(AF_INET, PEER4, f.saddr);
	inet_pton(AF_INET, LOCAL4, f.daddr);
	f.sport = htons(40520);
	f.dport = htons(SSH);
	f.isn = isn;
	f.family = 4;
	ASSERT_OK(bpf_map_update_elem(c.hand_fd, &f, &h, BPF_ANY), "an entry written");
	ASSERT_OK(ck_set_tx(&c, SLUICE_CK_ALWAYS, 0, 0, true), "no cookie sent lately");
	ASSERT_EQ(run_prog(tc, &ack), (uint32_t)-1, "the ACK goes on");
	ASSERT_EQ(hand_count(&c), 1, "nothing taken");
out:
	ct_env_close(&c.e);
}

/*
 * Bad cookies are dropped as syncookie-bad where the port always gets
 * cookies: a wrong number, a good number for another port, a cookie of two
 * slots ago (~2 min); a cookie of the previous slot is still good. In auto
 * mode (port not listed) a bad one goes to the rules (a mid-stream packet
 * of a connection whose entry was lost), untracked.
 */
TEST(ck_bad_ack_dropped)
{
	const uint32_t isn = 5;
	uint32_t slot = coarse_slot(), low, ck;
	struct ck_env c;

	CK_OPEN(c, SLUICE_CK_ALWAYS, 0);
	/* cookies were sent in both slots, as the good ones below would have been */
	ASSERT_OK(ck_mark(&c, slot - 1) || ck_mark(&c, slot), "slots marked sent");
	low = (slot & 1) << 7 | 3 << 5 | 0xf;
	ck = ref_cookie(PEER4, 40700, LOCAL4, SSH, isn, slot, low);
	ASSERT_EQ(in(&c.e, cookie_ack(PEER4, 40700, LOCAL4, isn, ck + 1, 1, 1)), XDP_DROP,
		  "cookie + 1");
	ASSERT_EQ(in(&c.e, cookie_ack(PEER4, 40701, LOCAL4, isn, ck, 1, 1)), XDP_DROP,
		  "another port's cookie");
	low = ((slot - 2) & 1) << 7 | 3 << 5 | 0xf;
	ASSERT_EQ(in(&c.e, cookie_ack(PEER4, 40700, LOCAL4, isn,
				      ref_cookie(PEER4, 40700, LOCAL4, SSH, isn, slot - 2, low),
				      1, 1)), XDP_DROP, "two slots ago");
	ASSERT_EQ(dropped(&c, SLUICE_DROP_SYNCOOKIE_BAD), 3, "counted syncookie-bad");
	ASSERT_EQ(ct_count(&c.e), 0, "nothing tracked");
	low = ((slot - 1) & 1) << 7 | 3 << 5 | 0xf;
	ASSERT_EQ(in(&c.e, cookie_ack(PEER4, 40702, LOCAL4, isn,
				      ref_cookie(PEER4, 40702, LOCAL4, SSH, isn, slot - 1, low),
				      1, 1)), XDP_PASS, "the previous slot's cookie is good");
	ASSERT_EQ(ct_count(&c.e), 1, "and tracked");
	ASSERT_EQ(hand_count(&c), 1, "its options left for TC");

	ASSERT_OK(ck_set(&c, SLUICE_CK_AUTO, 0, 0), "auto");
	ASSERT_OK(ck_mark(&c, slot), "slot marked sent");
	ASSERT_EQ(in(&c.e, cookie_ack(PEER4, 40700, LOCAL4, isn, ck + 1, 1, 1)), XDP_PASS,
		  "auto: a bad cookie goes to the rules (ssh allowed)");
	ASSERT_EQ(dropped(&c, SLUICE_DROP_SYNCOOKIE_BAD), 3, "not counted bad");
	ASSERT_EQ(ct_count(&c.e), 1, "and not tracked");
out:
	ct_env_close(&c.e);
}

/*
 * An ACK is checked as a cookie's only when a cookie was sent (by any CPU)
 * in its time slot or the one before: the cookie of the current slot,
 * computed here, is not validated while ct_ck_sent says none was sent
 * lately (auto: left to the rules, untracked; a port that always gets
 * cookies, or always mode: dropped as a bad cookie, as before), and is once
 * a SYN-ACK of the slot went out (a real one: the datapath marks the slot).
 */
TEST(ck_ack_without_cookie_sent)
{
	const uint32_t isn = 77;
	uint32_t slot = coarse_slot(), low = (slot & 1) << 7 | 3 << 5 | 0xf;
	uint32_t ck = ref_cookie(PEER4, 40900, LOCAL4, SSH, isn, slot, low);
	struct frame ack = cookie_ack(PEER4, 40900, LOCAL4, isn, ck, 1, 1), out;
	uint8_t opt[40];
	size_t n = linux_syn_opts(opt, 1460, 1);
	struct sl_ck_sent s;
	struct ck_env c;

	CK_OPEN(c, SLUICE_CK_AUTO, 0);
	ASSERT_EQ(run_out(&c, &ack, &out), XDP_PASS, "auto: to the rules (ssh allowed)");
	ASSERT_EQ(hand_count(&c), 0, "nothing for TC");
	ASSERT_EQ(ct_stat(&c.e, SLUICE_CT_STAT_CK_VALID), 0, "not validated");
	ASSERT_EQ(ct_count(&c.e), 0, "not tracked");

	ASSERT_OK(ck_set(&c, SLUICE_CK_AUTO, SSH, 0), "port 22 listed");
	ASSERT_EQ(in(&c.e, ack), XDP_DROP, "listed port: dropped");
	ASSERT_OK(ck_set(&c, SLUICE_CK_ALWAYS, 0, 0), "always");
	ASSERT_EQ(in(&c.e, ack), XDP_DROP, "always: dropped");
	ASSERT_EQ(dropped(&c, SLUICE_DROP_SYNCOOKIE_BAD), 2, "counted syncookie-bad");
	ASSERT_EQ(ct_stat(&c.e, SLUICE_CT_STAT_CK_VALID), 0, "none validated");
	ASSERT_EQ(ct_count(&c.e), 0, "nothing tracked");

	/* a SYN answered: its slot is marked, and the cookie above now validates */
	ASSERT_EQ(in(&c.e, tcp_opt(PEER4, 40901, LOCAL4, SSH, SYN, 1, 0, opt, n)), XDP_TX,
		  "a SYN answered");
	s = ck_sent(&c);
	ASSERT_TRUE(s.slot[slot % SLUICE_CK_SENT_SLOTS] == slot ||
		    s.slot[(slot + 1) % SLUICE_CK_SENT_SLOTS] == slot + 1, "its slot marked sent");
	ASSERT_EQ(in(&c.e, ack), XDP_PASS, "the cookie of the slot: validated");
	ASSERT_EQ(ct_stat(&c.e, SLUICE_CT_STAT_CK_VALID), 1, "syncookie-valid");
	ASSERT_EQ(ct_count(&c.e), 1, "tracked");
out:
	ct_env_close(&c.e);
}

/*
 * The rules come first: a SYN they deny is dropped, never answered. A SYN
 * with a bad checksum, or to a port nobody listens on, takes the ordinary
 * path (tracked, passed to the stack).
 */
TEST(ck_rules_listener_checksum)
{
	uint8_t opt[40];
	size_t n = linux_syn_opts(opt, 1460, 1);
	struct frame f;
	struct ck_env c;

	CK_OPEN(c, SLUICE_CK_ALWAYS, 0);
	f = tcp_opt(PEER4, 40800, LOCAL4, 23, SYN, 1, 0, opt, n);
	ASSERT_EQ(in(&c.e, f), XDP_DROP, "denied by no-telnet: dropped");
	f = tcp_opt(PEER4, 40800, LOCAL4, 80, SYN, 1, 0, opt, n);
	ASSERT_EQ(in(&c.e, f), XDP_DROP, "no rule, default deny: dropped");
	f = tcp_opt(PEER4, 40801, LOCAL4, SSH, SYN, 1, 0, opt, n);
	f.b[14 + 20 + 16] ^= 0x55;
	ASSERT_EQ(in(&c.e, f), XDP_PASS, "bad checksum: the ordinary path");
	ASSERT_EQ(state_of(&c.e, (struct tuple){ PEER4, LOCAL4, 40801, SSH, 6 }), SL_CT_SYN_SENT,
		  "tracked half-open");
	/* no listener: port 22 of a v6 address when only the v6 listener is gone */
	close(listeners[1]);
	listeners[1] = -1;
	f = tcp_opt(PEER6, 40802, LOCAL6, SSH, SYN, 1, 0, opt, n);
	ASSERT_EQ(in(&c.e, f), XDP_PASS, "no listener: the ordinary path");
	ASSERT_EQ(state_of(&c.e, (struct tuple){ PEER6, LOCAL6, 40802, SSH, 6 }), SL_CT_SYN_SENT,
		  "tracked half-open");
	ASSERT_EQ(verdict(&c, SLUICE_VERDICT_TX), 0, "nothing answered");
	ASSERT_EQ(ct_stat(&c.e, SLUICE_CT_STAT_CK_SENT), 0, "no cookie sent");
	listeners[1] = listen22(AF_INET6);
	ASSERT_TRUE(listeners[1] >= 0, "v6 listener back");
out:
	ct_env_close(&c.e);
}

/* Keep this thread on the CPU it runs on: auto mode counts per CPU. */
static void pin_cpu(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/*
 * Auto mode: SYNs that complete their handshake never turn cookies on; 100
 * that do not, with press_min 30 (in one window, or split over a few on a
 * slow machine), do from the next window on (for SLUICE_CK_HOLD_NS); a port
 * listed always gets them.
 */
TEST(ck_auto_pressure)
{
	uint8_t opt[40], ip[64];
	size_t n = linux_syn_opts(opt, 1460, 1);
	struct ck_env c;
	uint32_t v1, v2;

	CK_OPEN(c, SLUICE_CK_AUTO, 0);
	pin_cpu();
	ASSERT_OK(ck_set(&c, SLUICE_CK_AUTO, 0, 30), "press_min 30");
	/* 100 handshakes that complete: no pressure */
	for (int i = 0; i < 100; i++) {
		snprintf((char *)ip, sizeof(ip), "198.51.100.%d", i + 1);
		ASSERT_EQ(in(&c.e, tcp_opt((char *)ip, 41000, LOCAL4, SSH, SYN, 1, 0, opt, n)),
			  XDP_PASS, "SYN, ordinary path");
		out(&c.e, tcp_sa(LOCAL4, SSH, (char *)ip, 41000, SYN | ACK, 0, 2));
		in(&c.e, tcp((char *)ip, 41000, LOCAL4, SSH, ACK));
	}
	usleep(300000);
	ASSERT_EQ(in(&c.e, tcp_opt(PEER4, 41001, LOCAL4, SSH, SYN, 1, 0, opt, n)), XDP_PASS,
		  "completed handshakes: no cookies");
	ASSERT_EQ(in(&c.e, tcp_opt(PEER4, 41002, LOCAL4, SSH, SYN, 1, 0, opt, n)), XDP_PASS,
		  "still none");
	/* 100 that never complete, in one window */
	for (int i = 0; i < 100; i++) {
		snprintf((char *)ip, sizeof(ip), "203.0.113.%d", i + 1);
		in(&c.e, tcp_opt((char *)ip, 42000, LOCAL4, SSH, SYN, 1, 0, opt, n));
	}
	/* at least a window later: the next SYN closes it (and may still take
	 * the ordinary path), the one after gets a cookie */
	usleep(300000);
	v1 = in(&c.e, tcp_opt(PEER4, 41003, LOCAL4, SSH, SYN, 1, 0, opt, n));
	v2 = in(&c.e, tcp_opt(PEER4, 41004, LOCAL4, SSH, SYN, 1, 0, opt, n));
	ASSERT_TRUE(v1 == XDP_PASS || v1 == XDP_TX, "the SYN that closes the window");
	ASSERT_EQ(v2, XDP_TX, "then cookies");
	ASSERT_TRUE(ct_stat(&c.e, SLUICE_CT_STAT_CK_PRESSURE) >= 1, "syncookie-pressure");
	/* a listed port gets cookies without pressure */
	ASSERT_OK(ck_set(&c, SLUICE_CK_AUTO, SSH, 30), "port 22 listed");
	ASSERT_EQ(in(&c.e, tcp_opt(PEER4, 41005, LOCAL4, SSH, SYN, 1, 0, opt, n)), XDP_TX,
		  "listed port: a cookie");
	ASSERT_OK(ck_set(&c, SLUICE_CK_OFF, SSH, 30), "off");
	ASSERT_EQ(in(&c.e, tcp_opt(PEER4, 41006, LOCAL4, SSH, SYN, 1, 0, opt, n)), XDP_PASS,
		  "off: never");
out:
	ct_env_close(&c.e);
}
