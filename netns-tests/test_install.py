# SPDX-License-Identifier: GPL-2.0-only
"""`make install` and `make uninstall` (PREFIX, DESTDIR, FHS), the systemd
unit they install (systemd-analyze verify; the agent run with exactly the
unit's capabilities and NoNewPrivileges), and the man pages (`man -l`
renders them without a warning; built from docs/ and the CLI's tables)."""
import configparser
import os
import re
import shlex
import signal
import subprocess

import pytest

from lib.agent import build_dir
from lib.completion import complete, grammar
from lib.netns import run, xdp_prog_id
from lib.policy import policy_yaml
from lib.traffic import exchange

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
N = 5


def make(*args):
    p = subprocess.run(["make", "--no-print-directory", "-C", REPO, "BUILD=" + build_dir()] +
                       list(args), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def test_install_fhs_and_uninstall(tmp_path):
    root = str(tmp_path / "root")
    make("install", "DESTDIR=" + root, "PREFIX=/usr")
    got = files_under(root)
    for f in ["usr/sbin/sluiced", "usr/sbin/sluice", "lib/systemd/system/sluiced.service",
              "usr/share/man/man8/sluice.8", "usr/share/man/man8/sluiced.8",
              "usr/share/man/man5/sluice-policy.5",
              "usr/share/bash-completion/completions/sluice",
              "usr/share/doc/sluice/examples/policies/20-firewall.yaml",
              "usr/share/doc/sluice/examples/policies/blocklist.txt",
              "usr/share/doc/sluice/README.md",
              "etc/sluice/policies/10-firewall.yaml", "etc/default/sluiced"]:
        assert f in got, (f, got)
    # no BPF object beside the binaries: they are embedded (skeletons)
    assert not [f for f in got if f.endswith(".o")], got
    assert os.stat(root + "/usr/sbin/sluiced").st_mode & 0o777 == 0o755
    assert os.stat(root + "/lib/systemd/system/sluiced.service").st_mode & 0o777 == 0o644
    unit = open(root + "/lib/systemd/system/sluiced.service").read()
    assert "\nExecStart=/usr/sbin/sluiced $SLUICED_OPTS\n" in unit and "@" not in unit
    # the installed example policy is the demo's, and valid
    p = run([root + "/usr/sbin/sluice", "policy", "check", root + "/usr/share/doc/sluice/"
             "examples/policies", root + "/etc/sluice/policies"], check=False)
    assert p.returncode == 0, p.stderr
    # the binaries work where they are installed: the version is the build's
    v = run([root + "/usr/sbin/sluiced", "--version"]).stdout
    assert v == run([os.path.join(build_dir(), "sluiced"), "--version"]).stdout, v

    # an operator's policy is kept by a second install and by uninstall
    mine = os.path.join(root, "etc/sluice/policies/10-firewall.yaml")
    with open(mine, "a") as f:
        f.write("# mine\n")
    make("install", "DESTDIR=" + root, "PREFIX=/usr")
    assert open(mine).read().endswith("# mine\n")
    make("uninstall", "DESTDIR=" + root, "PREFIX=/usr")
    assert files_under(root) == ["etc/default/sluiced", "etc/sluice/policies/10-firewall.yaml"]


def test_prefix_install_unit_verifies_and_completion_loads(tmp_path):
    """PREFIX without DESTDIR: everything moves under it, the unit names the
    binary there, and `systemd-analyze verify` accepts the unit (its
    Documentation= man pages found through MANPATH)."""
    pre, etc = str(tmp_path / "local"), str(tmp_path / "etc")
    make("install", "PREFIX=" + pre, "SYSCONFDIR=" + etc)
    unitf = pre + "/lib/systemd/system/sluiced.service"
    unit = open(unitf).read()
    assert "ExecStart=%s/sbin/sluiced $SLUICED_OPTS" % pre in unit
    assert "ReadWritePaths=/sys/fs/bpf %s/sluice/policies" % etc in unit
    p = subprocess.run(["systemd-analyze", "verify", unitf], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, MANPATH=pre + "/share/man:"))
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr
    got = complete(["sluice rule a"], path=pre + "/share/bash-completion/completions/sluice")
    assert got == {"sluice rule a": ["add"]}
    make("uninstall", "PREFIX=" + pre, "SYSCONFDIR=" + etc)
    assert files_under(pre) == []


def unit_settings():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(os.path.join(REPO, "deploy/systemd/sluiced.service.in"))
    return cp["Service"]


def test_unit_is_a_notify_service_with_least_privilege():
    s = unit_settings()
    assert s["Type"] == "notify" and s["Restart"] == "on-failure"
    assert s["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert s["WatchdogSec"] and s["NoNewPrivileges"] == "yes"
    assert s["ProtectSystem"] == "strict" and s["ProtectHome"] == "yes"
    caps = set(s["CapabilityBoundingSet"].split())
    assert caps == {"CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"}
    assert set(s["AmbientCapabilities"].split()) == caps
    # the paths the agent writes: pins, policy dir (CLI edits); the socket's dir
    assert s["ReadWritePaths"].split() == ["/sys/fs/bpf", "@SYSCONFDIR@/sluice/policies"]
    assert s["RuntimeDirectory"] == "sluice" and s["RuntimeDirectoryMode"] == "0700"
    # no ExecStop: stopping leaves the firewall in force
    assert "ExecStop" not in s


def start_with_caps(env, caps):
    """The agent under setpriv: bounding set CAPS (what the unit allows) and
    no_new_privs, as systemd would run it."""
    bset = ",".join(["-all"] + ["+" + c[4:].lower() for c in caps])
    env.agent.start(wait=False, wrap=["setpriv", "--no-new-privs", "--bounding-set", bset,
                                      "--inh-caps", "-all"])


def test_agent_runs_with_the_units_capabilities(env):
    """Exactly the unit's CapabilityBoundingSet is enough: the agent starts,
    attaches and filters real traffic. Without CAP_SYS_ADMIN (the one the
    unit says only the map-by-id reads need) it refuses, and says why."""
    t, agent = env.topo, env.agent
    caps = unit_settings()["CapabilityBoundingSet"].split()
    agent.write_policy("10-test.yaml", policy_yaml(t, [
        dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])]))

    start_with_caps(env, [c for c in caps if c != "CAP_SYS_ADMIN"])
    assert agent.proc.wait(timeout=30) != 0
    log = agent.log_text()
    agent.stop()
    assert "needs CAP_SYS_ADMIN" in log, log
    agent.teardown()

    start_with_caps(env, caps)
    agent.wait_ready()
    status = open("/proc/%d/status" % agent.proc.pid).read()
    bnd = int(re.search(r"^CapBnd:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
    assert bin(bnd).count("1") == len(caps), status       # really restricted
    assert re.search(r"^NoNewPrivs:\s*1$", status, re.M)
    assert xdp_prog_id(t.fw, t.fdev) is not None
    got = exchange(t, [dict(tag="ok", src=t.c4, dst=t.f4, dport=5000, count=N),
                       dict(tag="denied", src=t.c4, dst=t.f4, dport=5001, count=N)])
    assert got == {"ok": N, "denied": 0}
    assert agent.stop(signal.SIGTERM) == 0


# ---------------------------------------------------------------- man pages

MANS = {"sluice.8": "docs/cli.md", "sluiced.8": "docs/sluiced.md",
        "sluice-policy.5": "docs/policy.md"}


def man_text(path, plain=False):
    """`man -l PATH` as a user sees it; PLAIN: without hyphenation, for
    comparing text."""
    p = subprocess.run(["man", "--warnings"] + (["--nh", "--nj"] if plain else []) +
                       ["-l", path], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8",
                                            MAN_KEEP_FORMATTING="0"))
    return p


@pytest.mark.parametrize("page", sorted(MANS))
def test_man_page_renders_without_warnings(page):
    path = os.path.join(build_dir(), "man", page)
    p = man_text(path)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    text = re.sub(r".\x08", "", p.stdout)
    assert re.search(r"^NAME\n +%s - " % re.escape(page.rsplit(".", 1)[0]), text, re.M)
    # every section of the one source is in the page, in its order
    heads = [re.sub(r"`", "", h).upper() for h in
             re.findall(r"^## (.*)$", open(os.path.join(REPO, MANS[page])).read(), re.M)]
    found = [m for m in re.findall(r"^([A-Z][^a-z\n]*)$", text, re.M)]
    assert [h for h in found if h in heads] == heads, (heads, found)


def test_sluice_man_synopsis_is_the_grammar():
    """SYNOPSIS and COMMANDS of sluice(8) come from the CLI's tables."""
    text = re.sub(r"\s+", " ", re.sub(r".\x08", "", man_text(
        os.path.join(build_dir(), "man", "sluice.8"), plain=True).stdout))
    g = grammar(os.path.join(build_dir(), "sluice"))
    n = 0
    for o in g["objects"]:
        for c in o["commands"]:
            assert re.sub(r"\s+", " ", c["synopsis"]) in text, c["synopsis"]
            for x in c["options"]:
                assert "%s: %s" % (x["name"] if not x["arg"] else "%s %s%s" % (
                    x["name"], x["arg"], ",..." if x["list"] else ""), x["help"]) in text, x
                n += 1
    assert n >= 15


def test_man_pages_track_their_source(tmp_path):
    """A sentence added to a doc shows up in its page: the page has no text
    of its own to fall out of step."""
    docs = tmp_path / "docs"
    docs.mkdir()
    src = open(os.path.join(REPO, "docs/sluiced.md")).read()
    (docs / "sluiced.md").write_text(src.replace(
        "## Signals", "A canary sentence for the test.\n\n## Signals"))
    scd = tmp_path / "sluiced.8.scd"
    subprocess.run(["/usr/bin/python3", os.path.join(REPO, "man/mkman.py"), "sluiced.8",
                    str(scd), "1.2.3"], cwd=str(tmp_path), check=True)
    roff = subprocess.run(["scdoc"], stdin=open(scd), capture_output=True, text=True,
                          check=True).stdout
    (tmp_path / "sluiced.8").write_text(roff)
    p = man_text(str(tmp_path / "sluiced.8"), plain=True)
    assert "A canary sentence for the test." in re.sub(r"\s+", " ", p.stdout)
    assert "sluice 1.2.3" in p.stdout


def test_versions_everywhere(env):
    """--version of both binaries and `sluice version` name the build's
    git describe (or VERSION); the agent logs it at start; `sluice status`
    shows the agent's and the CLI's."""
    agent = env.start()
    want = open(os.path.join(build_dir(), "build_version.h")).read().split('"')[1]
    describe = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                              capture_output=True, text=True).stdout.strip()
    if describe:
        assert want.endswith(describe), (want, describe)
    assert run([agent.sluiced, "--version"]).stdout == "sluiced %s\n" % want
    assert run([agent.sluice, "--version"]).stdout == "sluice %s\n" % want
    assert "sluiced %s starting" % want in agent.log_text()
    v = agent.cli("version")
    assert v["cli"] == want and v["agent"]["version"] == want and v["agent"]["pid"]
    text = agent.cli_raw("status", json_out=False).stdout
    assert re.search(r"^version +%s$" % re.escape(want), text, re.M)
    assert re.search(r"^cli version +%s$" % re.escape(want), text, re.M)
    p = run([agent.sluice, "-j", "--socket", agent.workdir + "/none.sock", "version"],
            check=False)
    assert p.returncode == 0
    assert shlex.split(p.stdout) and '"agent":null' in p.stdout.replace(" ", "")
