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


def starve(agent, at_its_fds=False):
    """Lower the agent's soft limit of open files: its fds stay open, and a
    new one is refused (EMFILE). The limit bounds the number a new fd gets
    (the lowest free one): 3 refuses every new one, whatever number is free;
    AT_ITS_FDS sets it at the agent's lowest free fd, as when it reached the
    limit by itself: every number below is taken (its highest fd may sit
    above a gap that fds of its start left, which the highest + 1 would
    leave free), and an fd it closes then makes room, as its spare fd does
    for agent_accept; the agent must hold no fd that comes and goes.
    Returns the old limits."""
    pid = agent.proc.pid
    soft, hard = nofile(pid)
    n = 3
    if at_its_fds:
        held = {int(fd) for fd in os.listdir("/proc/%d/fd" % pid)}
        n = min(set(range(len(held) + 1)) - held)
    subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:%d" % (n, hard)], check=True)
    return soft, hard


def feed(agent, limits):
    """Give the agent its limits (starve's result) back."""
    subprocess.run(["prlimit", "--pid", str(agent.proc.pid), "--nofile=%d:%d" % limits],
                   check=True)
