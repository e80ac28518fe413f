// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Benchmark: the firewall stage exactly as sluice_xdp runs it, after the
 * random-source step. The bench points its maps at sluice_xdp's (reuse_fd). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/bench.h"
#include "lib/firewall.h"

SEC("xdp")
int fw_rand(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;

	sl_bench_rand_src(data, data_end);
	return sl_firewall(data, data_end);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
