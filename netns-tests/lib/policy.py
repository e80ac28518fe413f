# SPDX-License-Identifier: GPL-2.0-only
"""Policy files written by the tests."""


def policy_yaml(topo, rules=(), default="allow", sets=None, interfaces=None):
    """A stateless firewall policy for the fw interfaces of TOPO.

    RULES are dicts in the YAML shape of SPEC.md; SETS maps name -> dict.
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
              "  stateful: false"]
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
