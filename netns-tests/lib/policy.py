# SPDX-License-Identifier: GPL-2.0-only
"""Policy files written by the tests."""


def policy_yaml(topo, rules=(), default="allow", sets=None, interfaces=None, stateful=False,
                hook="xdp"):
    """A firewall policy for the fw interfaces of TOPO (stateless unless STATEFUL).

    RULES are dicts in the YAML shape of SPEC.md; SETS maps name -> dict.
    HOOK: `hook: xdp` unless told; `auto` would put the veths on tcx ingress,
    and these suites check XDP (its program on the veth, XDP_TX, generic
    mode); test_hook.py and test_hook_auto.py run the tc hook. None: no
    `hook:` key (auto, and what a release before the key reads).
    """
    lines = []
    if sets:
        lines.append("sets:")
        for name, s in sets.items():
            lines.append("  %s:" % name)
            if "prefixes" in s:
                lines.append("    prefixes: [%s]" % ", ".join(s["prefixes"]))
            if "file" in s:
                lines.append("    file: %s" % s["file"])
    ifs = interfaces or [topo.glob]
    lines += ["firewall:",
              "  interfaces: [%s]" % ", ".join('"%s"' % i for i in ifs),
              "  default: %s" % default,
              "  stateful: %s" % ("true" if stateful else "false")]
    if hook:
        lines.append("  hook: %s" % hook)
    if rules:
        lines.append("  rules:")
    for r in rules:
        lines.append("    - name: %s" % r["name"])
        lines.append("      action: %s" % r["action"])
        for key in ("src", "dst", "dport", "sport"):
            if key in r:
                lines.append("      %s: [%s]" % (key, ", ".join('"%s"' % v for v in r[key])))
        if "proto" in r:
            p = r["proto"]
            lines.append("      proto: %s" % (p if isinstance(p, str) else "[%s]" % ", ".join(p)))
    return "\n".join(lines) + "\n"


def deny_udp(port):
    """A rule list: deny UDP to PORT, named deny-PORT."""
    return [dict(name="deny-%d" % port, action="deny", proto="udp", dport=[str(port)])]


SET_SIZE = 100_000


def blocklist_text():
    """100,000 prefixes, all in documentation space (IPv4 in 192.0.2.0/24,
    198.51.100.0/24 and 203.0.113.0/24, IPv6 in 2001:db8::/32), with
    comments and blank lines the loader must skip."""
    lines = ["# test blocklist: every odd address of 203.0.113.0/24", ""]
    v = ["203.0.113.%d/32" % i for i in range(1, 256, 2)]
    v.append("# the lower half of 198.51.100.0/24")
    v.append("198.51.100.0/25")
    v.append("2001:db8:1::99/128")
    i = 0
    while len(v) - 1 < SET_SIZE:    # one line of v is a comment
        v.append("2001:db8:%x:%x::/64" % (0xA000 + (i >> 16), i & 0xFFFF))
        i += 1
    return "\n".join(lines + v) + "\n"
