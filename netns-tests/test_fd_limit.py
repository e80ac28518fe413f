# SPDX-License-Identifier: GPL-2.0-only
"""The agent at its limit of open files (RLIMIT_NOFILE).

sluiced holds an fd per pinned map and program and about three per
interface of a stateful firewall: under a service manager's soft limit of
1024 a node with a few hundred veths runs out. The agent raises its soft
limit to the hard one; and when it is out of fds all the same (the hard
limit reached, lowered here with prlimit on the running agent), nothing is
lost for good: a control client gets an error answer instead of waiting
in the listen queue (the loop span on the unaccepted connection), an
interface that could not be attached and a policy change that could not be
read are tried again once fds are free.
"""
import os
import subprocess
import time

from lib.policy import deny_udp, policy_yaml

EXTRA = 40      # veths beside the topology's: ~3 fds each


def add_veths(topo, n):
    for i in range(1, n + 1):
        topo.add_veth("%sc%d" % (topo.pfx, i), "%sf%d" % (topo.pfx, i), [], [])


def attached(agent):
    """(names with a firewall hook, the unattached records) of `status`."""
    st = agent.status()
    return ({i["name"] for i in st["interfaces"] if i["hook"] in ("xdp", "tc")},
            st["unattached"])


def test_soft_fd_limit_raised_to_the_hard_one(env):
    """Started with a soft limit of 256 (hard 4096) and 41 interfaces of a
    stateful firewall (~300 fds): every interface is attached."""
    topo, agent = env.topo, env.agent
    add_veths(topo, EXTRA)
    agent.write_policy("10-test.yaml", policy_yaml(topo, deny_udp(5001), stateful=True))
    agent.start(wrap=["prlimit", "--nofile=256:4096"])
    names, unattached = attached(agent)
    assert unattached == [], unattached
    assert names == {topo.fdev} | {"%sf%d" % (topo.pfx, i) for i in range(1, EXTRA + 1)}
