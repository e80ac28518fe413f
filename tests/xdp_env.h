/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by the BPF_PROG_TEST_RUN tests: load the sluice_xdp skeleton (no
 * pins, no attach), apply a policy given as YAML text through the real
 * loader, compiler and map writer, run frames, read the counters.
 */
#ifndef SLUICE_TESTS_XDP_ENV_H
#define SLUICE_TESTS_XDP_ENV_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fw_maps.h"
#include "fw_tables.h"
#include "policy.h"
#include "sluice_xdp.skel.h"

struct xdp_env {
	struct sluice_xdp *skel;
	struct fw_map_fds fds;
	int prog_fd, verdict_fd, drop_fd, rule_fd;
	struct sl_policy pol;
	bool have_pol;
	bool tc;		/* prog_fd is sluice_tcx (tcx ingress), not sluice_xdp */
	char dir[64];
};

static int xdp_env_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* Returns 0 or -errno; prints why on failure. */
static inline int xdp_env_open(struct xdp_env *env)
{
	int err;

	memset(env, 0, sizeof(*env));
	libbpf_set_print(xdp_env_quiet);
	env->skel = sluice_xdp__open_and_load();
	if (!env->skel) {
		err = -errno;
		printf("# sluice_xdp load failed: %s\n", strerror(-err));
		return err;
	}
	err = fw_map_fds_from_obj(env->skel->obj, &env->fds);
	if (err) {
		printf("# fw maps missing from sluice_xdp\n");
		return err;
	}
	env->prog_fd = bpf_program__fd(env->skel->progs.sluice_xdp);
	env->verdict_fd = bpf_map__fd(env->skel->maps.sl_verdict_v2);
	env->drop_fd = bpf_map__fd(env->skel->maps.sl_drop_v2);
	env->rule_fd = bpf_map__fd(env->skel->maps.fw_rule_cnt_v2);
	snprintf(env->dir, sizeof(env->dir), "/tmp/slb-xdp-XXXXXX");
	if (!mkdtemp(env->dir)) {
		err = -errno;
		printf("# mkdtemp: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

static inline void xdp_env_close(struct xdp_env *env)
{
	char path[128];

	if (env->have_pol)
		policy_free(&env->pol);
	if (env->dir[0]) {
		snprintf(path, sizeof(path), "%s/policy.yaml", env->dir);
		unlink(path);
		rmdir(env->dir);
	}
	sluice_xdp__destroy(env->skel);
	memset(env, 0, sizeof(*env));
}

/*
 * Load the policy dir DIR as the policy in force: policy_load_dir ->
 * fw_compile (section 0) -> fw_maps_write. TABLES, when not NULL, receives
 * the compiled tables (the caller frees them). Returns 0 or -errno, printing
 * the diagnostics.
 */
static inline int xdp_env_apply_dir(struct xdp_env *env, const char *dir, uint64_t generation,
				    struct fw_tables *tables)
{
	struct sl_diags diags = { 0 };
	struct fw_tables t = { 0 };
	int err;

	if (env->have_pol) {
		policy_free(&env->pol);
		env->have_pol = false;
	}
	err = policy_load_dir(dir, &env->pol, &diags);
	env->have_pol = true;
	if (!err)
		err = fw_compile(&env->pol, policy_fw(&env->pol, 0), generation, &t, &diags);
	if (!err)
		err = fw_maps_write(&env->fds, &t, &diags);
	if (err) {
		printf("# applying policy failed (%d):\n", err);
		for (size_t i = 0; i < diags.n; i++)
			printf("#   %s:%d:%d: %s\n", diags.v[i].file ? diags.v[i].file : "-",
			       diags.v[i].line, diags.v[i].col, diags.v[i].msg);
	}
	sl_diags_free(&diags);
	if (tables && !err)
		*tables = t;
	else
		fw_tables_free(&t);
	return err;
}

/* The same for a policy given as YAML text (written to ENV's own dir). */
static inline int xdp_env_apply(struct xdp_env *env, const char *yaml, uint64_t generation,
				struct fw_tables *tables)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/policy.yaml", env->dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fputs(yaml, f);
	if (fclose(f))
		return -EIO;
	return xdp_env_apply_dir(env, env->dir, generation, tables);
}

static inline int xdp_env_reset_counters(struct xdp_env *env)
{
	int err = sl_counters_reset(env->verdict_fd, SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS);

	if (!err)
		err = sl_counters_reset(env->drop_fd, SLUICE_HOOK_MAX * SLUICE_DROP_SLOTS);
	if (!err)
		err = sl_counters_reset(env->rule_fd, SLUICE_CNT_MAX);
	return err;
}

/*
 * The hook the frames go through: the firewall's tcx ingress program (TC) or
 * its XDP entry, on the same maps.
 */
static inline void xdp_env_hook(struct xdp_env *env, bool tc)
{
	env->tc = tc;
	env->prog_fd = bpf_program__fd(tc ? env->skel->progs.sluice_tcx :
					    env->skel->progs.sluice_xdp);
}

/*
 * The verdict (drop) counters of hook TC (tcx ingress) or XDP: the maps'
 * block of that hook, its first entry the hook's index times the block's
 * size (written here, not with the programs' SLUICE_VERDICT_IDX). Verdicts
 * as every reader sees them (sl_verdicts_read: XDP's drops are the sum of
 * its drop reasons).
 */
static inline int xdp_env_verdicts(const struct xdp_env *env, bool tc, struct sl_counter *out)
{
	struct sl_counter all[SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS];
	int err = sl_verdicts_read(env->verdict_fd, env->drop_fd, all);

	if (!err)
		memcpy(out, &all[tc ? SLUICE_VERDICT_SLOTS : 0], SLUICE_VERDICT_MAX * sizeof(*out));
	return err;
}

static inline int xdp_env_drops(const struct xdp_env *env, bool tc, struct sl_counter *out)
{
	return sl_counters_read_at(env->drop_fd, tc ? SLUICE_DROP_SLOTS : 0, SLUICE_DROP_MAX,
				   out);
}

/*
 * RAW, what the program returned, as the XDP verdict the tables expect. The
 * tcx contract written here on its own (docs/datapath.md): TCX_NEXT (-1)
 * passes the packet on, TC_ACT_SHOT (2) drops it; anything else from tc is
 * no verdict at all (0xbad, which no table expects).
 */
static inline __u32 xdp_env_verdict(const struct xdp_env *env, __u32 raw)
{
	if (!env->tc)
		return raw;
	if (raw == (__u32)-1)
		return XDP_PASS;
	if (raw == 2)
		return XDP_DROP;
	return 0xbad;
}

/* Run one frame once; *RETVAL gets the XDP verdict, OUT (if any) the frame after. */
static inline int xdp_env_run(struct xdp_env *env, const void *pkt, size_t len, __u32 *retval,
			      void *out, __u32 *out_len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = pkt,
		.data_size_in = (__u32)len,
		.data_out = out,
		.data_size_out = out_len ? *out_len : 0,
		.repeat = 1,
	);
	int err;

	err = bpf_prog_test_run_opts(env->prog_fd, &opts);
	if (err)
		return -errno;
	*retval = xdp_env_verdict(env, opts.retval);
	if (out_len)
		*out_len = opts.data_size_out;
	return 0;
}

#endif /* SLUICE_TESTS_XDP_ENV_H */
