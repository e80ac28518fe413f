# SPDX-License-Identifier: GPL-2.0-only
"""An agent's limit of open files, lowered and restored with prlimit on the
running process (test_fd_limit.py, test_lb.py)."""
import os
import subprocess


def nofile(pid):
    """The (soft, hard) limit of open files of process PID."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open files limit for pid %d" % pid)


def starve(agent):
    """Lower the agent's soft limit of open files to the number it has open:
    the next fd it asks for is refused (EMFILE). Returns the old limits."""
    pid = agent.proc.pid
    soft, hard = nofile(pid)
    n = len(os.listdir("/proc/%d/fd" % pid))
    subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:%d" % (n, hard)], check=True)
    return soft, hard


def feed(agent, limits):
    """Give the agent its limits (starve's result) back."""
    subprocess.run(["prlimit", "--pid", str(agent.proc.pid), "--nofile=%d:%d" % limits],
                   check=True)
