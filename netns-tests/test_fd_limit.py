# SPDX-License-Identifier: GPL-2.0-only
"""The agent at its limit of open files (RLIMIT_NOFILE).

sluiced holds an fd per pinned map and program and about three per
interface of a stateful firewall: under a service manager's soft limit of
1024 a node with a few hundred veths runs out. The agent raises its soft
limit to the hard one; and when it is out of fds all the same (the hard
limit reached, lowered here with prlimit on the running agent), nothing is
lost for good: a control client gets an error answer instead of waiting
in the listen queue (the loop spun on the unaccepted connection), an
interface that could not be attached and a policy change that could not be
read are tried again once fds are free (and a health check is skipped, not
failed: test_lb.py).
"""
import json
import time

from lib.fds import feed, starve
from lib.netns import PYTHON, run
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


def cli(agent, *args, timeout=5):
    """The CLI with a limit of TIMEOUT s on the agent's answer."""
    return run(["env", "SLUICE_CTL_TIMEOUT=%d" % timeout, agent.sluice, "--socket",
                agent.socket] + list(args), ns=agent.ns, check=False, timeout=timeout + 20)


SCRAPE = """
import urllib.request, urllib.error
try:
    r = urllib.request.urlopen('http://127.0.0.1:%d/metrics', timeout=%d)
    print(r.status, len(r.read()))
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode().strip())
"""
METRICS_PORT = 9464


def scrape(agent, timeout=5):
    p = run([PYTHON, "-c", SCRAPE % (METRICS_PORT, timeout)], ns=agent.ns, check=False,
            timeout=timeout + 20)
    return p.stdout.strip() or p.stderr.strip().splitlines()[-1]


def test_out_of_fds_clients_refused_at_once_then_served(env):
    """Out of fds, a control client and a scraper get an error at once, where
    they waited unaccepted (the CLI until its time limit) while the loop
    spun on the listening socket; with fds again both are served."""
    topo, agent = env.topo, env.agent
    agent.write_policy("10-test.yaml", policy_yaml(topo, deny_udp(5001)))
    agent.start(extra=["--metrics", "127.0.0.1:%d" % METRICS_PORT])
    assert scrape(agent).startswith("200 ")
    limits = starve(agent, at_its_fds=True)
    try:
        p = cli(agent, "status")
        assert p.returncode == 1 and "out of file descriptors" in p.stderr, (p.stdout, p.stderr)
        assert scrape(agent).startswith("503 the agent is out of file descriptors")
    finally:
        feed(agent, limits)
    assert "out of file descriptors" in agent.log_text()
    p = cli(agent, "-j", "status")
    assert p.returncode == 0 and json.loads(p.stdout)["generation"] == 1, p.stderr
    assert scrape(agent).startswith("200 ")


def wait_for(what, fn, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_interface_attached_once_fds_are_free(env):
    """An interface that appears while the agent is out of fds is listed as
    unattached, and gets its firewall once fds are free: it stayed open
    (no event of its link comes again) until the next reload."""
    topo, agent = env.topo, env.agent
    agent.write_policy("10-test.yaml", policy_yaml(topo, deny_udp(5001), default="deny"))
    agent.start()
    new = "%sf1" % topo.pfx
    limits = starve(agent)
    try:
        add_veths(topo, 1)
        # (no status meanwhile: the agent has no fd to take its connection)
        refused = "%s: cannot attach XDP: Too many open files" % new
        wait_for("the attach refused", lambda: refused in agent.log_text())
        # the link's later events (up, carrier) refused too: none is left to attach it
        seen = 0
        for _ in range(20):
            if agent.log_text().count(refused) == seen:
                break
            seen = agent.log_text().count(refused)
            time.sleep(1.5)
    finally:
        feed(agent, limits)
    wait_for("%s attached:\n%s" % (new, agent.log_text()[-3000:]),
             lambda: attached(agent) == ({topo.fdev, new}, []))


def test_policy_change_applied_once_fds_are_free(env):
    """A change of the policy dir read while the agent is out of fds is not
    applied (the policy in force stays) and is read again once fds are free:
    it was lost until the next change or SIGHUP."""
    topo, agent = env.topo, env.agent
    agent.write_policy("10-test.yaml", policy_yaml(topo, deny_udp(5001)))
    agent.start()
    limits = starve(agent)
    try:
        agent.write_policy("10-test.yaml", policy_yaml(topo, deny_udp(5002)))
        wait_for("the reload refused", lambda: "cannot read directory: Too many open files"
                 in agent.log_text())
    finally:
        feed(agent, limits)
    st = wait_for("generation 2:\n%s" % agent.log_text()[-3000:],
                  lambda: agent.status()["generation"] == 2 and agent.status())
    assert st["last_change"] == "applied"
    assert [r["name"] for r in agent.cli("rule", "list")["rules"]] == ["deny-5002"]
