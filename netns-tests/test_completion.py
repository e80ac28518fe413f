# SPDX-License-Identifier: GPL-2.0-only
"""The bash completion (`sluice completion bash`), driven as readline drives
it: objects, verbs and options as the CLI's tables have them (read back with
`sluice __grammar`, the tables that also parse), option values, lists,
--opt=value, files; and names from the running agent: rules, rules the CLI
added, sets, sections, blocked prefixes."""
import json
import os
import subprocess

from lib.agent import binaries
from lib.completion import complete, complete_p, grammar

SLUICE = binaries()[1]


def script():
    return subprocess.run([SLUICE, "completion", "bash"], capture_output=True, text=True,
                          check=True).stdout


def test_registered_for_sluice():
    assert complete_p(script()) == "complete -F _sluice sluice"
    # -j keeps stdout JSON
    j = subprocess.run([SLUICE, "-j", "completion", "bash"], capture_output=True, text=True,
                       check=True).stdout
    assert json.loads(j) == {"script": script()}


def test_objects_verbs_options_are_the_tables():
    g = grammar(SLUICE)
    cases = {"sluice ": {"help"} | {o["name"] for o in g["objects"]},
             "sluice -": {x for o in g["globals"] for x in (o["alias"], o["name"]) if x},
             "sluice help r": {"rule"}}
    for o in g["objects"]:
        verbs = [c["verb"] for c in o["commands"] if c["verb"]]
        if verbs:
            cases["sluice %s " % o["name"]] = {"help"} | set(verbs)
        for c in o["commands"]:
            line = "sluice %s%s --" % (o["name"], " " + c["verb"] if c["verb"] else "")
            cases[line] = {x["name"] for x in c["options"]}
            for x in c["options"]:
                if x["words"]:
                    cases[line[:-2] + x["name"] + " "] = set(x["words"].split())
    got = complete(list(cases), script=script())
    for line, want in cases.items():
        assert set(got[line]) == want, (line, got[line])
    # the tables are not empty: the checks above compared something
    assert {"--before", "--section", "--src"} <= cases["sluice rule add --"]
    assert "icmpv6" in cases["sluice ct list --proto "]


def test_values_lists_equals_and_files(tmp_path):
    (tmp_path / "pol").mkdir()
    (tmp_path / "pol.yaml").write_text("x")
    d = str(tmp_path)
    got = complete(["sluice rule add x --proto tcp,u",
                    "sluice rule add x --action=d",
                    "sluice ct list --proto=icmp",
                    "sluice --socket %s/po" % d,
                    "sluice --state-dir %s/po" % d,
                    "sluice policy check %s/po" % d,
                    "sluice policy check -- %s/pol.y" % d,
                    "sluice policy diff %s/po" % d,
                    "sluice rule add x --dport 1,",
                    "sluice status ",
                    "sluice rule list --"], script=script())
    assert got["sluice rule add x --proto tcp,u"] == ["tcp,udp"]
    assert got["sluice rule add x --action=d"] == ["deny"]
    assert sorted(got["sluice ct list --proto=icmp"]) == ["icmp", "icmpv6"]
    assert sorted(got["sluice --socket %s/po" % d]) == [d + "/pol", d + "/pol.yaml"]
    assert got["sluice --state-dir %s/po" % d] == [d + "/pol"]        # dirs only
    assert sorted(got["sluice policy check %s/po" % d]) == [d + "/pol", d + "/pol.yaml"]
    assert got["sluice policy check -- %s/pol.y" % d] == [d + "/pol.yaml"]
    assert got["sluice policy diff %s/po" % d] == [d + "/pol"]
    assert got["sluice rule add x --dport 1,"] == []                     # a number: nothing
    assert got["sluice status "] == []
    assert got["sluice rule list --"] == []


def test_names_from_the_agent(env):
    agent = env.agent
    agent.write_file("05-sets.yaml", "sets:\n  admins:\n    prefixes: [203.0.113.0/24]\n"
                     "  bad-hosts:\n    prefixes: [198.51.100.0/24]\n")
    env.start(rules=[dict(name="hand-ssh", action="allow", proto="tcp", dport=["22"],
                          src=["@admins"])])
    agent.cli("block", "add", "2001:db8:bad::/48", "192.0.2.77")
    agent.cli("rule", "add", "cli-x", "--action", "deny", "--proto", "udp", "--dport", "7")
    show = agent.cli("policy", "show")
    sections = [s["name"] for s in show["sections"]]
    s = "sluice --socket %s " % agent.socket
    got = complete([s + "rule del ",
                    s + "rule add y --action deny --before ",
                    s + "rule add y --src @",
                    s + "rule add y --src 192.0.2.0/24,@a",
                    s + "ct list --dst @b",
                    s + "rule add y --section ",
                    s + "block del ",
                    s + "block del 2001:db8:b",
                    "sluice --socket %s/none.sock rule del " % agent.workdir],
                   script=script(), env=dict(os.environ, PATH=os.path.dirname(SLUICE) + ":" +
                                             os.environ["PATH"]))
    assert got[s + "rule del "] == ["cli-x"]                  # only what the CLI added
    assert sorted(got[s + "rule add y --action deny --before "]) == ["cli-x", "hand-ssh"]
    assert sorted(got[s + "rule add y --src @"]) == ["@admins", "@bad-hosts"]
    assert got[s + "rule add y --src 192.0.2.0/24,@a"] == ["192.0.2.0/24,@admins"]
    assert got[s + "ct list --dst @b"] == ["@bad-hosts"]
    assert got[s + "rule add y --section "] == sections and sections
    assert sorted(got[s + "block del "]) == ["192.0.2.77/32", "2001:db8:bad::/48"]
    # readline replaces only the word after the last ':'
    assert got[s + "block del 2001:db8:b"] == ["bad::/48"]
    # no agent at that socket: nothing offered, nothing printed
    assert got["sluice --socket %s/none.sock rule del " % agent.workdir] == []
