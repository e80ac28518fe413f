/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The network the load balancer's BPF_PROG_TEST_RUN tests and benchmarks
 * run in: bpf_fib_lookup needs routes and neighbours, so the process moves
 * into a network namespace of its own (unshare: it goes with the process,
 * nothing to clean up) with two veth pairs and permanent neighbours:
 *
 *   slt0 02:00:00:00:00:a0  203.0.113.1/24, 2001:db8:c::1/64   client side;
 *        client 203.0.113.50 / 2001:db8:c::50 at 02:cc:00:00:00:50
 *   slt1 02:00:00:00:00:a1  198.51.100.1/24, 2001:db8:b::1/64  backend side;
 *        backends 198.51.100.N / 2001:db8:b::N at 02:bb:00:00:00:N
 *        (N = 11, 12, 13, 21, 22)
 */
#ifndef SLUICE_TESTS_LB_TESTNET_H
#define SLUICE_TESTS_LB_TESTNET_H

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LB_TESTNET_MAC_IF0	0x02, 0, 0, 0, 0, 0xa0
#define LB_TESTNET_MAC_IF1	0x02, 0, 0, 0, 0, 0xa1
#define LB_TESTNET_MAC_CLIENT	0x02, 0xcc, 0, 0, 0, 0x50

/* Once per process: the namespace; *IF0 and *IF1 the ifindexes of slt0, slt1. 0 or -1. */
static inline int lb_testnet_setup(int *if0, int *if1)
{
	static int done, i0, i1;
	static const char *const cmds[] = {
		"ip link set lo up",
		"ip link add slt0 address 02:00:00:00:00:a0 type veth peer name slt0p",
		"ip link add slt1 address 02:00:00:00:00:a1 type veth peer name slt1p",
		"ip link set slt0 up && ip link set slt0p up && ip link set slt1 up && "
		"ip link set slt1p up",
		"ip addr add 203.0.113.1/24 dev slt0 && ip addr add 198.51.100.1/24 dev slt1",
		"ip addr add 2001:db8:c::1/64 dev slt0 nodad && "
		"ip addr add 2001:db8:b::1/64 dev slt1 nodad",
		"sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1",
		"ip neigh add 203.0.113.50 lladdr 02:cc:00:00:00:50 dev slt0 nud permanent",
		"ip neigh add 2001:db8:c::50 lladdr 02:cc:00:00:00:50 dev slt0 nud permanent",
		"for n in 11 12 13 21 22; do "
		"ip neigh add 198.51.100.$n lladdr 02:bb:00:00:00:$n dev slt1 nud permanent && "
		"ip neigh add 2001:db8:b::$n lladdr 02:bb:00:00:00:$n dev slt1 nud permanent || "
		"exit 1; done",
	};

	if (!done) {
		done = -1;
		if (unshare(CLONE_NEWNET)) {
			fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
			return -1;
		}
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
			if (system(cmds[i])) {
				fprintf(stderr, "failed: %s\n", cmds[i]);
				return -1;
			}
		}
		i0 = if_nametoindex("slt0");
		i1 = if_nametoindex("slt1");
		if (!i0 || !i1)
			return -1;
		done = 1;
	}
	*if0 = i0;
	*if1 = i1;
	return done > 0 ? 0 : -1;
}

#endif /* SLUICE_TESTS_LB_TESTNET_H */
