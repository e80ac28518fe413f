// SPDX-License-Identifier: GPL-2.0-only
/*
 * Drop events with BPF_PROG_TEST_RUN: a drop writes one sl_event into the
 * ring buffer with the frame's fields, a pass writes none, sl_ev_cfg.rate
 * caps the events of one second and counts the rest, rate 0 sends nothing.
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <linux/bpf.h>

#include "testlib.h"
#include "xdp_env.h"

static const char *const POLICY =
	"firewall:\n"
	"  interfaces: [slj0]\n"
	"  default: allow\n"
	"  stateful: false\n"
	"  rules:\n"
	"    - name: allow-53\n"		/* 0 */
	"      action: allow\n"
	"      proto: udp\n"
	"      dport: [53]\n"
	"    - name: deny-udp\n"		/* 1 */
	"      action: deny\n"
	"      src: [192.0.2.0/24]\n"
	"      proto: udp\n"
	"    - name: deny-icmp\n"		/* 2 */
	"      action: deny\n"
	"      proto: icmp\n";

/* Ethernet + IPv4 + UDP, 192.0.2.7:SPORT -> 198.51.100.9:DPORT, 8 bytes of payload. */
static size_t udp4_frame(uint8_t *p, uint16_t sport, uint16_t dport, uint8_t ihl_byte)
{
	const uint8_t src[4] = { 192, 0, 2, 7 }, dst[4] = { 198, 51, 100, 9 };
	size_t len = 14 + 20 + 8 + 8;

	memset(p, 0, len);
	p[0] = 0x02;
	p[6] = 0x02;
	p[11] = 1;
	p[12] = 0x08;				/* ETH_P_IP */
	p[14] = ihl_byte;			/* 0x45 */
	p[16] = 0;
	p[17] = 20 + 8 + 8;			/* total length */
	p[22] = 64;				/* ttl */
	p[23] = 17;				/* UDP */
	memcpy(p + 26, src, 4);
	memcpy(p + 30, dst, 4);
	p[34] = sport >> 8;
	p[35] = sport & 0xff;
	p[36] = dport >> 8;
	p[37] = dport & 0xff;
	p[39] = 16;				/* UDP length */
	return len;
}

struct collected {
	struct sl_event ev[64];
	int n;
};

static int collect(void *ctx, void *data, size_t size)
{
	struct collected *c = ctx;

	if (size == sizeof(struct sl_event) && c->n < 64)
		memcpy(&c->ev[c->n], data, size);
	c->n++;
	return 0;
}

static int set_rate(struct xdp_env *env, __u32 rate)
{
	struct sl_ev_config cfg = { .rate = rate };
	__u32 key = 0;

	return bpf_map_update_elem(bpf_map__fd(env->skel->maps.sl_ev_cfg), &key, &cfg,
				   BPF_ANY) ? -errno : 0;
}

/*
 * The limiter's counters as the agent reports them: suppressed is
 * sl_ev_cfg's plus what the CPUs counted while muted (sl_ev_mute).
 */
static int get_cfg(struct xdp_env *env, struct sl_ev_config *cfg)
{
	struct sl_ev_mute mu[512];
	int ncpu = libbpf_num_possible_cpus();
	__u32 key = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(env->skel->maps.sl_ev_cfg), &key, cfg))
		return -errno;
	if (ncpu <= 0 || ncpu > 512)
		return -ERANGE;
	if (bpf_map_lookup_elem(bpf_map__fd(env->skel->maps.sl_ev_mute), &key, mu))
		return -errno;
	for (int i = 0; i < ncpu; i++)
		cfg->suppressed += mu[i].suppressed;
	return 0;
}

/* Run PKT REPEAT times as if received on IFINDEX; *RETVAL the verdict. */
static int run_on(struct xdp_env *env, const void *pkt, size_t len, __u32 ifindex, int repeat,
		  __u32 *retval)
{
	struct xdp_md ctx = { .data_end = len, .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = pkt,
		.data_size_in = (__u32)len,
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.repeat = repeat,
	);

	if (bpf_prog_test_run_opts(env->prog_fd, &opts))
		return -errno;
	*retval = opts.retval;
	return 0;
}

static bool setup(struct xdp_env *env, struct ring_buffer **rb, struct collected *c)
{
	*rb = NULL;
	if (!ASSERT_OK(xdp_env_open(env), "open"))
		return false;
	if (!ASSERT_OK(xdp_env_apply(env, POLICY, 1, NULL), "apply policy"))
		return false;
	*rb = ring_buffer__new(bpf_map__fd(env->skel->maps.sl_events), collect, c, NULL);
	return ASSERT_TRUE(*rb != NULL, "ring_buffer__new");
}

TEST(events_drop_writes_one_event)
{
	static const uint8_t want_src[16] = { 192, 0, 2, 7 }, want_dst[16] = { 198, 51, 100, 9 };
	struct collected c = { 0 };
	struct ring_buffer *rb;
	struct xdp_env env;
	struct sl_event *e = &c.ev[0];
	struct sl_ev_config cfg;
	uint8_t pkt[128];
	size_t len;
	__u32 ret;

	if (!setup(&env, &rb, &c))
		goto out;
	ASSERT_OK(set_rate(&env, 100), "rate");
	/* allowed by rule 0: no event */
	len = udp4_frame(pkt, 4000, 53, 0x45);
	ASSERT_OK(run_on(&env, pkt, len, 1, 1, &ret), "run pass");
	ASSERT_EQ(ret, XDP_PASS, "dport 53 passes");
	ASSERT_EQ(ring_buffer__consume(rb), 0, "no event for a pass");

	len = udp4_frame(pkt, 4000, 9999, 0x45);
	ASSERT_OK(run_on(&env, pkt, len, 1, 1, &ret), "run drop");
	ASSERT_EQ(ret, XDP_DROP, "deny-udp drops");
	ASSERT_EQ(ring_buffer__consume(rb), 1, "one event");
	ASSERT_EQ(c.n, 1, "one event collected");
	ASSERT_EQ(e->reason, SLUICE_DROP_POLICY_RULE, "reason");
	ASSERT_EQ(e->rule, 1, "rule index of deny-udp");
	ASSERT_EQ(e->ifindex, 1, "ifindex");
	ASSERT_EQ(e->family, 4, "family");
	ASSERT_EQ(e->proto, 17, "proto");
	ASSERT_EQ(e->sport, 4000, "sport");
	ASSERT_EQ(e->dport, 9999, "dport");
	ASSERT_EQ(e->len, len, "length");
	ASSERT_TRUE(!memcmp(e->src, want_src, 16), "src address");
	ASSERT_TRUE(!memcmp(e->dst, want_dst, 16), "dst address");
	ASSERT_TRUE(e->ts_ns > 0, "timestamp");

	/* a malformed header: no rule */
	len = udp4_frame(pkt, 4000, 9999, 0x44);
	ASSERT_OK(run_on(&env, pkt, len, 1, 1, &ret), "run bad ihl");
	ASSERT_EQ(ret, XDP_DROP, "bad ihl drops");
	ASSERT_EQ(ring_buffer__consume(rb), 1, "one event");
	ASSERT_EQ(c.ev[1].reason, SLUICE_DROP_BAD_IP4_IHL, "reason bad ihl");
	ASSERT_EQ(c.ev[1].rule, SLUICE_EV_NO_RULE, "no rule");

	/* a protocol without ports has none in its event: the UDP frame made an ICMP echo request */
	len = udp4_frame(pkt, 0x0800, 0x1234, 0x45);
	pkt[23] = 1;
	ASSERT_OK(run_on(&env, pkt, len, 1, 1, &ret), "run icmp");
	ASSERT_EQ(ret, XDP_DROP, "deny-icmp drops");
	ASSERT_EQ(ring_buffer__consume(rb), 1, "one event");
	ASSERT_EQ(c.ev[2].rule, 2, "rule index of deny-icmp");
	ASSERT_EQ(c.ev[2].proto, 1, "proto");
	ASSERT_EQ(c.ev[2].sport, 0, "no source port");
	ASSERT_EQ(c.ev[2].dport, 0, "no destination port");
	if (ASSERT_OK(get_cfg(&env, &cfg), "read cfg")) {
		ASSERT_EQ(cfg.sent, 3, "sent");
		ASSERT_EQ(cfg.suppressed, 0, "suppressed");
	}
out:
	ring_buffer__free(rb);
	xdp_env_close(&env);
}

TEST(events_limiter_caps_one_second)
{
	struct collected c = { 0 };
	struct ring_buffer *rb;
	struct sl_ev_config cfg;
	struct xdp_env env;
	uint8_t pkt[128];
	size_t len;
	__u32 ret;

	if (!setup(&env, &rb, &c))
		goto out;
	ASSERT_OK(set_rate(&env, 5), "rate");
	len = udp4_frame(pkt, 4000, 9999, 0x45);
	/* 40 drops in far less than a second */
	ASSERT_OK(run_on(&env, pkt, len, 1, 40, &ret), "run");
	ASSERT_EQ(ret, XDP_DROP, "drops");
	ASSERT_EQ(ring_buffer__consume(rb), 5, "rate events");
	if (ASSERT_OK(get_cfg(&env, &cfg), "read cfg")) {
		ASSERT_EQ(cfg.sent, 5, "sent");
		ASSERT_EQ(cfg.suppressed, 35, "the rest counted");
		ASSERT_EQ(cfg.lost, 0, "none lost");
	}
	/*
	 * rate 0: off, nothing sent (this CPU, muted in this jiffy, counts
	 * its drops as suppressed until the next one, as for any new rate)
	 */
	ASSERT_OK(set_rate(&env, 0), "rate 0");
	ASSERT_OK(run_on(&env, pkt, len, 1, 10, &ret), "run");
	ASSERT_EQ(ring_buffer__consume(rb), 0, "no events at rate 0");
	if (ASSERT_OK(get_cfg(&env, &cfg), "read cfg"))
		ASSERT_EQ(cfg.sent, 0, "sent");
out:
	ring_buffer__free(rb);
	xdp_env_close(&env);
}

/*
 * A CPU that found the window full is muted for the rest of that jiffy
 * only: in the next window it sends again, its muted drops all counted.
 */
TEST(events_limiter_next_window_sends)
{
	struct timespec pause = { .tv_sec = 1, .tv_nsec = 100 * 1000 * 1000 };
	struct collected c = { 0 };
	struct ring_buffer *rb;
	struct sl_ev_config cfg;
	struct xdp_env env;
	uint8_t pkt[128];
	size_t len;
	__u32 ret;

	if (!setup(&env, &rb, &c))
		goto out;
	ASSERT_OK(set_rate(&env, 3), "rate");
	len = udp4_frame(pkt, 4000, 9999, 0x45);
	ASSERT_OK(run_on(&env, pkt, len, 1, 50, &ret), "run");
	ASSERT_EQ(ring_buffer__consume(rb), 3, "the first window's events");
	/* past the window (the coarse clock moves with the jiffy) */
	nanosleep(&pause, NULL);
	ASSERT_OK(run_on(&env, pkt, len, 1, 50, &ret), "run again");
	ASSERT_EQ(ring_buffer__consume(rb), 3, "the next window's events");
	if (ASSERT_OK(get_cfg(&env, &cfg), "read cfg")) {
		ASSERT_EQ(cfg.sent, 6, "sent");
		ASSERT_EQ(cfg.suppressed, 94, "every other drop counted");
	}
out:
	ring_buffer__free(rb);
	xdp_env_close(&env);
}
