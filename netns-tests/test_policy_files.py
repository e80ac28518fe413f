# SPDX-License-Identifier: GPL-2.0-only
"""Files in the policy dir that must not stall, fool or leak through a running
agent (issue 8): YAML nested far too deep, a FIFO as a set file, set files
that lead out of the dir; set files in subdirs reload like the rest.

While a bad file sits in the dir, the control socket keeps answering (each
`sluice status` must come back within STATUS_S, where the bad files used to
hold the agent for 14 s or forever), the file is refused with its
FILE:LINE:COL, the policy in force keeps filtering, and a good change
afterwards is applied as usual.
"""
import os
import re
import signal
import subprocess
import time

from lib.policy import deny_udp, policy_yaml
from lib.traffic import exchange, probe_udp

N = 5
STATUS_S = 10       # a status call normally takes well under a second


def probe(env):
    return probe_udp(env.topo, count=N)


def status_now(agent):
    return agent.status_within(STATUS_S)


def wait_log(agent, pattern, timeout=20):
    """Poll the agent's log for PATTERN, asking `status` meanwhile (each call
    must answer in time)."""
    deadline = time.monotonic() + timeout
    while True:
        status_now(agent)
        m = re.search(pattern, agent.log_text())
        if m:
            return m
        assert time.monotonic() < deadline, "no %r in the log:\n%s" % (pattern,
                                                                       agent.log_text())
        time.sleep(0.2)


def gen(agent):
    return agent.status()["generation"]


def wait_generation(agent, g, timeout=10):
    deadline = time.monotonic() + timeout
    while gen(agent) < g:
        assert time.monotonic() < deadline, "generation %d not reached:\n%s" % (
            g, agent.log_text())
        time.sleep(0.1)


def test_hostile_files_refused_and_agent_keeps_answering(env):
    agent = env.start(default="allow", rules=deny_udp(5001))
    pdir = agent.policy_dir
    assert probe(env) == {"5000": N, "5001": 0}
    g = gen(agent)

    # 80,000 nested '[' (18 s in libyaml) and 4M nested "- " (8 MB)
    deep = os.path.join(pdir, "20-deep.yaml")
    with open(deep, "w") as f:
        f.write("firewall: " + "[" * 80000 + "]" * 80000 + "\n")
    wait_log(agent, re.escape(deep) + r":1:74: mappings and lists nested more than 64")
    os.unlink(deep)
    deeper = os.path.join(pdir, "30-deeper.yaml")
    with open(deeper, "w") as f:
        f.write("- " * 4000000 + "x\n")
    wait_log(agent, re.escape(deeper) + r":1:129: mappings and lists nested more than 64")
    os.unlink(deeper)

    # a FIFO as a set file: the open used to wait for a writer forever
    os.mkfifo(os.path.join(pdir, "feed.txt"))
    path = agent.write_policy("10-test.yaml", policy_yaml(
        env.topo, deny_udp(5001) + [dict(name="feed", action="deny", src=["@feed"])],
        sets={"feed": {"file": "feed.txt"}}))
    wait_log(agent, re.escape(path) + r":3:5: set file \"[^\"]*feed.txt\" is not a regular file")
    assert gen(agent) == g, "a refused policy was applied"
    assert probe(env) == {"5000": N, "5001": 0}

    # a good change is applied as usual
    os.unlink(os.path.join(pdir, "feed.txt"))
    agent.write_policy("10-test.yaml", policy_yaml(env.topo, deny_udp(5000) + deny_udp(5001)))
    wait_generation(agent, g + 1)
    assert probe(env) == {"5000": 0, "5001": 0}
    # and SIGTERM is heard (it was ignored while the agent hung on the FIFO)
    assert agent.stop(signal.SIGTERM) == 0, agent.log_text()


def test_policy_file_not_regular_is_an_error(env):
    """A NAME.yaml in the dir that is not a regular file (renamed in over
    the firewall's file: a FIFO, a dangling symlink as a half-done ConfigMap
    swap leaves; or a new directory) is an error naming it: the policy in
    force stays. On the code before, such entries were skipped without a
    word and the rest of the dir (a sets-only file) was applied: the
    firewall was removed from the interface."""
    agent = env.start(default="allow", rules=deny_udp(5001),
                      files={"05-sets.yaml": "sets:\n  extra:\n    prefixes: [198.51.100.0/24]\n"})
    pdir = agent.policy_dir
    path = os.path.join(pdir, "10-test.yaml")
    assert probe(env) == {"5000": N, "5001": 0}
    g = gen(agent)
    tmp = os.path.join(pdir, ".swap")
    for make, why in ((os.mkfifo, r"is not a regular file"),
                      (lambda p: os.symlink("..data/10-test.yaml", p),
                       r"cannot read: No such file or directory")):
        with open(path) as f:
            good = f.read()
        make(tmp)
        os.rename(tmp, path)
        wait_log(agent, re.escape(path) + r": .*" + why)
        assert gen(agent) == g, "applied without the firewall's file:\n" + agent.log_text()
        assert probe(env) == {"5000": N, "5001": 0}
        agent.write_policy("10-test.yaml", good)
        time.sleep(1.5)     # the restore read (a generation of its own or not)
        g = gen(agent)
    os.mkdir(os.path.join(pdir, "20-dir.yaml"))
    wait_log(agent, re.escape(os.path.join(pdir, "20-dir.yaml")) + r": .*is not a regular file")
    assert gen(agent) == g
    assert probe(env) == {"5000": N, "5001": 0}


def test_set_files_beneath_the_dir_and_watched(env):
    """A set file in a subdir reloads on change without SIGHUP; a set file
    that leads out of the dir is refused, and nothing of its content reaches
    the log or the CLI."""
    agent = env.agent
    pdir = agent.policy_dir
    os.makedirs(os.path.join(pdir, "lists"))
    with open(os.path.join(pdir, "lists", "drop.txt"), "w") as f:
        f.write("203.0.113.5\n")

    def policy(set_file):
        return policy_yaml(env.topo, [dict(name="drop", action="deny", src=["@drop"])],
                           sets={"drop": {"file": set_file}})

    agent.write_policy("10-test.yaml", policy("lists/drop.txt"))
    agent.start()

    def send():
        s = dict(dst="192.0.2.2", proto="udp", dport=5000, count=N)
        return exchange(env.topo, [dict(s, tag="a", src="203.0.113.5"),
                                   dict(s, tag="b", src="203.0.113.6")])

    assert send() == {"a": 0, "b": N}
    g = gen(agent)
    # a feed job rewrites the list (rename over): no SIGHUP
    tmp = os.path.join(pdir, "lists", ".drop.txt.new")
    with open(tmp, "w") as f:
        f.write("# rewritten\n203.0.113.6\n")
    os.rename(tmp, os.path.join(pdir, "lists", "drop.txt"))
    wait_generation(agent, g + 1)
    assert send() == {"a": N, "b": 0}

    # out of the dir: by "..", by a symlink, by an absolute path
    secret = os.path.join(agent.workdir, "secret.txt")
    with open(secret, "w") as f:
        f.write("TOPSECRET-LINE\n")
    # a new name in a watched subdir is a change: one reload (of the same
    # policy) follows; wait for it, or it may land in a check below
    g = gen(agent)
    os.symlink(secret, os.path.join(pdir, "lists", "link.txt"))
    wait_generation(agent, g + 1)
    for name, col in (("../secret.txt", 5), ("lists/link.txt", 5), (secret, 5)):
        g = gen(agent)
        path = agent.write_policy("10-test.yaml", policy(name))
        wait_log(agent, re.escape(path) + r":3:%d: set file \"%s\" is (outside the policy "
                 r"dir|an absolute path)" % (col, re.escape(name)))
        assert gen(agent) == g
    p = agent.cli_raw("policy", "check", pdir)
    assert p.returncode == 2 and "is an absolute path" in p.stdout, p.stdout
    assert "TOPSECRET" not in agent.log_text() + p.stdout + p.stderr
    assert send() == {"a": N, "b": 0}, "the policy in force changed"


EDITS = ".sluice-cli.yaml"


def spoofed(env, src="203.0.113.7"):
    s = dict(dst="192.0.2.2", proto="udp", count=N)
    return exchange(env.topo, [dict(s, tag="blocked", src=src, dport=5000),
                               dict(s, tag="5000", src="192.0.2.1", dport=5000),
                               dict(s, tag="5001", src="192.0.2.1", dport=5001)])


def test_corrupt_edits_file_at_boot(env):
    """A broken edits file never leaves the machine without a firewall and
    never removes edits in force: a restart keeps the pinned policy (with its
    blocklist); a boot with nothing in force applies the hand-written policy
    without the edits. Either way it is loud (log, status, metrics) and the
    file stays as it is."""
    t = env.topo
    run_lo = ["ip", "link", "set", "lo", "up"]
    subprocess.run(["nsenter", "--net=/run/netns/" + t.fw] + run_lo, check=True)
    agent = env.start(default="allow", rules=deny_udp(5001))
    agent.cli("block", "add", "203.0.113.7")
    assert spoofed(env) == {"blocked": 0, "5000": N, "5001": 0}
    assert agent.stop(signal.SIGKILL) is not None
    path = os.path.join(agent.policy_dir, EDITS)
    with open(path, "a") as f:
        f.write("x: [not closed\n")     # invalid YAML
    with open(path, "rb") as f:
        broken = f.read()

    # a restart: the pinned policy (with the blocklist) stays in force
    agent.start()
    st = agent.status()
    assert st["policy"] is None and st["edits"]["refused"] is False, st
    assert re.match(re.escape(path) + r":\d+:\d+: invalid YAML", st["edits"]["error"]), st
    assert spoofed(env) == {"blocked": 0, "5000": N, "5001": 0}
    assert agent.stop(signal.SIGTERM) == 0
    assert agent.teardown().returncode == 0

    # a boot with nothing in force: the hand-written policy, without the edits
    agent.start(extra=["--metrics", "127.0.0.1:9464"])
    st = agent.status()
    assert st["generation"] == 1 and st["policy"]["rules"] == 1, st
    assert st["edits"]["refused"] is True and EDITS in st["edits"]["error"], st
    assert "edits file is refused and kept as it is" in agent.log_text()
    assert spoofed(env) == {"blocked": N, "5000": N, "5001": 0}
    text = agent.cli_raw("status", json_out=False).stdout
    assert "the CLI's edits file does not load (the policy in force was applied " \
        "without it" in text, text
    code = "import urllib.request; print(urllib.request.urlopen(" \
           "'http://127.0.0.1:9464/metrics', timeout=10).read().decode())"
    p = subprocess.run(["nsenter", "--net=/run/netns/" + t.fw, "/usr/bin/python3", "-c", code],
                       capture_output=True, text=True, timeout=30)
    assert "\nsluice_edits_invalid 1\n" in p.stdout, p.stdout + p.stderr
    # an edit cannot build on it: refused, the file untouched
    p = agent.cli_raw("block", "add", "198.51.100.9", json_out=False)
    assert p.returncode == 1 and EDITS in p.stderr, p.stderr
    with open(path, "rb") as f:
        assert f.read() == broken

    # fixed by the operator: SIGHUP brings the edits back
    with open(path, "w") as f:
        f.write('block:\n  - "203.0.113.7/32"\n')
    agent.proc.send_signal(signal.SIGHUP)
    wait_generation(agent, 2)
    st = agent.status()
    assert st["edits"]["error"] is None and st["edits"]["refused"] is False, st
    assert spoofed(env) == {"blocked": 0, "5000": N, "5001": 0}


def test_edit_survives_a_kill_between_save_and_apply(env):
    """An agent killed in the middle of an edit (SLUICE_FAIL_EDIT=kill-after-save
    stops it at the one point between saving the edits file and applying
    the policy): the next agent applies the edit; it is never in force
    without being saved, which a restart would silently revert. (And a FIFO
    where the agent writes its temp file does not hang it.)"""
    agent = env.start(default="allow", rules=deny_udp(5001))
    os.mkfifo(os.path.join(agent.policy_dir, EDITS + ".tmp"))
    agent.cli("block", "add", "198.51.100.1")
    agent.cli("block", "del", "198.51.100.1")
    assert agent.stop(signal.SIGTERM) == 0
    os.environ["SLUICE_FAIL_EDIT"] = "kill-after-save"
    try:
        agent.start()
    finally:
        del os.environ["SLUICE_FAIL_EDIT"]
    p = agent.cli_raw("block", "add", "203.0.113.7", json_out=False)
    assert p.returncode == 1 and "closed the connection" in p.stderr, p
    assert agent.stop(signal.SIGTERM) == -signal.SIGKILL, agent.log_text()
    agent.start()
    assert agent.cli("block", "list")["prefixes"] == ["203.0.113.7/32"]
    assert spoofed(env) == {"blocked": 0, "5000": N, "5001": 0}
