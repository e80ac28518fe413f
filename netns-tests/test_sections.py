# SPDX-License-Identifier: GPL-2.0-only
"""Firewall sections (`firewall:` as a list) as the CLI and the agent show them.

`policy check` offline: one line per section, the JSON "sections" list, and
the section errors with FILE:LINE:COL. `rule list` text: a SECTION column
when the rules come from several sections (against a scripted peer that
answers as docs/control.md says). A real agent: every rule and the default
carry their section's name, `status` lists the sections.
"""
import json
import os
import re

from lib.agent import binaries
from lib.peer import Peer, ok

SLUICE = binaries()[1]
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ERR_RE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")

SECTIONS = """\
sets:
  bad: { prefixes: [198.51.100.0/24] }
firewall:
  - name: public
    interfaces: [eth0]
    default: deny
    rules:
      - { name: drop-bad, action: deny, src: ["@bad"] }
      - { name: ssh, action: allow, proto: tcp, dport: 22 }
  - interfaces: ["eth*", "veth*"]
    stateful: false
    rules:
      - { name: no-telnet, action: deny, proto: tcp, dport: 23 }
"""


def run(*args, timeout=30):
    import subprocess
    return subprocess.run([SLUICE, *args], capture_output=True, text=True, timeout=timeout)


def write(path, text):
    path.write_text(text)
    return str(path)


def col_of(text, line, token):
    return text.splitlines()[line - 1].index(token) + 1


def test_check_shows_each_section(tmp_path):
    f = write(tmp_path / "p.yaml", SECTIONS)
    p = run("policy", "check", f)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "section public (eth0): 2 rules, default deny, stateful",
        "section fw1 (eth*, veth*): 1 rules, default allow, stateless",
        "ok: 3 rules in 2 sections, 1 sets, 1 prefixes",
    ]
    p = run("-j", "policy", "check", f)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["valid"] is True and out["rules"] == 3
    assert out["sections"] == [
        {"name": "public", "interfaces": ["eth0"], "default": "deny", "stateful": True,
         "rules": 2, "early": 0},
        {"name": "fw1", "interfaces": ["eth*", "veth*"], "default": "allow",
         "stateful": False, "rules": 1, "early": 0},
    ]


def test_check_one_section_reads_as_before(tmp_path):
    f = write(tmp_path / "p.yaml", "firewall:\n  interfaces: [eth0]\n  default: deny\n")
    p = run("policy", "check", f)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "ok: 0 rules, 0 sets, 0 prefixes\n"
    out = json.loads(run("-j", "policy", "check", f).stdout)
    assert [s["name"] for s in out["sections"]] == ["fw0"]


def test_example_policy_checks():
    p = run("policy", "check", os.path.join(ROOT, "policies", "10-sets.yaml"),
            os.path.join(ROOT, "policies", "examples", "sections.yaml"))
    assert p.returncode == 0, p.stderr
    assert [ln.split()[1] for ln in p.stdout.splitlines()[:-1]] == \
        ["public", "internal", "containers"]


def test_check_section_errors_point_at_the_pattern(tmp_path):
    text = SECTIONS.replace('["eth*", "veth*"]', '["eth*", eth0, "veth1?"]') + \
        "  - name: all-veth\n    interfaces: [\"veth*\"]\n" \
        "  - name: late\n    interfaces: [\"veth1*\"]\n"
    f = write(tmp_path / "p.yaml", text)
    p = run("policy", "check", f)
    assert p.returncode == 2
    assert p.stdout == ""
    errs = [ERR_RE.match(ln) for ln in p.stderr.splitlines()]
    assert all(errs), p.stderr
    got = [(int(m["line"]), int(m["col"]), m["msg"]) for m in errs]
    eth0 = (10, col_of(text, 10, "eth0"))
    assert got[0][:2] == eth0, p.stderr
    assert 'interface "eth0" is in section "fw1" and in section "public"' in got[0][2]
    assert "%s:5:%d" % (f, col_of(text, 5, "eth0")) in got[0][2]
    # "veth1?" comes before "veth*": fine; "veth1*" after it never applies
    late = (len(text.splitlines()), col_of(text, len(text.splitlines()), '"veth1*"'))
    assert got[1][:2] == late, p.stderr
    assert 'pattern "veth1*" of section "late" never applies' in got[1][2]
    assert len(got) == 2, p.stderr
    out = json.loads(run("-j", "policy", "check", f).stdout)
    assert out["valid"] is False and len(out["errors"]) == 2


def rule(index, section, name, action, packets):
    return {"index": index, "section": section, "name": name, "action": action, "src": [],
            "dst": [], "proto": ["tcp"], "sport": [], "dport": ["22"], "packets": packets,
            "bytes": packets * 60}


def test_rule_list_section_column(tmp_path):
    two = {"rules": [rule(0, "public", "ssh", "allow", 5), rule(0, "lab", "lab-ssh", "deny", 7)],
           "default": {"section": "public", "action": "deny", "packets": 1, "bytes": 60}}
    one = {"rules": [rule(0, "fw0", "ssh", "allow", 5)],
           "default": {"section": "fw0", "action": "deny", "packets": 1, "bytes": 60}}
    peer = Peer(str(tmp_path / "s.sock"), [ok(two), ok(one)])
    try:
        p = run("--socket", peer.path, "rule", "list")
        assert p.returncode == 0, p.stderr
        lines = [ln.split() for ln in p.stdout.splitlines()]
        assert lines[0][:4] == ["#", "SECTION", "NAME", "ACTION"]
        assert lines[1][:4] == ["0", "public", "ssh", "allow"]
        assert lines[2][:4] == ["0", "lab", "lab-ssh", "deny"]
        assert lines[3][:4] == ["*", "public", "(default)", "deny"]
        # one section: the table reads as it always did
        p = run("--socket", peer.path, "rule", "list")
        assert p.returncode == 0, p.stderr
        lines = [ln.split() for ln in p.stdout.splitlines()]
        assert lines[0][:3] == ["#", "NAME", "ACTION"]
        assert lines[2][:3] == ["*", "(default)", "deny"]
    finally:
        peer.close()


def test_agent_names_the_section(env):
    agent = env.start(default="deny", rules=[
        dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])])
    data = agent.cli("rule", "list")
    assert [(r["section"], r["name"]) for r in data["rules"]] == [("fw0", "deny-5001")]
    assert data["default"]["section"] == "fw0"
    pol = agent.status()["policy"]
    assert pol["sections"] == [{"name": "fw0", "interfaces": [env.topo.glob],
                                "default": "deny", "stateful": False, "rules": 1}]
    # the list form with one named section is the same firewall under its name
    gen = agent.status()["generation"]
    agent.write_policy("10-test.yaml",
                       "firewall:\n  - name: edge\n    interfaces: [\"%s\"]\n"
                       "    default: deny\n    stateful: false\n    rules:\n"
                       "      - { name: deny-5001, action: deny, proto: udp, dport: 5001 }\n"
                       % env.topo.glob)
    agent.wait_generation(gen + 1)
    data = agent.cli("rule", "list")
    assert [(r["section"], r["name"]) for r in data["rules"]] == [("edge", "deny-5001")]
    assert data["default"] == dict(data["default"], section="edge", action="deny")


def _sections_yaml(dev_a, dev_b):
    """Section a on DEV_A denies UDP 5001, section b on DEV_B denies UDP 5000."""
    return ("firewall:\n"
            "  - name: a\n    interfaces: [%s]\n    stateful: false\n    rules:\n"
            "      - { name: a-deny-5001, action: deny, proto: udp, dport: 5001 }\n"
            "  - name: b\n    interfaces: [%s]\n    stateful: false\n    rules:\n"
            "      - { name: b-deny-5000, action: deny, proto: udp, dport: 5000 }\n"
            % (dev_a, dev_b))


def _pinned(agent, name):
    import subprocess
    p = subprocess.run(["bpftool", "-j", "map", "dump", "pinned",
                        os.path.join(agent.state_dir, "maps", name)],
                       capture_output=True, text=True, check=True)
    # maps of maps have no "formatted": read the little-endian u32 bytes
    def u32(b):
        return int.from_bytes(bytes(int(x, 16) for x in b[:4]), "little")
    return {u32(e["key"]): u32(e["value"]) for e in json.loads(p.stdout)}


def test_agent_runs_each_section_on_its_interfaces(env):
    """Two sections, two interfaces: each interface runs its own section's
    tables (its own policy slot in sl_ifslot); swapping the sections'
    interfaces by a reload swaps the verdicts, and the slots left are freed."""
    from lib.traffic import exchange
    t = env.topo
    cdev2, fdev2 = t.pfx + "c1", t.pfx + "f1"
    t.add_veth(cdev2, fdev2, ["198.51.100.1/24"], ["198.51.100.2/24"])
    agent = env.start()
    gen = agent.status()["generation"]
    agent.write_policy("10-test.yaml", _sections_yaml(t.fdev, fdev2))
    agent.wait_generation(gen + 1)

    def probe():
        one = exchange(t, [dict(tag="5000", src=t.c4, dst=t.f4, dport=5000, count=3),
                           dict(tag="5001", src=t.c4, dst=t.f4, dport=5001, count=3)])
        two = exchange(t, [dict(tag="5000", src="198.51.100.1", dst="198.51.100.2",
                                dport=5000, count=3),
                           dict(tag="5001", src="198.51.100.1", dst="198.51.100.2",
                                dport=5001, count=3)], cdev=cdev2, fdev=fdev2)
        return one, two

    assert probe() == ({"5000": 3, "5001": 0}, {"5000": 0, "5001": 3})
    # each section's rules have their own counters (fw_rule_cnt_v2, by counter id)
    counted = {(r["section"], r["name"]): r["packets"] for r in agent.cli("rule", "list")["rules"]}
    assert counted == {("a", "a-deny-5001"): 3, ("b", "b-deny-5000"): 3}, counted
    # the sections say no hook: auto, tcx ingress on these veths (moved from
    # env.start's XDP by the reload)
    att = {i["name"]: i for i in agent.status()["interfaces"] if i["hook"] in ("xdp", "tc")}
    assert set(att) == {t.fdev, fdev2}
    assert {i["hook"] for i in att.values()} == {"tc"}, att
    slots = _pinned(agent, "sl_ifslot_v2")
    assert slots[att[t.fdev]["ifindex"]] != slots[att[fdev2]["ifindex"]], slots
    assert len(_pinned(agent, "fwp_cfg")) == 2, "one slot per section"

    agent.write_policy("10-test.yaml", _sections_yaml(fdev2, t.fdev))
    agent.wait_generation(gen + 2)
    assert probe() == ({"5000": 0, "5001": 3}, {"5000": 3, "5001": 0})
    # the two slots of the previous generation are freed, the new two in use
    assert len(_pinned(agent, "fwp_cfg")) == 2
    assert set(_pinned(agent, "sl_ifslot_v2").values()) == set(_pinned(agent, "fwp_cfg"))
