# SPDX-License-Identifier: GPL-2.0-only
"""Real cgroups v2 for the egress tests, and processes run inside them.

Cgroups are made under the unified hierarchy with the test's unique prefix
and removed (deepest first) when the test ends, failed or not. A process
joins a cgroup the way a container runtime puts one there: by writing its
pid into cgroup.procs (egprobe.py does it for itself before any socket).
"""
import json
import os
import time

from .agent import build_dir
from .netns import PYTHON, LineProc, run

CGROUP2 = "/sys/fs/cgroup/unified"
HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "egprobe.py")
# egcall.c, built by `make test-bins`: egprobe's "egcall" calls run it
EGCALL = os.path.join(build_dir(), "netns-tests", "egcall")


def cgroup2_root():
    """The cgroup2 mount to work under: the hybrid layout's, else /sys/fs/cgroup."""
    for p in (CGROUP2, "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(p, "cgroup.procs")) and \
                os.path.exists(os.path.join(p, "cgroup.controllers")):
            return p
    raise RuntimeError("no cgroup v2 hierarchy mounted")


class Cgroups:
    """Cgroups named PFX-... under the cgroup2 root; .path(name) is where one
    lives, .make(name) creates it; all are removed by .cleanup()."""

    def __init__(self, pfx):
        self.root = cgroup2_root()
        self.pfx = pfx
        self.made = []

    def path(self, name):
        return os.path.join(self.root, "%s-%s" % (self.pfx, name))

    def make(self, name):
        p = self.path(name)
        os.mkdir(p)
        self.made.append(p)
        return p

    def remove(self, p, timeout=5.0):
        """rmdir P once the processes the test put there have exited."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.rmdir(p)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def cleanup(self):
        errors = []
        for p in sorted(self.made, key=len, reverse=True):
            try:
                self.remove(p)
            except OSError as e:
                errors.append("%s: %s" % (p, e))
        self.made = []
        if errors:
            raise RuntimeError("; ".join(errors))


def probe(ns, cgroup, calls, timeout=60):
    """Run egprobe.py in namespace NS inside CGROUP ("-": where the test runs) and
    return its results, one dict per call."""
    p = run([PYTHON, PROBE, cgroup or "-", json.dumps(calls)], ns=ns, timeout=timeout)
    return json.loads(p.stdout.strip().splitlines()[-1])


def probe_proc(ns, cgroup, calls):
    """egprobe.py started as probe() starts it, left running: a LineProc whose
    .line() is what a "pause" call says, .say("go") ends the pause and answers
    the next one's line, or, after the last call, the results (one JSON list)."""
    return LineProc(ns, [PYTHON, PROBE, cgroup or "-", json.dumps(calls)])


def results(ns, cgroup, calls):
    """probe(), reduced to the "result" of each call."""
    return [r["result"] for r in probe(ns, cgroup, calls)]


def egress_yaml(entries, sets=None):
    """An `egress:` policy file: ENTRIES are dicts (name, cgroup, default, rules,
    backstop) in the YAML shape of SPEC.md."""
    lines = []
    if sets:
        lines.append("sets:")
        for name, prefixes in sets.items():
            lines += ["  %s:" % name, "    prefixes: [%s]" % ", ".join(prefixes)]
    lines.append("egress:")
    for e in entries:
        lines += ["  - name: %s" % e["name"], "    cgroup: %s" % e["cgroup"]]
        if "default" in e:
            lines.append("    default: %s" % e["default"])
        if e.get("rules"):
            lines.append("    rules:")
            for r in e["rules"]:
                lines.append("      - " + json.dumps(r))
        if e.get("backstop"):
            lines.append("    backstop: " + json.dumps(e["backstop"]))
    return "\n".join(lines) + "\n"
