# SPDX-License-Identifier: GPL-2.0-only
"""Policy reload: a change of the policy dir takes effect within 2 s (also a
Kubernetes ConfigMap style `..data` symlink swap); a policy with a mistake is
never applied and the one in force keeps filtering."""
import os
import re
import signal
import time

import pytest

from lib.agent import CliError
from lib.policy import policy_yaml
from lib.traffic import exchange

N = 5


def probe(env):
    s = dict(src="192.0.2.1", dst="192.0.2.2", proto="udp", count=N)
    return exchange(env.topo, [dict(s, tag="5000", dport=5000),
                               dict(s, tag="5001", dport=5001)])


def deny(port):
    return [dict(name="deny-%d" % port, action="deny", proto="udp", dport=[str(port)])]


def wait_new_generation(agent, gen, timeout=10.0):
    """Seconds until the generation in force passes GEN; fails past TIMEOUT
    (a backstop: the contract's 2 s is measured by make bench, bench_reload)."""
    t0 = time.monotonic()
    while True:
        cur = agent.status()["generation"]
        if cur > gen:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError("policy not reloaded within %.1f s (generation %d)\n%s" %
                                 (timeout, cur, agent.log_text()))
        time.sleep(0.05)


def wait_refused(agent, n, timeout=10.0):
    """Wait until the agent has logged N refusals of a policy ("not applied;
    generation G stays in force"): it read the change and kept the old one."""
    deadline = time.monotonic() + timeout
    while len(re.findall(r"not applied; generation \d+ stays in force", agent.log_text())) < n:
        assert time.monotonic() < deadline, "no refusal logged:\n" + agent.log_text()
        assert agent.alive(), agent.log_text()
        time.sleep(0.05)


def test_reload_and_invalid_policy_kept_out(env):
    agent = env.start(default="allow", rules=deny(5001))
    assert probe(env) == {"5000": N, "5001": 0}

    gen = agent.status()["generation"]
    agent.write_policy("10-test.yaml", policy_yaml(env.topo, deny(5000)))
    wait_new_generation(agent, gen)
    assert "deny-5001" not in agent.rules()
    # (a delta: the counter of rule 0 carries deny-5001's packets over the restart)
    before = agent.rules()["deny-5000"]["packets"]
    assert probe(env) == {"5000": 0, "5001": N}
    assert agent.rules()["deny-5000"]["packets"] - before == N
    assert "deny-5001" not in agent.rules()

    # a mistake (host bits set) in a new file: nothing of it is applied
    gen = agent.status()["generation"]
    bad = policy_yaml(env.topo, deny(5000)).replace("rules:", "rules:\n"
                                                    "    - name: bad\n"
                                                    "      action: deny\n"
                                                    "      src: [192.0.2.1/24]\n", 1)
    agent.write_policy("10-test.yaml", bad)
    wait_refused(agent, 1)
    assert agent.status()["generation"] == gen
    assert agent.status()["last_change"].startswith("refused")
    assert probe(env) == {"5000": 0, "5001": N}
    assert "bad" not in agent.rules()
    assert re.search(r"10-test\.yaml:\d+:\d+: ", agent.log_text()), agent.log_text()

    # fixing it is picked up again
    agent.write_policy("10-test.yaml", policy_yaml(env.topo, deny(5001)))
    wait_new_generation(agent, gen)
    assert probe(env) == {"5000": N, "5001": 0}


def test_reload_configmap_symlink_swap(env):
    """The layout kubelet writes for a ConfigMap volume: FILE -> ..data/FILE,
    ..data -> ..TIMESTAMP; an update renames a new ..data symlink over the old."""
    agent = env.agent
    d = agent.policy_dir

    def publish(version, rules):
        vdir = os.path.join(d, "..v%d" % version)
        os.mkdir(vdir)
        with open(os.path.join(vdir, "10-test.yaml"), "w") as f:
            f.write(policy_yaml(env.topo, rules))
        tmp = os.path.join(d, "..data_tmp")
        os.symlink("..v%d" % version, tmp)
        os.rename(tmp, os.path.join(d, "..data"))

    publish(1, deny(5001))
    os.symlink("..data/10-test.yaml", os.path.join(d, "10-test.yaml"))
    agent.start()
    assert probe(env) == {"5000": N, "5001": 0}

    gen = agent.status()["generation"]
    publish(2, deny(5000))
    wait_new_generation(agent, gen)
    assert probe(env) == {"5000": 0, "5001": N}


def test_invalid_policy_at_start(env):
    """Nothing pinned and an invalid policy: the agent refuses to start. With
    a policy pinned, an agent started on an invalid policy keeps the pinned
    one in force."""
    agent = env.agent
    bad = policy_yaml(env.topo, deny(5001)).replace("dport: [\"5001\"]", "dport: [\"70000\"]")
    assert "70000" in bad
    agent.write_policy("10-test.yaml", bad)
    agent.start(wait=False)
    rc = agent.proc.wait(timeout=15)
    log = agent.log_text()
    agent.stop()
    assert rc != 0, log
    assert re.search(r"10-test\.yaml:\d+:\d+: ", log), log
    assert not os.path.exists(os.path.join(agent.state_dir, "links")) or \
        not os.listdir(os.path.join(agent.state_dir, "links"))

    agent.write_policy("10-test.yaml", policy_yaml(env.topo, deny(5001)))
    agent.start()
    assert probe(env) == {"5000": N, "5001": 0}
    assert agent.stop() == 0
    agent.write_policy("10-test.yaml", bad)
    agent.start(wait=False)
    # it answers, keeps the pinned policy and stays up for a fixed file
    deadline = time.monotonic() + 15
    while True:
        assert agent.alive(), agent.log_text()
        try:
            if os.path.exists(agent.socket) and agent.attached():
                break
            why = "not attached"
        except CliError as e:   # not answering yet
            why = e
        assert time.monotonic() < deadline, "no answer with the pinned policy: %s\n%s" % (
            why, agent.log_text())
        time.sleep(0.1)
    gen = agent.status()["generation"]
    assert gen >= 1
    assert agent.status()["last_change"].startswith("refused")
    assert "last change   refused" in agent.cli_raw("status", json_out=False).stdout
    assert probe(env) == {"5000": N, "5001": 0}
    assert agent.alive()
    # the fixed file is picked up: its rules, a new generation
    agent.write_policy("10-test.yaml", policy_yaml(env.topo, deny(5000)))
    wait_new_generation(agent, gen)
    assert agent.status()["last_change"] == "applied"
    assert "deny-5001" not in agent.rules()
    # (a delta: the counter of rule 0 carries deny-5001's packets over the restart)
    before = agent.rules()["deny-5000"]["packets"]
    assert probe(env) == {"5000": 0, "5001": N}
    assert agent.rules()["deny-5000"]["packets"] - before == N


def test_sighup_rereads_set_file(env):
    """A set file in a hidden subdir (not watched: a blocklist a cron job
    rewrites, the operator decides when it is read) is read again on SIGHUP."""
    agent = env.agent
    os.makedirs(os.path.join(agent.policy_dir, ".feeds"))
    feed_path = os.path.join(agent.policy_dir, ".feeds", "feed.txt")
    with open(feed_path, "w") as f:
        f.write("203.0.113.5\n")
    agent.write_policy("10-test.yaml", """\
sets:
  feed:
    file: .feeds/feed.txt
firewall:
  interfaces: ["%s"]
  default: allow
  stateful: false
  rules:
    - name: drop-feed
      action: deny
      src: ["@feed"]
""" % env.topo.glob)
    agent.start()

    def send():
        s = dict(dst="192.0.2.2", proto="udp", dport=5000, count=N)
        return exchange(env.topo, [dict(s, tag="a", src="203.0.113.5"),
                                   dict(s, tag="b", src="203.0.113.6")])

    assert send() == {"a": 0, "b": N}
    with open(feed_path + ".tmp", "w") as f:
        f.write("# rewritten by the feed\n203.0.113.6\n")
    os.rename(feed_path + ".tmp", feed_path)
    gen = agent.status()["generation"]
    agent.proc.send_signal(signal.SIGHUP)
    wait_new_generation(agent, gen)
    assert send() == {"a": N, "b": 0}
    # the rule kept its name and place: its counter carries on across the reload
    assert agent.rules()["drop-feed"]["packets"] == 2 * N


@pytest.mark.parametrize("errno", [5, 12], ids=["EIO", "ENOMEM"])
def test_map_write_failure_keeps_policy_and_names_the_set(env, errno):
    """A map write that fails while a restarted agent builds a new policy
    (injected: the third write of fw_src6, the first prefix of the set)
    leaves the pinned policy in force, status says the change was refused,
    and the log names the set that put the prefix there, FILE:LINE:COL.
    EIO says nothing will change: it stays so. ENOMEM is a fault of the
    moment, as for a reload: the policy is built again a second later and
    applies. On the code before, status said "applied" after either, and
    the ENOMEM one was never tried again."""
    t = env.topo
    agent = env.start(default="allow", rules=deny(5001))
    assert probe(env) == {"5000": N, "5001": 0}
    assert agent.stop(signal.SIGTERM) == 0, agent.log_text()
    path = agent.write_policy("10-test.yaml", policy_yaml(
        t, deny(5000) + [dict(name="v6", action="deny", src=["@v6bad"])],
        sets={"v6bad": {"prefixes": ["2001:db8:a::/48", "2001:db8:b::/48"]}}))
    # writes of fw_src6: created, ::/0, then 2001:db8:a::/48
    os.environ["SLUICE_FAIL_MAP_WRITE"] = "3:%d:fw_src6" % errno
    try:
        agent.start()
    finally:
        del os.environ["SLUICE_FAIL_MAP_WRITE"]
    want = re.compile(r"%s:2:3: map fw_src6: cannot insert 2001:db8:a::/48: "
                      r"%s; not applied" % (re.escape(path), os.strerror(errno)))
    assert want.search(agent.log_text()), agent.log_text()
    if errno == 12:
        assert "reading it again in 1 s (%s)" % os.strerror(errno) in agent.log_text()
        wait_new_generation(agent, 1)
        st = agent.status()
        assert (st["generation"], st["last_change"]) == (2, "applied"), st
        assert probe(env) == {"5000": 0, "5001": N}
        return
    st = agent.status()
    assert (st["generation"], st["last_change"][:7]) == (1, "refused"), st
    assert probe(env) == {"5000": N, "5001": 0}
    time.sleep(1.5)     # a retry would have come by now
    assert agent.status()["generation"] == 1, agent.log_text()[-3000:]
    assert "reading it again" not in agent.log_text()


def test_reload_policy_dir_itself_swapped(env):
    """The policy dir as a symlink that a deploy points at a new release
    (`ln -sfn v2 tmp && mv -T tmp policies`): the swap is a change of the
    dir, picked up without SIGHUP, and the new dir is the one watched from
    then on. On the code before, the agent kept watching the old dir: the
    swap went unseen, and after a SIGHUP changes in the new dir did too."""
    agent = env.agent
    base = agent.workdir

    def release(version, rules):
        vdir = os.path.join(base, "v%d" % version)
        os.mkdir(vdir)
        with open(os.path.join(vdir, "10-test.yaml"), "w") as f:
            f.write(policy_yaml(env.topo, rules))
        tmp = os.path.join(base, ".current.tmp")
        os.symlink("v%d" % version, tmp)
        os.rename(tmp, os.path.join(base, "current"))
        return vdir

    release(1, deny(5001))
    agent.policy_dir = os.path.join(base, "current")
    agent.start()
    assert probe(env) == {"5000": N, "5001": 0}

    gen = agent.status()["generation"]
    v2 = release(2, deny(5000))
    wait_new_generation(agent, gen)
    assert probe(env) == {"5000": 0, "5001": N}
    # a change in the new release's dir is seen as well
    gen = agent.status()["generation"]
    with open(os.path.join(v2, ".10-test.yaml.tmp"), "w") as f:
        f.write(policy_yaml(env.topo, deny(5000) + deny(5001)))
    os.rename(os.path.join(v2, ".10-test.yaml.tmp"), os.path.join(v2, "10-test.yaml"))
    wait_new_generation(agent, gen)
    assert probe(env) == {"5000": 0, "5001": 0}


def test_backup_rename_write_never_applies_the_dir_without_the_file(env):
    """vim's and Emacs' save: x.yaml renamed to x.yaml~, a new x.yaml written,
    the backup removed. In between the dir has no x.yaml: read then, the rest
    of the dir (a sets-only file) applied without the firewall. A file that
    goes is read after a quiet time for its new self to come (here 20 ms
    later); a file removed for good still is. On the code before, 5 ms
    after the rename the dir was read: most saves applied it without the
    firewall."""
    agent = env.start(default="allow", rules=deny(5001), files={
        "05-sets.yaml": "sets:\n  extra:\n    prefixes: [198.51.100.0/24]\n"})
    path = os.path.join(agent.policy_dir, "10-test.yaml")
    with open(path) as f:
        good = f.read()
    for i in range(10):
        gen = agent.status()["generation"]
        os.rename(path, path + "~")
        time.sleep(0.02)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, (good + "# save %d\n" % i).encode())
        os.fsync(fd)
        os.close(fd)
        os.unlink(path + "~")
        wait_new_generation(agent, gen)
    applied = re.findall(r"generation \d+ applied \(.* from (\d+) files", agent.log_text())
    assert applied and "1" not in applied, agent.log_text()
    assert probe(env) == {"5000": N, "5001": 0}

    # a file removed for good is read
    gen = agent.status()["generation"]
    agent.write_policy("20-more.yaml", "sets:\n  more:\n    prefixes: [203.0.113.0/24]\n")
    wait_new_generation(agent, gen)
    gen = agent.status()["generation"]
    os.unlink(path)
    wait_new_generation(agent, gen)
    assert probe(env) == {"5000": N, "5001": N}
