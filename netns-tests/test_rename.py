# SPDX-License-Identifier: GPL-2.0-only
"""A link renamed into the policy's interface patterns is attached (within
1 s: bench_edit measures it); renamed out of them, it is detached and its
pin removed."""
import os
import time

from lib.netns import run, xdp_prog_id
from lib.traffic import exchange

N = 5
RULES = [dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])]


def wait_for(pred, timeout=10.0):
    """Poll PRED until true or TIMEOUT (a backstop: how soon is bench_edit's
    business, in make bench)."""
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_renamed_interface_attached_and_detached(env):
    t = env.topo
    agent = env.start(default="allow", rules=RULES)
    cdev, other = t.pfx + "c3", t.pfx + "x3"
    fdev = t.pfx + "f3"
    # created under a name the patterns do not match: left alone
    t.add_veth(cdev, other, ["203.0.113.1/24"], ["203.0.113.2/24"])
    time.sleep(0.5)
    assert xdp_prog_id(t.fw, other) is None
    assert other not in agent.attached()

    # renamed into the pattern (a link must be down to be renamed)
    run(["ip", "link", "set", other, "down"], ns=t.fw)
    run(["ip", "link", "set", other, "name", fdev], ns=t.fw)
    run(["ip", "link", "set", fdev, "up"], ns=t.fw)
    wait_for(lambda: xdp_prog_id(t.fw, fdev) is not None)
    assert xdp_prog_id(t.fw, fdev) is not None, "no XDP on %s after rename" % fdev
    att = agent.attached()
    assert fdev in att and att[fdev]["prog_id"] == xdp_prog_id(t.fw, fdev), att
    got = exchange(t, [
        dict(tag="ok", src="203.0.113.1", dst="203.0.113.2", dport=5000, count=N),
        dict(tag="denied", src="203.0.113.1", dst="203.0.113.2", dport=5001, count=N),
    ], cdev=cdev, fdev=fdev)
    assert got == {"ok": N, "denied": 0}
    pin = os.path.join(agent.state_dir, "links", "xdp_%d" % att[fdev]["ifindex"])
    assert os.path.exists(pin)

    # renamed out of the pattern: detached, pin gone, traffic unfiltered
    run(["ip", "link", "set", fdev, "down"], ns=t.fw)
    run(["ip", "link", "set", fdev, "name", other], ns=t.fw)
    run(["ip", "link", "set", other, "up"], ns=t.fw)
    wait_for(lambda: xdp_prog_id(t.fw, other) is None and not os.path.exists(pin))
    assert xdp_prog_id(t.fw, other) is None, "XDP still on %s after rename" % other
    assert not os.path.exists(pin), "%s still pinned" % pin
    assert fdev not in agent.attached() and other not in agent.attached()
    got = exchange(t, [
        dict(tag="denied", src="203.0.113.1", dst="203.0.113.2", dport=5001, count=N),
    ], cdev=cdev, fdev=other)
    assert got == {"denied": N}
