# SPDX-License-Identifier: GPL-2.0-only
"""`make deb`: the package is built with dpkg tooling, passes lintian with no
error, installs with `dpkg -i` (service disabled and not started), runs the
demo's traffic on the installed binaries and example policies, runs an agent
on the default paths with block edits of the CLI, and `dpkg --purge` removes
it cleanly: the firewall torn down, the files, the conffiles and the agent's
own files in /etc/sluice/policies gone.

The machine is left as it was found: the test does nothing when a sluice
package is installed or a sluice runs on the default paths, and purges what
it installed whatever happens."""
import glob
import os
import re
import signal
import subprocess
import time

import pytest

from lib.agent import build_dir, pins_under
from lib.completion import complete
from lib.netns import ns_cmd, run, xdp_prog_id
from lib.policy import policy_yaml
from lib.traffic import exchange

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
STATE, RUNDIR = "/sys/fs/bpf/sluice", "/run/sluice"
ETC, POLICIES = "/etc/sluice", "/etc/sluice/policies"
N = 5


def installed():
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "sluice"], capture_output=True,
                       text=True)
    return "install ok installed" in p.stdout or "config-files" in p.stdout


def dpkg(*args):
    # the lock other sessions take around apt-get
    return subprocess.run(["flock", "/tmp/apt.lock", "dpkg"] + list(args), capture_output=True,
                          text=True, timeout=300, env=dict(os.environ,
                                                           DEBIAN_FRONTEND="noninteractive"))


@pytest.fixture
def fresh_machine():
    if installed():
        pytest.skip("a sluice package is installed here: not touching it")
    if os.path.exists(STATE) or os.path.exists(RUNDIR):
        pytest.skip("a sluice uses %s or %s here: not touching it" % (STATE, RUNDIR))
    etc_before = os.path.exists(ETC)
    yield
    problems = []
    if installed():
        problems.append("purge after the test: %s" % dpkg("--purge", "sluice").stderr)
    if not etc_before and os.path.exists(ETC):
        subprocess.run(["rm", "-rf", ETC])
        problems.append("%s was left" % ETC)
    if os.path.exists(STATE):
        subprocess.run(["rm", "-rf", STATE])
        problems.append("%s was left" % STATE)
    if os.path.isdir(RUNDIR):
        subprocess.run(["rm", "-rf", RUNDIR])
    assert not problems, problems


def test_deb(fresh_machine, topo, tmp_path):
    # ---- build, with dpkg-buildpackage (debhelper), in a copy without .git
    p = subprocess.run(["make", "--no-print-directory", "-C", REPO, "BUILD=" + build_dir(),
                        "deb"], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    version = open(os.path.join(REPO, "VERSION")).read().strip()
    debs = glob.glob(os.path.join(build_dir(), "deb", "sluice_*.deb"))
    assert [os.path.basename(d) for d in debs] == ["sluice_%s_amd64.deb" % version], debs
    deb = debs[0]

    # ---- lintian: no error
    p = subprocess.run(["lintian", "--tag-display-limit", "0", deb], capture_output=True,
                       text=True, timeout=300)
    errors = [ln for ln in p.stdout.splitlines() if ln.startswith("E: ")]
    assert not errors, p.stdout

    # ---- what dpkg will see: runtime libraries, conffiles, maintainer scripts
    depends = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True,
                             text=True).stdout
    for lib in ("libbpf1", "libsystemd0", "libyaml-0-2", "libmnl0", "libjson-c5", "libc6"):
        assert re.search(r"\b%s\b" % re.escape(lib), depends), depends
    ctl = tmp_path / "ctl"
    subprocess.run(["dpkg-deb", "-e", deb, str(ctl)], check=True)
    assert (ctl / "conffiles").read_text().split() == [
        "/etc/default/sluiced", "/etc/sluice/policies/10-firewall.yaml"]
    # the unit is started by deb-systemd-invoke, which starts enabled units only
    assert "deb-systemd-invoke $_dh_action 'sluiced.service'" in (ctl / "postinst").read_text()

    # ---- install
    p = dpkg("-i", deb)
    assert p.returncode == 0, p.stdout + p.stderr
    assert installed()
    # built without .git: the version came through the copy's VERSION file, where
    # make deb wrote this checkout's describe
    deb_version = open(os.path.join(build_dir(), "deb", "sluice-%s" % version,
                                    "VERSION")).read().strip()
    head = subprocess.run(["git", "-C", REPO, "describe", "--always"], capture_output=True,
                          text=True).stdout.strip()
    assert deb_version.startswith(version) and (not head or head in deb_version), deb_version
    assert run(["/usr/sbin/sluiced", "--version"]).stdout == "sluiced %s\n" % deb_version
    assert run(["/usr/sbin/sluice", "--version"]).stdout == "sluice %s\n" % deb_version
    # installed disabled, so not started either: the operator asks (systemctl enable --now)
    p = run(["systemctl", "is-enabled", "sluiced"], check=False)
    assert p.stdout.strip() == "disabled", p.stdout + p.stderr
    p = subprocess.run(["systemd-analyze", "verify", "/lib/systemd/system/sluiced.service"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr
    for page in ("sluice", "sluiced", "sluice-policy"):
        p = subprocess.run(["man", "--warnings", page], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80"), timeout=60)
        assert p.returncode == 0 and not p.stderr and "NAME" in p.stdout, (page, p.stderr)
    got = complete(["sluice ct l"], path="/usr/share/bash-completion/completions/sluice")
    assert got == {"sluice ct l": ["list"]}

    # ---- the demo, on the installed binaries and example policies
    p = subprocess.run(["flock", "/tmp/sluice-demo.lock", os.path.join(REPO, "demo.sh")],
                       capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, BUILD=build_dir(), SLUICED="/usr/sbin/sluiced",
                                SLUICE="/usr/sbin/sluice",
                                POLICIES="/usr/share/doc/sluice/examples/policies"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "demo: everything happened as" in p.stdout

    # ---- an agent of the package on the default paths, its policy in the
    # conffile as an operator edits it; the CLI's block edits; then purge
    with open(os.path.join(POLICIES, "10-firewall.yaml"), "w") as f:
        f.write(policy_yaml(topo, [
            dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])]))
    log = open(tmp_path / "sluiced.log", "w")
    agent = subprocess.Popen(ns_cmd(topo.fw, ["/usr/sbin/sluiced", "--foreground"]),
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while run(["/usr/sbin/sluice", "status"], check=False).returncode != 0:
            assert agent.poll() is None and time.monotonic() < deadline, \
                open(tmp_path / "sluiced.log").read()
            time.sleep(0.1)
        assert os.path.isdir(STATE) and xdp_prog_id(topo.fw, topo.fdev) is not None
        assert exchange(topo, [dict(tag="ok", src=topo.c4, dst=topo.f4, dport=5000, count=N),
                               dict(tag="no", src=topo.c4, dst=topo.f4, dport=5001, count=N)]) \
            == {"ok": N, "no": 0}
        # the first block edit writes the edits file, the next (the blocklist
        # not empty) appends to its journal: the agent's files, that purge removes
        for cidr in ("203.0.113.77/32", "203.0.113.78/32"):
            run(["/usr/sbin/sluice", "block", "add", cidr])
        assert {".sluice-cli.yaml", ".sluice-cli.journal"} <= set(os.listdir(POLICIES)), \
            os.listdir(POLICIES)

        # removing the package removes the firewall (nothing would manage it)
        p = dpkg("--purge", "sluice")
        assert p.returncode == 0, p.stdout + p.stderr
        assert agent.wait(timeout=30) == 0
        assert xdp_prog_id(topo.fw, topo.fdev) is None
        assert not os.path.exists(STATE) and pins_under(STATE) == []
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGKILL)
            agent.wait()
        log.close()
    assert not installed()
    for path in ("/usr/sbin/sluiced", "/usr/sbin/sluice", "/lib/systemd/system/sluiced.service",
                 "/etc/sluice", "/etc/default/sluiced", "/usr/share/doc/sluice",
                 "/usr/share/man/man8/sluiced.8.gz",
                 "/usr/share/bash-completion/completions/sluice"):
        assert not os.path.exists(path), path
    # nor any state of dpkg or of the systemd helpers
    left = glob.glob("/var/lib/dpkg/info/sluice.*") + \
        glob.glob("/var/lib/systemd/deb-systemd-helper-*/**/*sluice*", recursive=True)
    assert not left, left
