// SPDX-License-Identifier: GPL-2.0-only
/*
 * Conntrack cost with BPF_PROG_TEST_RUN, beside a floor measured in the same
 * run (XDP_DROP, or the same flow-index step then XDP_DROP): established
 * flow hit, new connection (miss + rules + insert), a table half full of
 * random flows. Then memory of 1M entries (memlock and measured in
 * /proc/meminfo), the cost of one walk of the table, and the CPU their
 * expiry by the shards' sweeper timers takes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bench_util.h"
#include "ct.h"
#include "fw_maps.h"
#include "bench_ct.skel.h"
#include "bench_floor.skel.h"
#include "sluice_tc.skel.h"
#include "sluice_xdp.skel.h"

#define ROUNDS		7
#define FRAME_LEN	64
#define FILL_N		(1u << 20)
#define FILL_MAX	(FILL_N + FILL_N / 4)	/* LRU headroom: it evicts before full */

struct ctb {
	struct sluice_xdp *fw;
	struct bench_ct *ct;
	struct bench_floor *floor;
	struct sluice_tc *tc;
	struct fw_map_fds fds;
	struct ct_tables tbl;	/* ct4_shards, ct_shards */
	int sweep_fd, cfg_fd, stats_fd;
	uint32_t shards;
	char dir[64];
};

static const char *const POLICY =
	"firewall:\n  interfaces: [slf0]\n  default: deny\n  stateful: false\n  rules:\n"
	"    - { name: web, action: allow, dst: [198.51.100.1], proto: [tcp, udp], dport: [80] }\n";

/* Ethernet + IPv4 + TCP, 198.18.0.1:SPORT -> 198.51.100.1:80, FLAGS; counter C, mask M. */
static void make_frame(uint8_t *f, uint16_t sport, uint8_t flags, uint32_t c, uint32_t m)
{
	uint32_t v;

	memset(f, 0, FRAME_LEN);
	memcpy(f, &c, 4);
	memcpy(f + 6, &m, 4);
	f[12] = 0x08;
	f[14] = 0x45;
	f[17] = FRAME_LEN - 14;
	f[22] = 64;
	f[23] = 6;
	v = htonl(0xC6120001);
	memcpy(f + 26, &v, 4);
	v = htonl(0xC6336401);
	memcpy(f + 30, &v, 4);
	f[34] = sport >> 8;
	f[35] = sport & 0xff;
	f[37] = 80;
	f[46] = 0x50;
	f[47] = flags;
	/* sequence numbers 0 both ways: an ACK acknowledges 1 */
	f[45] = flags & 0x10 ? 1 : 0;
}

/*
 * The same as a UDP datagram: a UDP flow answered (ct_answered) is an
 * assured entry at once (a TCP SYN only once its handshake completes), so
 * the fills that stand for established connections use UDP.
 */
static void make_udp(uint8_t *f, uint16_t sport, uint32_t c, uint32_t m)
{
	make_frame(f, sport, 0, c, m);
	f[23] = 17;
	f[38] = 0;
	f[39] = FRAME_LEN - 34;
	f[46] = f[47] = 0;
}

/* the same flow seen from the server: 198.51.100.1:80 -> 198.18.0.1:SPORT */
static void make_reply(uint8_t *f, uint16_t sport, uint8_t flags)
{
	make_frame(f, 80, flags, 0, 0);
	f[26] = 198; f[27] = 51; f[28] = 100; f[29] = 1;
	f[30] = 198; f[31] = 18; f[32] = 0; f[33] = 1;
	f[36] = sport >> 8;
	f[37] = sport & 0xff;
}

/* One run of PROG over FRAME (the frame is kept between runs: counters go on). */
static double run(int prog, uint8_t *frame, uint32_t repeat, uint32_t *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = FRAME_LEN,
		.data_out = frame,
		.data_size_out = FRAME_LEN,
		.repeat = repeat,
	);

	if (bpf_prog_test_run_opts(prog, &opts)) {
		fprintf(stderr, "bench: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
		return -1;
	}
	if (retval)
		*retval = opts.retval;
	return opts.duration;
}

/*
 * As run(), the frame copied back as the program left it (a SYN answered in
 * place), past any XDP metadata in front of it (sluice leaves none: its
 * cookie ACKs hand TC their options in ct_ck_hand).
 */
static double run_meta(int prog, uint8_t *frame, uint32_t repeat, uint32_t *retval)
{
	uint8_t out[FRAME_LEN + 64];
	struct xdp_md cin = { .data = 0, .data_end = FRAME_LEN }, cout = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = FRAME_LEN,
		.data_out = out,
		.data_size_out = sizeof(out),
		.ctx_in = &cin,
		.ctx_size_in = sizeof(cin),
		.ctx_out = &cout,
		.ctx_size_out = sizeof(cout),
		.repeat = repeat,
	);

	if (bpf_prog_test_run_opts(prog, &opts)) {
		fprintf(stderr, "bench: BPF_PROG_TEST_RUN: %s (out %u, meta %u)\n", strerror(errno),
			opts.data_size_out, cout.data);
		return -1;
	}
	if (cout.data <= opts.data_size_out)
		memcpy(frame, out + cout.data, opts.data_size_out - cout.data < FRAME_LEN ?
		       opts.data_size_out - cout.data : FRAME_LEN);
	if (retval)
		*retval = opts.retval;
	return opts.duration;
}

/*
 * Median ns/packet of PROG (verdict WANT) and FLOOR, interleaved. With
 * repeat, BPF_PROG_TEST_RUN runs on one buffer and copies the result out
 * once: the counter in the frame steps REPEAT times per call, and the next
 * call starts from where it stopped (data_out = data_in).
 */
/*
 * Median ns of PROG and of FLOOR over ROUNDS interleaved runs of RUNF
 * (run_meta for XDP, run for TC), PROG's verdict WANT every time.
 */
static int measure_by(double (*runf)(int, uint8_t *, uint32_t, uint32_t *), int prog, int floor,
		      uint8_t *frame, uint8_t *floor_frame, uint32_t repeat, uint32_t want,
		      double *ns, double *floor_ns)
{
	double a[ROUNDS], b[ROUNDS];
	uint32_t rv;

	for (int i = 0; i < ROUNDS; i++) {
		b[i] = runf(floor, floor_frame, repeat, NULL);
		a[i] = runf(prog, frame, repeat, &rv);
		if (a[i] < 0 || b[i] < 0)
			return -1;
		if (rv != want) {
			fprintf(stderr, "bench: verdict %d, expected %d\n", (int)rv, (int)want);
			return -1;
		}
	}
	qsort(a, ROUNDS, sizeof(double), cmp_double);
	qsort(b, ROUNDS, sizeof(double), cmp_double);
	*ns = a[ROUNDS / 2];
	*floor_ns = b[ROUNDS / 2];
	return 0;
}

static int measure(int prog, int floor, uint8_t *frame, uint8_t *floor_frame, uint32_t repeat,
		   uint32_t want, double *ns, double *floor_ns)
{
	return measure_by(run_meta, prog, floor, frame, floor_frame, repeat, want, ns, floor_ns);
}

static void row(const char *name, double ns, double fl, uint32_t repeat)
{
	printf("  %-50s %8.1f %8.1f %7.2fx %9u\n", name, ns, fl, ns / fl, repeat);
}

static uint64_t stat_sum(struct ctb *b, uint32_t idx)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t v[ncpu > 0 ? ncpu : 1], s = 0;

	if (ncpu <= 0 || bpf_map_lookup_elem(b->stats_fd, &idx, v))
		return 0;
	for (int i = 0; i < ncpu; i++)
		s += v[i];
	return s;
}

/* assured entries (UNASSURED: unassured ones) in every shard */
static uint32_t map_count(struct ctb *b, bool unassured)
{
	uint64_t n[2] = { 0, 0 };

	ct_shards_count(&b->tbl, &n[0], &n[1]);
	return (uint32_t)n[unassured];
}

/* the assured connections (established, answered UDP, ...) */
static uint32_t ct_count(struct ctb *b)
{
	return map_count(b, false);
}

static void ct_flush(struct ctb *b)
{
	uint64_t n;

	ct_shards_flush(&b->tbl, &n);
}

/* (Re)start the sweepers, as the agent does after every ct_cfg write. */
static int start_sweepers(struct ctb *b)
{
	uint8_t f[FRAME_LEN] = { 0 };
	uint32_t n = 0;

	/* bpf_timer_init fails (-ENOMEM) for a moment after a burst: retry */
	for (int i = 0; i < 100; i++) {
		if (run(bpf_program__fd(b->tc->progs.ct_start), f, 1, &n) < 0)
			return -1;
		if (n == b->shards)
			return 0;
		usleep(20000);
	}
	fprintf(stderr, "bench: %u of %u sweepers started\n", n, b->shards);
	return -1;
}

static int set_cfg(struct ctb *b, uint32_t stateful, uint32_t syn_to)
{
	static uint32_t gen;
	/* the lookup filter on, as the agent turns it on (the table was empty when created) */
	struct sl_ct_config c = { .stateful = stateful, .shards = b->shards, .gen = ++gen,
				  .filter = stateful };
	uint32_t k = 0;

	c.timeout[SLUICE_CT_TO_TCP_SYN] = syn_to;
	c.timeout[SLUICE_CT_TO_UDP] = syn_to;
	if (bpf_map_update_elem(b->cfg_fd, &k, &c, BPF_ANY))
		return -errno;
	return start_sweepers(b);
}

static void unload(struct ctb *b)
{
	sluice_tc__destroy(b->tc);
	bench_ct__destroy(b->ct);
	bench_floor__destroy(b->floor);
	sluice_xdp__destroy(b->fw);
	b->tc = NULL;
	b->ct = NULL;
	b->floor = NULL;
	b->fw = NULL;
}

static int reuse_maps(struct bpf_object *obj, struct bpf_object *from)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj) {
		struct bpf_map *src = bpf_object__find_map_by_name(from, bpf_map__name(m));

		if (!src || bpf_map__is_internal(m))
			continue;
		if (bpf_map__reuse_fd(m, bpf_map__fd(src)))
			return -1;
	}
	return 0;
}

static int load(struct ctb *b, uint32_t max_entries)
{
	b->fw = sluice_xdp__open();
	if (!b->fw || sluice_xdp__load(b->fw)) {
		fprintf(stderr, "bench: loading sluice_xdp failed\n");
		return -1;
	}
	b->ct = bench_ct__open();
	b->tc = sluice_tc__open();
	b->floor = bench_floor__open_and_load();
	if (!b->ct || !b->tc || !b->floor || reuse_maps(b->ct->obj, b->fw->obj) ||
	    reuse_maps(b->tc->obj, b->fw->obj) || bench_ct__load(b->ct) ||
	    sluice_tc__load(b->tc)) {
		fprintf(stderr, "bench: loading bench_ct/sluice_tc failed\n");
		return -1;
	}
	b->tbl.fd4 = bpf_map__fd(b->fw->maps.ct4_shards);
	b->tbl.fd6 = bpf_map__fd(b->fw->maps.ct_shards);
	b->sweep_fd = bpf_map__fd(b->fw->maps.ct_sweep);
	b->cfg_fd = bpf_map__fd(b->fw->maps.ct_cfg);
	/* the shards, as the agent creates them */
	if (ct_shards_create(&b->tbl, max_entries, &b->shards)) {
		fprintf(stderr, "bench: creating the shards failed\n");
		return -1;
	}
	b->stats_fd = bpf_map__fd(b->fw->maps.ct_stats);
	if (fw_map_fds_from_obj(b->fw->obj, &b->fds) ||
	    write_file(b->dir, "policy.yaml", POLICY) || apply(b->dir, &b->fds, 1, false))
		return -1;
	return 0;
}

/* SYN cookies: MODE (the bench's key, no port listed, auto never under pressure). */
static int ck_mode(struct ctb *b, uint32_t mode)
{
	static struct sl_ck_config ck;
	int ncpu = libbpf_num_possible_cpus();
	struct sl_ck_load zero[ncpu > 0 ? ncpu : 1];
	uint32_t k = 0;

	memset(&ck, 0, sizeof(ck));
	memset(zero, 0, sizeof(zero));
	ck.mode = mode;
	ck.press_min = ~0u;
	ck.key[0] = 0x0123456789abcdefull;
	ck.key[1] = 0xfedcba9876543210ull;
	if (bpf_map_update_elem(bpf_map__fd(b->fw->maps.ct_ck_cfg), &k, &ck, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(b->fw->maps.ct_ck_load), &k, zero, BPF_ANY))
		return -1;
	return 0;
}

/*
 * Mark the slots a cookie was sent in (ct_ck_sent): the current one and the
 * one before (SENT), or none. False when this build has no such map (every
 * ACK without an entry is checked there).
 */
static bool ck_sent_set(struct ctb *b, bool sent)
{
	struct bpf_map *m = bpf_object__find_map_by_name(b->fw->obj, "ct_ck_sent");
	uint32_t k = 0, s = (uint32_t)(ct_now_ns() >> SLUICE_CK_SLOT_SHIFT), v[4] = { 0 };

	if (!m || bpf_map__value_size(m) != sizeof(v))
		return false;
	if (sent) {
		v[s % 4] = s;
		v[(s - 1) % 4] = s - 1;
		v[(s + 1) % 4] = s + 1;
	}
	return !bpf_map_update_elem(bpf_map__fd(m), &k, v, BPF_ANY);
}

/*
 * An ACK flood: every packet an ACK from a new (spoofed) source, no entry,
 * to port 80 (allowed), beside the same step's floor: with cookies off,
 * auto without pressure (no cookie sent lately), auto checking it as a
 * cookie's (one was sent this slot: what every ACK cost before ct_ck_sent),
 * and always (a bad cookie: dropped).
 */
static int ack_flood(struct ctb *b)
{
	int cnew = bpf_program__fd(b->ct->progs.ct_new);
	int fnew = bpf_program__fd(b->ct->progs.ctf_new);
	static const struct {
		const char *name;
		uint32_t mode;
		bool sent;
		uint32_t want;
	} rows[] = {
		{ "ACK flood, new sources: cookies off", SLUICE_CK_OFF, false, XDP_PASS },
		{ "ACK flood: cookies auto, none sent lately", SLUICE_CK_AUTO, false, XDP_PASS },
		{ "ACK flood: cookies auto, one sent (checked)", SLUICE_CK_AUTO, true, XDP_PASS },
		{ "ACK flood: cookies always, none sent (dropped)", SLUICE_CK_ALWAYS, false,
		  XDP_DROP },
	};
	uint8_t f[FRAME_LEN], fl_f[FRAME_LEN];
	const uint32_t rep = 200000;
	uint64_t c0 = stat_sum(b, SLUICE_CT_STAT_CREATED);
	double ns, fl;

	if (!ck_sent_set(b, false))
		printf("  (a build without ct_ck_sent: auto and always check every such ACK)\n");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ck_sent_set(b, rows[i].sent);
		if (ck_mode(b, rows[i].mode))
			return -1;
		make_frame(f, 0, 0x10, 0, 0);
		make_frame(fl_f, 0, 0x10, 0, 0);
		if (measure(cnew, fnew, f, fl_f, rep, rows[i].want, &ns, &fl))
			return -1;
		row(rows[i].name, ns, fl, rep);
	}
	ck_sent_set(b, false);
	if (ck_mode(b, SLUICE_CK_OFF))
		return -1;
	if (stat_sum(b, SLUICE_CT_STAT_CREATED) != c0 || stat_sum(b, SLUICE_CT_STAT_CK_VALID)) {
		fprintf(stderr, "bench: the ACK flood created entries or validated cookies\n");
		return -1;
	}
	return 0;
}

/*
 * What the TC ingress program (sl_tc_ingress) costs a packet that XDP handed
 * nothing: a TCP ACK while cookies go out (the gate open: a parse, a
 * ct_ck_hand lookup that misses), and once no cookie was sent lately (the
 * gate shut: two loads and a compare). Run after cookies() sent some.
 */
static int tc_ingress(struct ctb *b)
{
	int tc = bpf_program__fd(b->tc->progs.sl_tc_ingress);
	int fl = bpf_program__fd(b->floor->progs.floor_tc);
	const uint32_t rep = 200000;
	struct sl_ck_sent none;
	uint8_t f[FRAME_LEN];
	double ns, fns;
	uint32_t k = 0;

	make_frame(f, 40000, 0x10, 0, 0);
	if (measure_by(run, tc, fl, f, f, rep, (uint32_t)-1, &ns, &fns))
		return -1;
	row("TC ingress: a TCP ACK while cookies go out (miss)", ns, fns, rep);
	memset(&none, 0, sizeof(none));
	if (bpf_map_update_elem(bpf_map__fd(b->fw->maps.ct_ck_sent), &k, &none, BPF_ANY) ||
	    measure_by(run, tc, fl, f, f, rep, (uint32_t)-1, &ns, &fns))
		return -1;
	row("TC ingress: a TCP ACK, no cookie sent lately", ns, fns, rep);
	return 0;
}

/*
 * SYN cookies (syn-cookies: always), with a listener on port 80 in this
 * namespace: a SYN answered with a cookie (XDP_TX), and the SYN + the ACK
 * returning its cookie (tracked as established, XDP_PASS); the ACK's own
 * cost is the difference. Each beside a floor that writes the same frames.
 */
static int cookies(struct ctb *b)
{
	int syn = bpf_program__fd(b->ct->progs.ck_syn);
	int pair = bpf_program__fd(b->ct->progs.ck_pair);
	int fsyn = bpf_program__fd(b->ct->progs.ckf_syn);
	int fpair = bpf_program__fd(b->ct->progs.ckf_pair);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
	static struct sl_ck_config ck;
	uint8_t f[FRAME_LEN] = { 0 }, fl_f[FRAME_LEN] = { 0 };
	const uint32_t rep = 100000;
	double ns_syn, fl_syn, ns_pair, fl_pair;
	uint64_t c0, v0;
	uint32_t k = 0;
	int lfd, one = 1;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 16)) {
		fprintf(stderr, "bench: a listener on port 80: %s\n", strerror(errno));
		return -1;
	}
	memset(&ck, 0, sizeof(ck));
	ck.mode = SLUICE_CK_ALWAYS;
	ck.opts = SLUICE_CK_OPT_TS | SLUICE_CK_OPT_SACK | SLUICE_CK_OPT_WSCALE;
	ck.rcv_wscale = 7;
	ck.key[0] = 0x0123456789abcdefull;
	ck.key[1] = 0xfedcba9876543210ull;
	if (bpf_map_update_elem(bpf_map__fd(b->fw->maps.ct_ck_cfg), &k, &ck, BPF_ANY)) {
		close(lfd);
		return -1;
	}
	v0 = stat_sum(b, SLUICE_CT_STAT_CK_VALID);
	if (measure(syn, fsyn, f, fl_f, rep, XDP_TX, &ns_syn, &fl_syn))
		goto fail;
	row("SYN answered with a cookie (SYN-ACK, XDP_TX)", ns_syn, fl_syn, rep);
	c0 = stat_sum(b, SLUICE_CT_STAT_CREATED);
	if (measure(pair, fpair, f, fl_f, rep, XDP_PASS, &ns_pair, &fl_pair))
		goto fail;
	row("cookie SYN + its ACK (validated, tracked)", ns_pair, fl_pair, rep);
	printf("    the cookie-validated ACK alone: %.1f ns (%.2fx floor); %llu validated, "
	       "%llu entries created (one per ACK)\n", (ns_pair - fl_pair) - (ns_syn - fl_syn) +
	       fl_syn, ((ns_pair - fl_pair) - (ns_syn - fl_syn) + fl_syn) / fl_syn,
	       (unsigned long long)(stat_sum(b, SLUICE_CT_STAT_CK_VALID) - v0),
	       (unsigned long long)(stat_sum(b, SLUICE_CT_STAT_CREATED) - c0));
	if (tc_ingress(b))
		goto fail;
	ck.mode = SLUICE_CK_OFF;
	bpf_map_update_elem(bpf_map__fd(b->fw->maps.ct_ck_cfg), &k, &ck, BPF_ANY);
	ct_flush(b);
	close(lfd);
	return 0;
fail:
	close(lfd);
	return -1;
}

static int per_packet(struct ctb *b)
{
	int fw = bpf_program__fd(b->fw->progs.sluice_xdp);
	int fls = bpf_program__fd(b->floor->progs.floor_same);
	int cnew = bpf_program__fd(b->ct->progs.ct_new);
	int crand = bpf_program__fd(b->ct->progs.ct_rand);
	int fnew = bpf_program__fd(b->ct->progs.ctf_new);
	int frand = bpf_program__fd(b->ct->progs.ctf_rand);
	uint8_t f[FRAME_LEN], fl_f[FRAME_LEN];
	const uint32_t rep = 200000, rep_new = 15000, half = SLUICE_CT_DEFAULT_MAX / 2;
	uint64_t c0;
	double ns, fl;
	uint32_t rv, n;

	printf("conntrack, BPF_PROG_TEST_RUN, ns per packet (median of %d runs, each "
	       "interleaved with its floor); table %u entries\n", ROUNDS, SLUICE_CT_DEFAULT_MAX);
	printf("  %-50s %8s %8s %8s %9s\n", "case", "ns/pkt", "floor", "x floor", "repeat");

	make_frame(fl_f, 1, 0x10, 0, 0);
	if (measure(fls, fls, fl_f, fl_f, rep, XDP_DROP, &ns, &fl))
		return -1;
	row("floor: XDP_DROP", ns, fl, rep);

	/* stateless, the same ACK allowed by the rule */
	if (set_cfg(b, 0, 0))
		return -1;
	make_frame(f, 1000, 0x10, 0, 0);
	if (measure(fw, fls, f, fl_f, rep, XDP_PASS, &ns, &fl))
		return -1;
	row("stateless: allow by rule (ct_cfg.stateful = 0)", ns, fl, rep);

	/* stateful, mid-stream ACK with no entry: rules decide, nothing inserted */
	if (set_cfg(b, 1, 0))
		return -1;
	c0 = stat_sum(b, SLUICE_CT_STAT_CREATED);
	if (measure(fw, fls, f, fl_f, rep, XDP_PASS, &ns, &fl))
		return -1;
	row("stateful: no entry, allow by rule, no insert (ACK)", ns, fl, rep);
	if (stat_sum(b, SLUICE_CT_STAT_CREATED) != c0) {
		fprintf(stderr, "bench: a mid-stream ACK created an entry\n");
		return -1;
	}
	if (ack_flood(b))
		return -1;

	/*
	 * established: handshake through the firewall (the SYN-ACK leaving
	 * through TC egress, as the host's own answer does: one arriving proves
	 * nothing, sl_ct_proof), then the ACK again
	 */
	make_frame(f, 1000, 0x02, 0, 0);
	run(fw, f, 1, NULL);
	make_reply(f, 1000, 0x12);
	run(bpf_program__fd(b->tc->progs.sluice_tc), f, 1, &rv);
	make_frame(f, 1000, 0x10, 0, 0);
	run(fw, f, 1, NULL);
	{
		struct sl_ct_key k = { .addr_a = { 198, 18, 0, 1 }, .addr_b = { 198, 51, 100, 1 },
				       .port_a = htons(1000), .port_b = htons(80), .proto = 6,
				       .family = 4 };
		struct sl_ct_entry v;

		if (rv != (uint32_t)-1 /* TCX_NEXT */ ||
		    ct_shards_lookup(&b->tbl, b->shards, &k, &v, NULL) ||
		    v.state != SL_CT_ESTABLISHED) {
			fprintf(stderr, "bench: the handshake did not establish the flow\n");
			return -1;
		}
	}
	if (measure(fw, fls, f, fl_f, rep, XDP_PASS, &ns, &fl))
		return -1;
	row("established flow hit (same flow)", ns, fl, rep);

	/* new connections into an empty table: every run a new SYN */
	ct_flush(b);
	make_frame(f, 0, 0x02, 0, 0);
	make_frame(fl_f, 0, 0x02, 0, 0);
	c0 = stat_sum(b, SLUICE_CT_STAT_CREATED);
	if (measure(cnew, fnew, f, fl_f, rep_new, XDP_PASS, &ns, &fl))
		return -1;
	n = stat_sum(b, SLUICE_CT_STAT_CREATED) - c0;
	row("new TCP connection (2 misses + rule + insert unassured)", ns, fl, rep_new);
	if (n != ROUNDS * rep_new) {
		fprintf(stderr, "bench: %u of %u new connections created\n", n, ROUNDS * rep_new);
		return -1;
	}

	/* unassured shards full: every insert evicts */
	run(cnew, f, SLUICE_CT_DEFAULT_MAX, NULL);
	if (measure(cnew, fnew, f, fl_f, rep_new, XDP_PASS, &ns, &fl))
		return -1;
	row("new TCP connection, unassured full (LRU eviction)", ns, fl, rep_new);

	/* table half full of answered (UDP) flows 0 .. half-1, then random hits among them */
	ct_flush(b);
	make_udp(f, 0, ~0u, 0);
	run(bpf_program__fd(b->ct->progs.ct_answered), f, half, NULL);
	n = ct_count(b);
	make_udp(f, 0, 0x2545f491, half - 1);
	make_udp(fl_f, 0, 0x2545f491, half - 1);
	c0 = stat_sum(b, SLUICE_CT_STAT_CREATED);
	if (measure(crand, frand, f, fl_f, rep, XDP_PASS, &ns, &fl))
		return -1;
	row("table 50% full, random flows (hit)", ns, fl, rep);
	printf("    %u entries; %llu created while measuring (0: every packet was a hit)\n", n,
	       (unsigned long long)(stat_sum(b, SLUICE_CT_STAT_CREATED) - c0));
	ct_flush(b);
	return cookies(b);
}

struct meminfo {
	long avail, slab, sunreclaim, percpu;	/* kB */
};

static void meminfo(struct meminfo *m)
{
	char line[256];
	FILE *f = fopen("/proc/meminfo", "re");

	memset(m, 0, sizeof(*m));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "MemAvailable: %ld", &m->avail);
		sscanf(line, "Slab: %ld", &m->slab);
		sscanf(line, "SUnreclaim: %ld", &m->sunreclaim);
		sscanf(line, "Percpu: %ld", &m->percpu);
	}
	fclose(f);
}

/* softirq and total busy time of all CPUs, in s */
static void cpu_times(double *softirq, double *busy)
{
	unsigned long long v[10] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	double hz = sysconf(_SC_CLK_TCK);

	*softirq = *busy = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) == 8) {
		*softirq = v[6] / hz;
		*busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
	}
	fclose(f);
}

static void mem_row(const char *what, const struct meminfo *a, const struct meminfo *b)
{
	printf("  %-34s MemAvailable -%7.1f MB  Slab +%7.1f MB (unreclaimable +%7.1f)  "
	       "Percpu +%5.1f MB\n", what, (a->avail - b->avail) / 1024.0,
	       (b->slab - a->slab) / 1024.0, (b->sunreclaim - a->sunreclaim) / 1024.0,
	       (b->percpu - a->percpu) / 1024.0);
}

/* The sweepers' counters, summed over the shards. */
static struct sl_ct_sweeper sweep_sum(struct ctb *b)
{
	struct sl_ct_sweeper sum, v;

	memset(&sum, 0, sizeof(sum));
	for (uint32_t i = 0; i < b->shards; i++) {
		if (bpf_map_lookup_elem(b->sweep_fd, &i, &v))
			continue;
		sum.ticks += v.ticks;
		sum.walks += v.walks;
		sum.walked += v.walked;
		sum.walk_ns += v.walk_ns;
	}
	return sum;
}

/*
 * 1M connections: memory, the insert cost, one walk of the table (what a
 * sweep costs per entry), and the CPU of their expiry by the sweepers.
 */
static int million(struct ctb *b)
{
	struct meminfo m0, m1, m2;
	struct sl_ct_sweeper s0, s1;
	uint8_t f[FRAME_LEN];
	double t0, fill, si0, bu0, si1, bu1, sib, bub, walk, dt;
	uint64_t memlock = 0, v, exp0, ex;
	uint32_t n;
	const uint32_t to = 20;

	meminfo(&m0);
	if (load(b, FILL_MAX))
		return -1;
	printf("\n1M entries (max-entries %u: %u shards of %u, LRU headroom):\n", FILL_MAX,
	       b->shards, FILL_MAX / b->shards);
	meminfo(&m1);
	for (int una = 0; una < 4; una++) {
		for (uint32_t i = 0; i < b->shards; i++) {
			int fd = ct_shard_fd(una < 2 ? b->tbl.fd4 : b->tbl.fd6, i, una & 1);

			if (fd >= 0 && !sl_map_memlock(fd, &v))
				memlock += v;
			if (fd >= 0)
				close(fd);
		}
	}
	/* udp 20 s: nothing expires while filling, walking and idling */
	if (set_cfg(b, 1, to))
		return -1;
	cpu_times(&si0, &bu0);
	sleep(2);
	cpu_times(&sib, &bub);
	sib = (sib - si0) / 2;
	bub = (bub - bu0) / 2;

	/* 1M new UDP flows, each answered (assured), in calls of 10k */
	make_udp(f, 0, ~0u, 0);
	t0 = now_s();
	for (uint32_t done = 0; done < FILL_N; done += 10000)
		if (run(bpf_program__fd(b->ct->progs.ct_answered), f, FILL_N - done < 10000 ?
			FILL_N - done : 10000, NULL) < 0)
			return -1;
	fill = now_s() - t0;
	n = ct_count(b);
	meminfo(&m2);
	printf("  filled %u entries in %.2f s (%.0f ns per new flow and its answer, rules "
	       "included)\n", n, fill, fill * 1e9 / FILL_N);
	printf("  memlock (bpftool, assured and unassured shards): %.1f MB = %.0f B per "
	       "entry of max-entries\n", memlock / 1048576.0, (double)memlock / FILL_MAX);
	mem_row("maps created (empty, preallocated):", &m0, &m1);
	mem_row("after 1M entries:", &m1, &m2);
	printf("  no memory per entry beyond the preallocated map: no timer per entry, %u "
	       "sweeper timers in all\n", b->shards);

	/* one walk of every shard, as the sweepers do it (nothing is due yet) */
	{
		double d[ROUNDS];

		for (int i = 0; i < ROUNDS; i++) {
			d[i] = run(bpf_program__fd(b->ct->progs.ct_walk), f, 1, NULL);
			if (d[i] < 0)
				return -1;
		}
		qsort(d, ROUNDS, sizeof(double), cmp_double);
		walk = d[ROUNDS / 2];
		printf("  one walk of all %u entries (bpf_for_each_map_elem, age check): %.1f ms "
		       "= %.1f ns per entry; one shard of %u: %.2f ms\n", n, walk / 1e6, walk / n,
		       n / b->shards, walk / 1e6 / b->shards);
	}
	/* idle: the sweepers tick, nothing is due before the first entry's 20 s */
	s0 = sweep_sum(b);
	sleep(2);
	s1 = sweep_sum(b);
	printf("  idle, 2 s: %llu sweeper ticks, %llu walks (nothing due yet)\n",
	       (unsigned long long)(s1.ticks - s0.ticks),
	       (unsigned long long)(s1.walks - s0.walks));

	/* expiry: until every entry is gone, with the CPU it took */
	exp0 = stat_sum(b, SLUICE_CT_STAT_EXPIRED);
	s0 = sweep_sum(b);
	cpu_times(&si0, &bu0);
	dt = now_s();
	while (now_s() - t0 < to + fill + 30) {
		if (ct_count(b) == 0)
			break;
		usleep(100000);
	}
	cpu_times(&si1, &bu1);
	s1 = sweep_sum(b);
	dt = now_s() - dt;
	ex = stat_sum(b, SLUICE_CT_STAT_EXPIRED) - exp0;
	printf("  expiry (udp timeout %u s, all idle): %llu deleted by the sweepers; the last "
	       "%.1f s after the last entry's deadline (tick %.1f s)\n", to,
	       (unsigned long long)ex, now_s() - (t0 + fill + to), to / 8.0);
	printf("    sweepers: %llu walks, %llu entries visited, %.3f s CPU in the walks = "
	       "%.0f ns per expired entry\n", (unsigned long long)(s1.walks - s0.walks),
	       (unsigned long long)(s1.walked - s0.walked), (s1.walk_ns - s0.walk_ns) / 1e9,
	       ex ? (double)(s1.walk_ns - s0.walk_ns) / ex : 0);
	printf("    /proc/stat above baseline over those %.1f s: softirq %.2f s, all %.2f s "
	       "(noisy on a shared machine)\n", dt, (si1 - si0) - sib * dt,
	       (bu1 - bu0) - bub * dt);
	printf("  left: %u\n", ct_count(b));
	return 0;
}

/*
 * Table full under a SYN flood (docs/datapath.md, "Table full"). E flows
 * 198.18.0.1:1000+i -> 198.51.100.1:80 complete their handshake through the
 * firewall; then F SYNs from distinct spoofed sources (198.18.0.2 and up,
 * ct_new), and after every EVERY / E of them one packet of the next
 * established flow, from the server (round robin: each flow is seen once
 * per EVERY SYNs; EVERY 0: the flows are idle). The server's packets pass
 * only while the flow is tracked (the rule allows port 80 inbound only). A
 * flow survives when its entry is still a connection, established, and its
 * next packet passes.
 */
static int flood_run(struct ctb *b, uint32_t max, uint32_t e_n, uint32_t f_n, uint32_t every)
{
	int fw, cnew;
	uint8_t f[FRAME_LEN], sf[FRAME_LEN];
	uint32_t k = every ? every / e_n : 0, rv, lost = 0, surv = 0, next = 0, in_tbl, una;
	uint64_t c0, x0, d0;
	int64_t evicted;
	double t0, secs;
	char what[64];

	if (load(b, max) || set_cfg(b, 1, 0))
		return -1;
	fw = bpf_program__fd(b->fw->progs.sluice_xdp);
	cnew = bpf_program__fd(b->ct->progs.ct_new);
	c0 = stat_sum(b, SLUICE_CT_STAT_CREATED);
	x0 = stat_sum(b, SLUICE_CT_STAT_EXPIRED);
	d0 = stat_sum(b, SLUICE_CT_STAT_DELETED);
	for (uint32_t i = 0; i < e_n; i++) {
		make_frame(f, 1000 + i, 0x02, 0, 0);
		run(fw, f, 1, NULL);
		/* the host's SYN-ACK, leaving through TC egress */
		make_reply(f, 1000 + i, 0x12);
		run(bpf_program__fd(b->tc->progs.sluice_tc), f, 1, NULL);
		make_frame(f, 1000 + i, 0x10, 0, 0);
		run(fw, f, 1, NULL);
	}
	if (map_count(b, false) != e_n) {
		fprintf(stderr, "bench: %u of %u flows established\n", map_count(b, false), e_n);
		return -1;
	}
	make_frame(sf, 0, 0x02, 2u << 16, 0);
	t0 = now_s();
	if (!k) {
		for (uint32_t done = 0; done < f_n; done += 10000)
			if (run(cnew, sf, f_n - done < 10000 ? f_n - done : 10000, &rv) < 0)
				return -1;
	} else {
		/*
		 * One program only: BPF_PROG_TEST_RUN of XDP switches the
		 * dispatcher (synchronize_rcu) whenever the program changes
		 * between calls. The SYNs are built here, as ct_new would.
		 */
		for (uint32_t done = 0; done < f_n; done += k) {
			for (uint32_t j = 0; j < k; j++) {
				uint32_t i = (2u << 16) + done + j, a = htonl(0xC6120000u + (i >> 16));

				memcpy(sf + 26, &a, 4);
				sf[34] = (i >> 8) & 0xff;
				sf[35] = i & 0xff;
				if (run(fw, sf, 1, &rv) < 0 || rv != XDP_PASS)
					return -1;
			}
			make_reply(f, 1000 + next, 0x18);
			run(fw, f, 1, &rv);
			lost += rv != XDP_PASS;
			next = (next + 1) % e_n;
		}
	}
	secs = now_s() - t0;
	for (uint32_t i = 0; i < e_n; i++) {
		struct sl_ct_key key = { .addr_a = { 198, 18, 0, 1 }, .addr_b = { 198, 51, 100, 1 },
					 .port_a = htons(1000 + i), .port_b = htons(80),
					 .proto = 6, .family = 4 };
		struct sl_ct_entry v;
		bool alive = !ct_shards_lookup(&b->tbl, b->shards, &key, &v, NULL) &&
			     v.state == SL_CT_ESTABLISHED;

		make_reply(f, 1000 + i, 0x10);
		run(fw, f, 1, &rv);
		surv += alive && rv == XDP_PASS;
	}
	in_tbl = map_count(b, false);
	una = map_count(b, true);
	evicted = (int64_t)(stat_sum(b, SLUICE_CT_STAT_CREATED) - c0 -
			    (stat_sum(b, SLUICE_CT_STAT_EXPIRED) - x0) -
			    (stat_sum(b, SLUICE_CT_STAT_DELETED) - d0) - in_tbl - una);
	if (every)
		snprintf(what, sizeof(what), "one packet per flow per %u SYNs", every);
	else
		snprintf(what, sizeof(what), "flows idle");
	printf("  %7u %7u %6u %8u  %-34s %6u of %-6u %6u %8lld %5.1f\n", max,
	       ct_unassured_entries(max), e_n, f_n, what, surv, e_n,
	       lost, (long long)evicted, secs);
	unload(b);
	return 0;
}

static int flood(struct ctb *b, bool quick)
{
	static const uint32_t every[] = { 2000, 4000, 8000, 0 };

	printf("\nestablished flows surviving a spoofed SYN flood (survivors: X of E; lost: the "
	       "server's packets dropped during the flood):\n");
	printf("  %7s %7s %6s %8s  %-34s %16s %6s %8s %5s\n", "table", "unassrd", "E", "SYNs",
	       "established flows", "survivors", "lost", "evicted", "s");
	for (size_t i = 0; i < sizeof(every) / sizeof(every[0]); i++)
		if (flood_run(b, 4096, 500, 50000, every[i]))
			return -1;
	if (!quick && flood_run(b, SLUICE_CT_DEFAULT_MAX, 10000, 1000000, 0))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct ctb b = { 0 };
	int rc = 1;

	libbpf_set_print(quiet);
	/* a namespace of its own: the SYN cookie rows need a listener on port 80 */
	if (unshare(CLONE_NEWNET)) {
		perror("bench: unshare");
		return 1;
	}
	snprintf(b.dir, sizeof(b.dir), "/tmp/slf-bench-ct-XXXXXX");
	if (!mkdtemp(b.dir)) {
		perror("bench: mkdtemp");
		return 1;
	}
	/* --flood: only the SYN flood table, with the default-size row */
	if (argc > 1 && !strcmp(argv[1], "--flood")) {
		rc = flood(&b, false) ? 1 : 0;
		goto out;
	}
	/* --cookies: only the SYN cookie rows */
	if (argc > 1 && !strcmp(argv[1], "--cookies")) {
		rc = load(&b, SLUICE_CT_DEFAULT_MAX) || set_cfg(&b, 1, 0) || cookies(&b) ? 1 : 0;
		goto out;
	}
	/* --packet: only the per-packet rows (A/B runs of conntrack changes) */
	if (argc > 1 && !strcmp(argv[1], "--packet")) {
		rc = load(&b, SLUICE_CT_DEFAULT_MAX) || per_packet(&b) ? 1 : 0;
		goto out;
	}
	if (argc > 1 && !strcmp(argv[1], "--million")) {
		rc = million(&b) ? 1 : 0;
		goto out;
	}
	if (load(&b, SLUICE_CT_DEFAULT_MAX) || per_packet(&b))
		goto out;
	unload(&b);
	if (flood(&b, argc > 1 && !strcmp(argv[1], "--quick")))
		goto out;
	if (!(argc > 1 && !strcmp(argv[1], "--quick")) && million(&b))
		goto out;
	rc = 0;
out:
	unload(&b);
	remove_dir(b.dir);
	return rc;
}
