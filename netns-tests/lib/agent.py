# SPDX-License-Identifier: GPL-2.0-only
"""sluiced started inside the fw namespace, and the sluice CLI talking to it.

The agent runs with --foreground, a private policy dir, socket and state dir
(/sys/fs/bpf/PREFIX), so that two test runs never share anything. Only the
PID this module started is ever signalled.
"""
import json
import os
import shutil
import signal
import subprocess
import time

from .netns import ns_cmd, run

BPFFS = "/sys/fs/bpf"


def ensure_bpffs():
    """Mount bpffs at /sys/fs/bpf when nothing is mounted there."""
    st = subprocess.run(["stat", "-f", "-c", "%T", BPFFS], capture_output=True, text=True)
    if st.stdout.strip() != "bpf_fs":
        run(["mount", "-t", "bpf", "bpf", BPFFS])


def build_dir():
    b = os.environ.get("BUILD")
    if not b:
        b = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    return os.path.abspath(b)


def binaries():
    b = build_dir()
    return os.path.join(b, "san", "sluiced"), os.path.join(b, "san", "sluice")


def pins_under(path):
    """Every file (pin) under PATH, as a list; [] when PATH does not exist."""
    found = []
    for root, _, files in os.walk(path):
        found += [os.path.join(root, f) for f in files]
    return found


class CliError(Exception):
    def __init__(self, argv, proc):
        self.proc = proc
        super().__init__("%s: exit %d\nstdout: %s\nstderr: %s" %
                         (" ".join(argv), proc.returncode, proc.stdout, proc.stderr))


class Agent:
    """One sluiced inside namespace NS.

    WORKDIR holds the policy dir, the socket and the agent's log.
    """

    def __init__(self, ns, workdir, state_dir):
        self.sluiced, self.sluice = binaries()
        self.ns = ns
        self.workdir = workdir
        self.policy_dir = os.path.join(workdir, "policies")
        self.socket = os.path.join(workdir, "s.sock")
        self.state_dir = state_dir
        self.log_path = os.path.join(workdir, "sluiced.log")
        self.proc = None
        self.logs = []
        os.makedirs(self.policy_dir, exist_ok=True)

    # --- policy files ---------------------------------------------------

    def write_policy(self, name, text):
        """Write policy file NAME atomically (rename over), as an operator's tool would."""
        path = os.path.join(self.policy_dir, name)
        tmp = os.path.join(self.policy_dir, "." + name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)
        return path

    def write_file(self, name, text):
        path = os.path.join(self.policy_dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # --- process ----------------------------------------------------------

    def start(self, wait=True, extra=(), foreground=True, wrap=(), env_add=None):
        """Start the agent (with --foreground --log-level debug unless not
        FOREGROUND). WRAP: a command the agent's argv is appended to, run
        inside the namespace (it must exec the agent, so that the PID stays
        the agent's). ENV_ADD: more environment variables."""
        argv = [self.sluiced, "--policy-dir", self.policy_dir, "--state-dir", self.state_dir,
                "--socket", self.socket]
        if foreground:
            argv += ["--foreground", "--log-level", "debug"]
        argv = list(wrap) + argv + list(extra)
        self.log = open(self.log_path, "a")
        self.log.write("==== start: %s\n" % " ".join(argv))
        self.log.flush()
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.update(env_add or {})
        self.proc = subprocess.Popen(ns_cmd(self.ns, argv), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_ready()
        return self

    def start_refused(self, extra=(), timeout=30):
        """Start the agent expecting it to stop by itself (a start it must
        refuse): its exit status, or None when it still ran after TIMEOUT s.
        The process is gone after either way (killed if it ran)."""
        self.start(wait=False, extra=extra)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        self.stop(signal.SIGKILL)
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=15):
        """Wait until the socket answers `status` with a policy applied."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError("sluiced exited with %s before answering:\n%s" %
                                   (self.proc.returncode, self.log_text()))
            if os.path.exists(self.socket):
                try:
                    st = self.status()
                    if st.get("generation", 0) >= 1:
                        return st
                    last = st
                except CliError as e:
                    last = e
            time.sleep(0.1)
        raise RuntimeError("sluiced not ready after %ss (last: %s):\n%s" %
                           (timeout, last, self.log_text()))

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the agent we started and wait; return its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise RuntimeError("sluiced ignored signal %d for %ss" % (sig, timeout))
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        return rc

    def log_text(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    # --- CLI ----------------------------------------------------------------

    def cli_raw(self, *args, json_out=True, timeout=30):
        """Run `sluice [-j] --socket S --state-dir D ARGS` in the fw namespace.

        The state dir matters to `teardown` when no agent answers."""
        argv = [self.sluice]
        if json_out:
            argv.append("-j")
        argv += ["--socket", self.socket, "--state-dir", self.state_dir] + list(args)
        return run(argv, ns=self.ns, check=False, timeout=timeout)

    def cli(self, *args, timeout=30):
        """Run a CLI command with -j and return its parsed JSON; raise on failure."""
        p = self.cli_raw(*args, timeout=timeout)
        if p.returncode != 0:
            raise CliError(["sluice", "-j"] + list(args), p)
        return json.loads(p.stdout) if p.stdout.strip() else None

    def status(self):
        return self.cli("status")

    def status_within(self, seconds):
        """`sluice status`, which must answer within SECONDS: the agent's one
        event loop is not held by anything."""
        try:
            p = self.cli_raw("status", timeout=seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError("sluice status did not answer within %s s: the agent's "
                                 "loop is held\n%s" % (seconds, self.log_text()[-4000:]))
        if p.returncode != 0:
            raise CliError(["sluice", "-j", "status"], p)
        return json.loads(p.stdout)

    def rules(self):
        """{rule name: {"packets": n, "bytes": n}} plus "(default)"."""
        v = self.cli("rule", "list")
        out = {r["name"]: r for r in v["rules"]}
        out["(default)"] = v["default"]
        return out

    def stats(self):
        return self.cli("stats")

    def attached(self):
        """{ifname: XDP hook record} of `sluice status -j` (TC hooks share the name)."""
        return {i["name"]: i for i in self.status().get("interfaces", [])
                if i.get("hook") == "xdp"}

    def wait_generation(self, gen, timeout=5):
        """Wait until the policy generation in force is at least GEN."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status()
            if st.get("generation", 0) >= gen:
                return st
            time.sleep(0.1)
        raise AssertionError("generation %d not reached in %ss:\n%s" %
                             (gen, timeout, self.log_text()))

    def teardown(self):
        """`sluice teardown`: with the agent running, or without (it removes the pins)."""
        return self.cli_raw("teardown", json_out=False, timeout=30)

    def force_cleanup(self):
        """Last resort after a failed test: unpin whatever is left (unpinning
        the links detaches their programs)."""
        if os.path.isdir(self.state_dir):
            shutil.rmtree(self.state_dir, ignore_errors=True)
