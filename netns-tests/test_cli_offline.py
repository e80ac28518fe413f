# SPDX-License-Identifier: GPL-2.0-only
"""The CLI without a running agent: `policy check`, usage errors, exit
statuses, -j output, an unreachable agent, offline teardown, and the control
protocol client against a scripted peer that answers as docs/control.md says.

Runs build/san/sluice (sanitizer build); BUILD in the environment names the
build dir (absolute), default ./build. Only the last two tests need
namespaces and a real sluiced (conftest.py's `env`): the text views against
the agent's JSON, and teardown without an agent after a SIGKILL.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from lib.peer import Peer, ok

BUILD = os.path.abspath(os.environ.get("BUILD", "build"))
SLUICE = os.path.join(BUILD, "san", "sluice")
ERR_RE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")

VALID = """\
sets:
  blocklist:
    prefixes: [198.51.100.0/24, 2001:db8:bad::/48]

firewall:
  interfaces: ["veth*"]
  default: deny
  stateful: false
  rules:
    - name: drop-bad
      action: deny
      src: ["@blocklist"]
    - name: ssh
      action: allow
      src: [203.0.113.0/24]
      dst: [192.0.2.1]
      proto: tcp
      dport: [22, "8000-8080"]
"""


def run(*args, timeout=30):
    assert os.access(SLUICE, os.X_OK), f"{SLUICE} missing: run make test-bins"
    return subprocess.run([SLUICE, *args], capture_output=True, text=True, timeout=timeout)


def one_error_line(p):
    """Exactly one line on stderr, nothing on stdout: the error convention."""
    assert p.stdout == "", p.stdout
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


def json_only(p):
    """Under -j stdout is one JSON value and nothing else."""
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout
    return json.loads(p.stdout)


def write(path, text):
    path.write_text(text)
    return str(path)


def col_of(text, line, token):
    """1-based column of TOKEN on 1-based LINE of TEXT."""
    return text.splitlines()[line - 1].index(token) + 1


# ---------------------------------------------------------------- policy check

def test_check_valid_file(tmp_path):
    f = write(tmp_path / "fw.yaml", VALID)
    p = run("policy", "check", f)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "ok: 2 rules, 1 sets, 4 prefixes\n"
    assert p.stderr == ""


def test_check_valid_file_json(tmp_path):
    f = write(tmp_path / "fw.yaml", VALID)
    p = run("-j", "policy", "check", f)
    assert p.returncode == 0, p.stderr
    out = json_only(p)
    assert out["valid"] is True
    assert (out["rules"], out["sets"], out["prefixes"]) == (2, 1, 4)
    assert [os.path.basename(x) for x in out["files"]] == ["fw.yaml"]


def test_check_bad_value_points_at_it(tmp_path):
    text = VALID.replace("action: allow", "action: maybe")
    f = write(tmp_path / "fw.yaml", text)
    line = text.splitlines().index("      action: maybe") + 1
    p = run("policy", "check", f)
    assert p.returncode == 2
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    m = ERR_RE.match(lines[0])
    assert m, lines[0]
    assert m["file"] == f
    assert int(m["line"]) == line
    assert int(m["col"]) == col_of(text, line, "maybe")


def test_check_early(tmp_path):
    """`early: true` counted by policy check; on an allow rule, refused at its value."""
    text = VALID.replace("      src: [\"@blocklist\"]", "      early: true\n      src: [\"@blocklist\"]")
    p = run("policy", "check", write(tmp_path / "fw.yaml", text))
    assert (p.returncode, p.stdout) == (0, "ok: 2 rules (1 early), 1 sets, 4 prefixes\n"), p
    out = json_only(run("-j", "policy", "check", str(tmp_path / "fw.yaml")))
    assert out["early"] == 1 and out["sections"][0]["early"] == 1, out
    text = VALID.replace("      action: allow", "      action: allow\n      early: yes")
    f = write(tmp_path / "fw.yaml", text)
    line = text.splitlines().index("      early: yes") + 1
    m = ERR_RE.match(one_error_line(run("policy", "check", f)))
    assert m and (m["file"], int(m["line"]), int(m["col"])) == (f, line, 14), m
    assert m["msg"].startswith('early applies to deny rules only; rule "ssh" allows'), m["msg"]


HOOK_FW = """firewall:
  interfaces: [eth0]
  hook: %s
"""


def test_check_hook(tmp_path):
    """`hook:` auto | xdp | tc; what tc cannot run is refused at the hook."""
    for hook in ("auto", "xdp", "tc"):
        p = run("policy", "check", write(tmp_path / "fw.yaml", HOOK_FW % hook))
        assert p.returncode == 0, (hook, p.stderr)
    f = write(tmp_path / "fw.yaml", HOOK_FW % "ebpf")
    m = ERR_RE.match(one_error_line(run("policy", "check", f)))
    assert m and (m["file"], m["line"], m["col"]) == (f, "3", "9"), m
    assert m["msg"] == 'unknown hook "ebpf"; use auto, xdp or tc', m["msg"]
    lb = """loadbalancers:
  - name: web
    vip: 203.0.113.10
    port: 80
    backends:
      - { addr: 198.51.100.11, port: 8080 }
"""
    cookies = """conntrack:
  syn-cookies: always
"""
    for extra, what in ((lb, "cannot run the load balancer"),
                        (cookies, "cannot send SYN cookies")):
        f = write(tmp_path / "fw.yaml", HOOK_FW % "tc" + extra)
        m = ERR_RE.match(one_error_line(run("policy", "check", f)))
        assert m and (m["file"], m["line"], m["col"]) == (f, "3", "9"), m
        assert m["msg"].startswith("hook: tc " + what), m["msg"]
        # the same policy on XDP (or auto) is fine
        p = run("policy", "check", write(tmp_path / "fw.yaml", HOOK_FW % "auto" + extra))
        assert p.returncode == 0, p.stderr


def test_check_rule_limit_counts_all_sections(tmp_path):
    """16,384 rules in the policy pass, one more is refused at its place:
    the limit counts the rules of every section together."""
    def sections(n2):
        out = ["firewall:"]
        for s, n in enumerate((8000, n2)):
            out += ["  - interfaces: [eth%d]" % s, "    stateful: false", "    rules:"]
            out += ["      - { name: s%dr%d, action: deny, dst: [192.0.2.%d] }" % (s, i, i % 256)
                    for i in range(n)]
        return "\n".join(out) + "\n"

    ok_file = write(tmp_path / "ok.yaml", sections(16384 - 8000))
    p = run("policy", "check", ok_file)
    assert p.returncode == 0, p.stderr
    text = sections(16385 - 8000)
    f = write(tmp_path / "big.yaml", text)
    p = run("policy", "check", f)
    assert p.returncode == 2
    m = ERR_RE.match(one_error_line(p))
    assert m, p.stderr
    last = "      - { name: s1r%d," % (16385 - 8000 - 1)
    line = text.splitlines().index(
        [x for x in text.splitlines() if x.startswith(last)][0]) + 1
    assert (m["file"], int(m["line"])) == (f, line), p.stderr
    assert int(m["col"]) == col_of(text, line, "s1r%d" % (16385 - 8000 - 1))
    assert "too many rules: 16385 in the policy" in m["msg"], m["msg"]


def test_check_every_error_reported(tmp_path):
    text = VALID.replace('src: ["@blocklist"]', "src: []").replace(
        "dst: [192.0.2.1]", "dst: [192.0.2.1/33]")
    f = write(tmp_path / "fw.yaml", text)
    lines_text = text.splitlines()
    want = {lines_text.index("      src: []") + 1,
            lines_text.index("      dst: [192.0.2.1/33]") + 1}
    p = run("policy", "check", f)
    assert p.returncode == 2
    assert p.stdout == ""
    got = set()
    for line in p.stderr.splitlines():
        m = ERR_RE.match(line)
        assert m, line
        assert m["file"] == f
        got.add(int(m["line"]))
    assert want <= got, p.stderr


def test_check_invalid_json(tmp_path):
    text = VALID.replace("dst: [192.0.2.1]", "dst: [192.0.2.1/33]")
    f = write(tmp_path / "fw.yaml", text)
    line = text.splitlines().index("      dst: [192.0.2.1/33]") + 1
    p = run("-j", "policy", "check", f)
    assert p.returncode == 2
    assert p.stderr == ""
    out = json_only(p)
    assert out["valid"] is False
    assert len(out["errors"]) >= 1
    e = out["errors"][0]
    assert set(e) == {"file", "line", "col", "message"}
    assert (e["file"], e["line"]) == (f, line)
    assert e["col"] == col_of(text, line, "192.0.2.1/33")
    assert e["message"]


def test_json_output_is_utf8_whatever_the_input(tmp_path):
    """-j output is JSON, so UTF-8, also when a file name or an argument it
    quotes is not: the stray byte is written as the text \\xNN. (The bytes
    used to be copied as they were: jq and Python refused the whole output.)"""
    d = tmp_path / "pol"
    d.mkdir()
    (d / "a\xff.yaml".encode("latin-1").decode("utf-8", "surrogateescape")).write_text(
        "firewall: {default: maybe}\n")
    for args, code in ((["-j", "policy", "check", str(d)], 2),
                       (["-j", "block", "add", b"198.51.100.\xff"], 2),
                       (["-j", "--socket", b"/nonexistent/s\xe9.sock", "status"], 1)):
        p = subprocess.run([SLUICE, *args], capture_output=True, timeout=30)
        assert p.returncode == code, (args, p.returncode, p.stdout, p.stderr)
        out = json.loads(p.stdout.decode("utf-8"))     # strict: no stray bytes
        text = json.dumps(out)
        assert "\\\\xff" in text or "\\\\xe9" in text, text


def test_check_yaml_syntax_error(tmp_path):
    f = write(tmp_path / "fw.yaml", "firewall:\n  rules: [\n    - name: x\n")
    p = run("policy", "check", f)
    assert p.returncode == 2
    assert p.stdout == ""
    m = ERR_RE.match(p.stderr.splitlines()[0])
    assert m and m["file"] == f, p.stderr


def test_check_stateful_default_and_conntrack(tmp_path):
    # stateful defaults to true and conntrack is configurable: both pass the check
    text = VALID.replace("  stateful: false\n", "")
    text += "conntrack:\n  max-entries: 4096\n  timeouts:\n    udp: 2\n"
    f = write(tmp_path / "fw.yaml", text)
    p = run("policy", "check", f)
    assert p.returncode == 0, p.stderr


def test_check_conntrack_bad_timeout(tmp_path):
    f = write(tmp_path / "fw.yaml", "conntrack:\n  timeouts:\n    tcp-fin: 10\n")
    p = run("policy", "check", f)
    assert p.returncode == 2
    m = ERR_RE.match(p.stderr.splitlines()[0])
    assert m and m["file"] == f, p.stderr
    assert "tcp-fin" in p.stderr, p.stderr


def test_check_missing_file(tmp_path):
    f = str(tmp_path / "nope.yaml")
    p = run("policy", "check", f)
    assert p.returncode == 2
    line = one_error_line(p)
    assert f in line and "No such file or directory" in line
    p = run("-j", "policy", "check", f)
    assert p.returncode == 2
    out = json_only(p)
    assert out["valid"] is False
    assert out["errors"][0]["file"] == f
    assert "No such file or directory" in out["errors"][0]["message"]


def test_check_unreadable_set_file(tmp_path):
    # an input the policy names, not only the ones on the command line
    text = "sets:\n  bl:\n    file: nope.txt\n"
    f = write(tmp_path / "sets.yaml", text)
    p = run("policy", "check", f)
    assert p.returncode == 2
    m = ERR_RE.match(p.stderr.splitlines()[0])
    assert m and m["file"] == f and int(m["line"]) == 3, p.stderr
    assert "nope.txt" in m["msg"]


def test_check_missing_file_beside_valid_one(tmp_path):
    good = write(tmp_path / "fw.yaml", VALID)
    p = run("policy", "check", good, str(tmp_path / "nope.yaml"))
    assert p.returncode == 2
    assert p.stdout == ""


def test_check_dir(tmp_path):
    d = tmp_path / "policies"
    d.mkdir()
    sets, fw = VALID.split("\nfirewall:")
    write(d / "10-sets.yaml", sets)
    write(d / "20-fw.yaml", "firewall:" + fw)
    write(d / "notes.txt", "not a policy: [")
    p = run("policy", "check", str(d))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "ok: 2 rules, 1 sets, 4 prefixes\n"
    p = run("-j", "policy", "check", str(d))
    out = json_only(p)
    assert [os.path.basename(x) for x in out["files"]] == ["10-sets.yaml", "20-fw.yaml"]


def test_check_files_merge(tmp_path):
    # FILE arguments form one policy: a set in one file serves a rule in the other
    sets, fw = VALID.split("\nfirewall:")
    a = write(tmp_path / "a.yaml", sets)
    b = write(tmp_path / "b.yaml", "firewall:" + fw)
    p = run("policy", "check", a, b)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "ok: 2 rules, 1 sets, 4 prefixes\n"
    # alone, the rule file names a set nobody defines
    p = run("policy", "check", b)
    assert p.returncode == 2
    m = ERR_RE.match(p.stderr.splitlines()[0])
    assert m and m["file"] == b and "blocklist" in m["msg"], p.stderr


def test_check_same_file_twice_is_read_once(tmp_path):
    """FILE arguments merge as one dir would, and a dir holds a file once: a
    file named twice (a glob that also matches it, ./f and /abs/f) is read
    once. It used to be refused as defining firewall again, "first at"
    itself."""
    f = write(tmp_path / "fw.yaml", VALID)
    os.symlink("fw.yaml", tmp_path / "link.yaml")
    for args in ([f, f], [f, "./fw.yaml"], [f, str(tmp_path / "link.yaml")]):
        p = subprocess.run([SLUICE, "-j", "policy", "check", *args], capture_output=True,
                           text=True, timeout=30, cwd=tmp_path)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        out = json_only(p)
        assert (out["valid"], out["rules"], out["files"]) == (True, 2, [f]), out
    # a dir given twice is two policies, as documented: the summary adds up
    os.unlink(tmp_path / "link.yaml")
    p = run("-j", "policy", "check", str(tmp_path), str(tmp_path))
    assert p.returncode == 0 and json_only(p)["rules"] == 4, p.stdout


def test_check_duplicate_rule_across_files(tmp_path):
    d = tmp_path / "policies"
    d.mkdir()
    write(d / "10-fw.yaml", VALID)
    write(d / "20-more.yaml", "sets:\n  blocklist:\n    prefixes: [192.0.2.0/24]\n")
    p = run("policy", "check", str(d))
    assert p.returncode == 2
    assert p.stdout == ""
    assert "20-more.yaml" in p.stderr and "10-fw.yaml" in p.stderr, p.stderr


# ---------------------------------------------------------------- usage

@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["pol", "check", "x.yaml"],          # no prefix matching
    ["policy"],                          # missing verb
    ["policy", "chec", "x.yaml"],        # no prefix matching of verbs
    ["policy", "check"],                 # missing FILE
    ["policy", "check", "--frob", "x"],  # unknown option
    ["status", "extra"],
    ["status", "-j"],                    # global options only before OBJECT
    ["rule"],
    ["rule", "lis"],
    ["--socket"],                        # option without its value
    ["--frob", "status"],
    ["help", "frobnicate"],
])
def test_bad_usage(args):
    p = run(*args)
    assert p.returncode == 2, (args, p.stdout, p.stderr)
    line = one_error_line(p)
    assert line.startswith("sluice: ")
    p = run("-j", *args)
    assert p.returncode == 2
    out = json_only(p)
    assert list(out) == ["error"] and out["error"], out


def test_help_is_the_synopsis():
    p = run("help")
    assert p.returncode == 0
    for synopsis in ["sluice policy check FILE|DIR...", "sluice rule list", "sluice status",
                     "sluice stats", "sluice teardown [--force]"]:
        assert "  " + synopsis + "\n" in p.stdout
    assert p.stderr == ""
    p = run("policy", "help")
    assert p.returncode == 0
    assert "sluice policy check FILE|DIR..." in p.stdout
    assert "sluice rule list" not in p.stdout
    p = run("-j", "rule", "help")
    assert p.returncode == 0
    assert "sluice rule list" in json_only(p)["usage"]


# ---------------------------------------------------------------- agent not reachable

@pytest.mark.parametrize("cmd", [["status"], ["rule", "list"], ["stats"]])
def test_agent_not_reachable(tmp_path, cmd):
    sock = str(tmp_path / "none.sock")
    p = run("--socket", sock, *cmd)
    assert p.returncode == 1
    line = one_error_line(p)
    assert line == f"sluice: cannot reach sluiced at {sock}: No such file or directory"
    p = run("-j", f"--socket={sock}", *cmd)
    assert p.returncode == 1
    assert p.stderr == ""
    assert json_only(p) == {
        "error": f"cannot reach sluiced at {sock}: No such file or directory"}


def test_agent_socket_without_listener(tmp_path):
    sock = str(tmp_path / "dead.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock)
    s.close()  # the file stays, nobody listens: an agent that died
    p = run("--socket", sock, "status")
    assert p.returncode == 1
    assert "Connection refused" in one_error_line(p)


# ---------------------------------------------------------------- protocol client

RULES = {
    "rules": [
        {"index": 0, "name": "ssh", "action": "allow", "src": ["203.0.113.0/24"],
         "dst": ["192.0.2.1/32"], "proto": ["tcp"], "sport": [],
         "dport": ["22", "8000-8080"], "packets": 10, "bytes": 840},
        {"index": 1, "name": "drop-bad", "action": "deny", "src": ["@blocklist"],
         "dst": [], "proto": [], "sport": [], "dport": [],
         "packets": 18446744073709551615, "bytes": 0},
    ],
    "default": {"action": "deny", "packets": 3, "bytes": 180},
}

STATUS = {
    "agent": {"pid": 4242, "version": "0.1.0", "policy_dir": "/etc/sluice/policies",
              "state_dir": "/sys/fs/bpf/sluice", "socket": "/run/sluice/sluiced.sock",
              "started": 0},
    "generation": 3,
    "policy": {"files": ["/etc/sluice/policies/10-fw.yaml"], "rules": 2, "default": "deny",
               "interfaces": ["veth*"]},
    "interfaces": [{"name": "veth0", "ifindex": 5, "hook": "xdp", "hook_from": "auto",
                    "mode": "native", "attach": "bpf_link", "prog_id": 42}],
    "maps": [{"name": "fw_cls", "used": 12, "capacity": 32768}],
}

STATS = {"hooks": {"xdp": {
    "verdicts": {"pass": {"packets": 1, "bytes": 60}, "drop": {"packets": 2, "bytes": 120},
                 "pass-non-ip": {"packets": 0, "bytes": 0}},
    "drops": {"policy-rule": {"packets": 1, "bytes": 60},
              "policy-default": {"packets": 1, "bytes": 60}}}}}


@pytest.fixture
def peer(tmp_path):
    peers = []

    def start(*replies):
        p = Peer(str(tmp_path / f"peer{len(peers)}.sock"), replies)
        peers.append(p)
        return p
    yield start
    for p in peers:
        p.close()


@pytest.mark.parametrize("cmd,wire,data", [
    (["rule", "list"], "rule-list", RULES),
    (["status"], "status", STATUS),
    (["stats"], "stats", STATS),
])
def test_json_is_the_agents_data(peer, cmd, wire, data):
    a = peer(ok(data))
    p = run("-j", "--socket", a.path, *cmd)
    assert p.returncode == 0, p.stderr
    assert json_only(p) == data
    assert a.requests == [{"cmd": wire}]


def test_rule_list_text(peer):
    a = peer(ok(RULES))
    p = run("--socket", a.path, "rule", "list")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].split() == ["#", "NAME", "ACTION", "SRC", "DST", "PROTO", "SPORT",
                                "DPORT", "PACKETS", "BYTES"]
    assert lines[1].split() == ["0", "ssh", "allow", "203.0.113.0/24", "192.0.2.1/32", "tcp",
                                "any", "22,8000-8080", "10", "840"]
    assert lines[2].split() == ["1", "drop-bad", "deny", "@blocklist", "any", "any", "any",
                                "any", "18446744073709551615", "0"]
    # the default action is the last line
    assert lines[3].split()[:3] == ["*", "(default)", "deny"]
    assert lines[3].split()[-2:] == ["3", "180"]
    # aligned: every column starts at the same offset on every line
    starts = [lines[0].index("ACTION")] * 3
    assert [ln.index(w) for ln, w in zip(lines[1:], ["allow", "deny", "deny"])] == starts


def test_status_text(peer):
    a = peer(ok(STATUS))
    p = run("--socket", a.path, "status")
    assert p.returncode == 0, p.stderr
    assert re.search(r"^generation +3$", p.stdout, re.M)
    assert re.search(r"^started +1970-01-01 00:00:00 UTC$", p.stdout, re.M)
    assert re.search(r"^veth0 +5 +xdp +auto +native +bpf_link +42$", p.stdout, re.M)
    assert re.search(r"^fw_cls +12 +32768 +0\.0%$", p.stdout, re.M)


def test_stats_text(peer):
    a = peer(ok(STATS))
    p = run("--socket", a.path, "stats")
    assert p.returncode == 0, p.stderr
    for name, packets, nbytes in [("pass", 1, 60), ("drop", 2, 120), ("pass-non-ip", 0, 0),
                                  ("policy-rule", 1, 60), ("policy-default", 1, 60)]:
        assert re.search(rf"^  {re.escape(name)} +{packets} +{nbytes}$", p.stdout, re.M), name


def test_agent_error_answer(peer):
    a = peer(b'{"ok": false, "error": "no firewall policy in force"}\n',
             b'{"ok": false, "error": "no firewall policy in force"}\n')
    p = run("--socket", a.path, "rule", "list")
    assert p.returncode == 1
    assert one_error_line(p) == "sluice: no firewall policy in force"
    p = run("-j", "--socket", a.path, "rule", "list")
    assert p.returncode == 1
    assert json_only(p) == {"error": "no firewall policy in force"}


@pytest.mark.parametrize("reply", [b"garbage\n", b"[1, 2]\n", b'{"data": {}}\n', None])
def test_bad_answers_fail(peer, reply):
    a = peer(reply)
    p = run("--socket", a.path, "status")
    assert p.returncode == 1
    assert a.path in one_error_line(p)


def test_teardown_through_agent(peer):
    a = peer(ok({"removed": ["veth0", "veth1"]}), ok({"removed": ["veth0"]}))
    p = run("--socket", a.path, "teardown")
    assert p.returncode == 0, p.stderr
    assert "veth0,veth1" in p.stdout
    p = run("-j", "--socket", a.path, "teardown")
    assert json_only(p) == {"removed": ["veth0"]}
    assert a.requests == [{"cmd": "teardown"}] * 2


# ---------------------------------------------------------------- offline teardown

def test_teardown_nothing_there(tmp_path):
    sock, state = str(tmp_path / "none.sock"), str(tmp_path / "state")
    p = run("--socket", sock, "--state-dir", state, "teardown")
    assert p.returncode == 0, p.stderr
    assert "nothing to tear down" in p.stdout
    p = run("-j", "--socket", sock, "--state-dir", state, "teardown")
    assert p.returncode == 0
    assert json_only(p) == {"agent": False, "state_dir": state, "removed": [], "pins": []}


def test_teardown_refuses_a_dir_not_on_bpffs(tmp_path):
    # a wrong --state-dir must never delete anybody's files
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    p = run("--socket", str(tmp_path / "none.sock"), "--state-dir", str(tmp_path), "teardown")
    assert p.returncode == 2
    assert "bpf" in one_error_line(p)
    assert victim.read_text() == "keep me"


def test_teardown_refuses_the_root_of_a_bpffs(tmp_path):
    # a private bpffs instance: whatever happens, no other tool's pins are at stake
    mnt = tmp_path / "bpffs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "bpf", "sld-bpffs", str(mnt)], check=True)
    try:
        pin = str(mnt / "sld_keep")
        subprocess.run(["bpftool", "map", "create", pin, "type", "array", "key", "4",
                        "value", "4", "entries", "1", "name", "sld_keep"], check=True)
        p = run("--socket", str(tmp_path / "none.sock"), "--state-dir", str(mnt), "teardown")
        assert p.returncode == 2
        assert "root of a bpf filesystem" in one_error_line(p)
        assert os.path.exists(pin)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def bpffs():
    if subprocess.run(["stat", "-f", "-c", "%T", "/sys/fs/bpf"], capture_output=True,
                      text=True).stdout.strip() != "bpf_fs":
        subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], check=True)
    return "/sys/fs/bpf"


def test_teardown_removes_pins(tmp_path):
    state = os.path.join(bpffs(), f"sld-{os.getpid()}")
    try:
        os.makedirs(os.path.join(state, "maps"), mode=0o700)
        os.makedirs(os.path.join(state, "links", "empty"), mode=0o700)
        pins = [os.path.join(state, "maps", n) for n in ("sld_a", "sld_b")]
        for pin in pins:
            subprocess.run(["bpftool", "map", "create", pin, "type", "array", "key", "4",
                            "value", "4", "entries", "1", "name",
                            os.path.basename(pin)], check=True)
        p = run("-j", "--socket", str(tmp_path / "none.sock"), "--state-dir", state,
                "teardown")
        assert p.returncode == 0, p.stderr
        out = json_only(p)
        assert out["agent"] is False and out["removed"] == []
        assert sorted(out["pins"]) == sorted(pins)
        assert not os.path.exists(state)
        # a second run finds nothing
        p = run("--socket", str(tmp_path / "none.sock"), "--state-dir", state, "teardown")
        assert p.returncode == 0 and "nothing to tear down" in p.stdout
    finally:
        if os.path.exists(state):
            for root, dirs, files in os.walk(state, topdown=False):
                for f in files:
                    os.unlink(os.path.join(root, f))
                for d in dirs:
                    os.rmdir(os.path.join(root, d))
            os.rmdir(state)


# ---------------------------------------------------------------- with a real agent
# (the shared `env` fixture of conftest.py: namespaces, veth, sluiced)

ENV_RULES = [
    dict(name="deny-5001", action="deny", proto="udp", dport=["5001"]),
    dict(name="allow-ssh", action="allow", src=["203.0.113.0/24"], proto="tcp",
         dport=["22", "8000-8080"]),
]


def test_text_views_show_what_json_says(env):
    agent = env.start(default="deny", rules=ENV_RULES)
    data = agent.cli("rule", "list")
    p = agent.cli_raw("rule", "list", json_out=False)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1 + len(data["rules"]) + 1
    for line, rule in zip(lines[1:], data["rules"]):
        f = line.split()
        assert f[:3] == [str(rule["index"]), rule["name"], rule["action"]]
        assert f[-2:] == [str(rule["packets"]), str(rule["bytes"])]
    assert [ln.split()[1] for ln in lines[1:-1]] == ["deny-5001", "allow-ssh"]
    assert lines[-1].split()[:3] == ["*", "(default)", "deny"]

    st = agent.status()
    p = agent.cli_raw("status", json_out=False)
    assert p.returncode == 0, p.stderr
    assert re.search(r"^generation +%d$" % st["generation"], p.stdout, re.M)
    for i in st["interfaces"]:
        assert re.search(r"^%s +%d +%s +%s +%s +bpf_link +%d$" %
                         (re.escape(i["name"]), i["ifindex"], i["hook"],
                          i.get("hook_from", "-"), i["mode"], i["prog_id"]),
                         p.stdout, re.M), p.stdout

    stats = agent.stats()["hooks"]["xdp"]
    p = agent.cli_raw("stats", json_out=False)
    assert p.returncode == 0, p.stderr
    for group in ("verdicts", "drops"):
        for name in stats[group]:
            assert re.search(r"^  %s +\d+ +\d+$" % re.escape(name), p.stdout, re.M), name


def test_teardown_after_sigkill_detaches(env):
    from lib.agent import pins_under
    from lib.netns import xdp_prog_id

    t = env.topo
    agent = env.start(default="deny", rules=ENV_RULES)
    assert xdp_prog_id(t.fw, t.fdev) is not None
    assert agent.stop(signal.SIGKILL) == -signal.SIGKILL
    # the agent is gone, the firewall stays: its pinned links hold it
    assert xdp_prog_id(t.fw, t.fdev) is not None
    pins = pins_under(agent.state_dir)
    assert pins

    p = agent.cli_raw("teardown")
    assert p.returncode == 0, p.stdout + p.stderr
    out = json_only(p)
    assert out["agent"] is False and out["state_dir"] == agent.state_dir
    assert t.fdev in out["removed"]
    assert sorted(out["pins"]) == sorted(pins)
    assert pins_under(agent.state_dir) == [] and not os.path.exists(agent.state_dir)
    # the kernel releases an unpinned link from a work queue: allow it a moment
    deadline = time.monotonic() + 2
    while xdp_prog_id(t.fw, t.fdev) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert xdp_prog_id(t.fw, t.fdev) is None


def test_teardown_from_another_namespace_names_ifindex(env):
    """Run from the host namespace, the CLI cannot name the agent's
    interfaces: an ifindex means nothing here, so it says "ifindex N"."""
    from lib.netns import link_info, run, xdp_prog_id

    t = env.topo
    agent = env.start(default="deny", rules=ENV_RULES)
    ifindex = link_info(t.fw, t.fdev)["ifindex"]
    assert agent.stop(signal.SIGKILL) == -signal.SIGKILL
    p = run([agent.sluice, "-j", "--socket", agent.socket, "--state-dir",
             agent.state_dir, "teardown"], check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    out = json_only(p)
    assert out["removed"] == ["ifindex %d" % ifindex], out
    deadline = time.monotonic() + 2
    while xdp_prog_id(t.fw, t.fdev) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert xdp_prog_id(t.fw, t.fdev) is None


@pytest.mark.parametrize("args,what", [
    (["--proto", "tcpp"], "tcpp"),
    (["--proto"], "--proto"),
    (["--src", "192.0.2.300"], "192.0.2.300"),
    (["--dst", "198.51.100.1/33"], "198.51.100.1/33"),
    (["--port", "70000"], "70000"),
    (["--sport", "-1"], "-1"),
    (["--dport=http"], "http"),
    (["--state", "established"], "--state"),
    (["-j"], "goes before OBJECT"),
])
def test_ct_list_bad_filters_exit_2_without_agent(tmp_path, args, what):
    # checked before the agent is asked: no socket exists at all
    sock = str(tmp_path / "none.sock")
    p = run("--socket", sock, "ct", "list", *args)
    assert p.returncode == 2, p
    assert what in one_error_line(p)
    p = run("-j", "--socket", sock, "ct", "list", *args)
    assert p.returncode == 2 and what in json_only(p)["error"], p


def test_ct_verbs_need_an_agent(tmp_path):
    sock = str(tmp_path / "none.sock")
    for verb in ("list", "flush", "stats"):
        p = run("--socket", sock, "ct", verb)
        assert p.returncode == 1, p
        assert "cannot reach sluiced" in one_error_line(p)
    p = run("ct", "flush", "now")
    assert p.returncode == 2 and "unexpected argument 'now'" in one_error_line(p)
    p = run("ct", "lsit")
    assert p.returncode == 2 and "unknown command 'ct lsit'" in one_error_line(p)


@pytest.mark.parametrize("addr", ["127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:0",
                                  "[::1]:-1", "127.0.0.1:", "bogus"])
def test_sluiced_metrics_port_out_of_range_refused(addr, tmp_path):
    """--metrics with a port outside 1..65535 (getaddrinfo took 99999 as
    34463 and 65536 as a random port) or no numeric ADDR:PORT: a usage
    error before anything is loaded (exit 2, one line), where it used to
    listen elsewhere, or fail only after applying the policy."""
    assert_metrics_usage_error(addr, tmp_path)


@pytest.mark.parametrize("addr", ["1.2.3:9464", "127.1:9464", "0x7f.0.0.1:9464",
                                  "01.2.3.4:9464", "1.2.3.4.5:9464", "[127.0.0.1]:9464",
                                  "[]:9464", "[::1:9464"])
def test_sluiced_metrics_address_not_inet_pton_refused(addr, tmp_path):
    """--metrics with an IPv4 address in a form inet_pton does not read
    (getaddrinfo's inet_aton took 1.2.3 as 1.2.0.3 and listened there), an
    IPv4 address in brackets, or brackets without an address: a usage error."""
    assert_metrics_usage_error(addr, tmp_path)


def assert_metrics_usage_error(addr, tmp_path):
    sluiced = os.path.join(BUILD, "san", "sluiced")
    p = subprocess.run([sluiced, "--metrics", addr, "--policy-dir", str(tmp_path),
                        "--state-dir", str(tmp_path / "state"), "--socket",
                        str(tmp_path / "s.sock"), "--foreground"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "--metrics '%s': not a numeric ADDR:PORT (port 1 to 65535)" % addr in \
        one_error_line(p)
    assert not os.path.exists(tmp_path / "s.sock")
