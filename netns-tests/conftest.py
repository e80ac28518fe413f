# SPDX-License-Identifier: GPL-2.0-only
"""Fixtures of the sluice end-to-end tests.

Every test gets its own pair of namespaces (client, fw) joined by a veth pair,
its own agent state dir under /sys/fs/bpf and its own socket, all named with a
prefix unique to this run ("sl" + 4 hex digits of the pid) plus a per-test
counter, so parallel runs never collide. Everything is removed in the
finalizer, also when the test fails; the finalizer then checks that the
agent exited cleanly and that `sluice teardown` left no pin and no XDP
program behind.
"""
import itertools
import os
import shutil
import signal
import tempfile
import time

import pytest

from lib.cgroups import Cgroups
from lib.agent import Agent, BPFFS, binaries, ensure_bpffs, pins_under
from lib.netns import Topology, ns_exists, run, xdp_prog_id
from lib.policy import policy_yaml

# SLUICE_TEST_PREFIX: a prefix of one's own, for a run beside others on one
# machine (a pytest-xdist worker appends its number: gw1 -> PREFIX1)
RUN_PREFIX = (os.environ.get("SLUICE_TEST_PREFIX", "") and
              os.environ["SLUICE_TEST_PREFIX"] + os.environ.get("PYTEST_XDIST_WORKER", "")[2:]
              or "sl%04x" % (os.getpid() & 0xFFFF))
_counter = itertools.count()


class Env:
    """What a test works with: the topology, the agent, and shortcuts."""

    def __init__(self, topo, agent):
        self.topo = topo
        self.agent = agent

    def start(self, rules=(), default="allow", sets=None, files=None, stateful=False,
              hook="xdp"):
        """Write the policy (10-test.yaml + extra FILES) and start the agent
        (HOOK: lib/policy.py's policy_yaml; XDP unless told)."""
        for name, text in (files or {}).items():
            self.agent.write_file(name, text)
        self.agent.write_policy("10-test.yaml",
                                policy_yaml(self.topo, rules, default, sets,
                                            stateful=stateful, hook=hook))
        self.agent.start()
        # the agent answers once the policy is applied; XDP must be on the veth by then
        assert xdp_prog_id(self.topo.fw, self.topo.fdev) is not None, \
            "no XDP program on %s after start:\n%s" % (self.topo.fdev, self.agent.log_text())
        return self.agent

    def to_tc(self, rules=(), default="allow", timeout=10):
        """Move the running section to `hook: tc` (the same RULES and DEFAULT)
        by a reload, and wait until the interface runs it there."""
        self.agent.write_policy("10-test.yaml",
                                policy_yaml(self.topo, rules, default, hook="tc"))
        deadline = time.monotonic() + timeout
        while xdp_prog_id(self.topo.fw, self.topo.fdev) is not None or not [
                i for i in self.agent.status()["interfaces"]
                if i["name"] == self.topo.fdev and i["hook"] == "tc"]:
            assert time.monotonic() < deadline, self.agent.log_text()
            time.sleep(0.1)


@pytest.fixture(scope="session", autouse=True)
def _session_checks():
    if os.geteuid() != 0:
        pytest.exit("netns tests need root", returncode=1)
    for b in binaries():
        if not os.access(b, os.X_OK):
            pytest.exit("%s is missing: build it first (make test-bins)" % b, returncode=1)
    ensure_bpffs()
    yield


@pytest.fixture
def topo():
    pfx = "%s%x" % (RUN_PREFIX, next(_counter))
    t = Topology(pfx)
    try:
        t.setup()
        yield t
    finally:
        t.destroy()


@pytest.fixture
def env(topo):
    workdir = tempfile.mkdtemp(prefix=topo.pfx + "-")
    state_dir = os.path.join(BPFFS, topo.pfx)
    agent = Agent(topo.fw, workdir, state_dir)
    problems = []
    try:
        yield Env(topo, agent)
    finally:
        try:
            if agent.alive():
                rc = agent.stop(signal.SIGTERM)
                if rc != 0:
                    problems.append("sluiced exited with status %s on SIGTERM" % rc)
            p = agent.teardown()
            if p.returncode != 0:
                problems.append("sluice teardown: exit %d: %s%s" %
                                (p.returncode, p.stdout, p.stderr))
            left = pins_under(state_dir)
            if left:
                problems.append("pins left after teardown: %s" % left)
            if ns_exists(topo.fw):
                for dev in _fw_links(topo):
                    if _wait_no_xdp(topo.fw, dev):
                        problems.append("XDP still attached to %s after teardown" % dev)
        finally:
            agent.force_cleanup()
            # pytest shows captured output only for a failed test: there, the
            # agent's log is what explains it
            print("---- sluiced log (%s)\n%s" % (agent.log_path, agent.log_text()))
            shutil.rmtree(workdir, ignore_errors=True)
        if problems:
            pytest.fail("; ".join(problems))


def _fw_links(topo):
    p = run(["ip", "-o", "link", "show"], ns=topo.fw, check=False)
    devs = []
    for line in p.stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(topo.pfx + "f"):
            devs.append(name)
    return devs


def _wait_no_xdp(ns, dev, timeout=10.0):
    """True when DEV still has XDP after TIMEOUT."""
    deadline = time.monotonic() + timeout
    while xdp_prog_id(ns, dev) is not None:
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def cgroups(topo):
    """Cgroups under the unified hierarchy with the test's prefix, removed after it."""
    cg = Cgroups(topo.pfx)
    try:
        yield cg
    finally:
        cg.cleanup()
