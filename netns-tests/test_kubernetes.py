# SPDX-License-Identifier: GPL-2.0-only
"""deploy/kubernetes: the manifests are read (as kubectl would get them)
and checked against what the agent needs: the paths its args name are the
volumes, the capabilities are the systemd unit's (which the agent is tested
to run with), the probe asks the agent's socket, the scrape annotation names
the --metrics port. Then the agent runs on the ConfigMap's policy laid out
as kubelet lays out a ConfigMap volume (timestamped dir, ..data symlink,
per-key symlinks), filters real traffic by it, serves the metrics, and
follows a ConfigMap update (kubelet's ..data swap)."""
import configparser
import os
import shutil
import subprocess

import yaml

from lib.agent import build_dir
from lib.netns import run
from lib.traffic import exchange

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
K8S = os.path.join(REPO, "deploy", "kubernetes")
N = 5


def manifests():
    """{kind: object} of every YAML document under deploy/kubernetes."""
    docs = {}
    for f in sorted(os.listdir(K8S)):
        if f.endswith(".yaml"):
            for d in yaml.safe_load_all(open(os.path.join(K8S, f))):
                if d:
                    assert d["kind"] not in docs, d["kind"]
                    docs[d["kind"]] = d
    return docs


def agent_args(args):
    """--opt VALUE pairs and flags of the container's args, as a dict."""
    out, i = {}, 0
    while i < len(args):
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[args[i]] = args[i + 1]
            i += 2
        else:
            out[args[i]] = True
            i += 1
    return out


def test_manifests_give_the_agent_what_it_needs(tmp_path):
    m = manifests()
    ns, cm, ds = m["Namespace"], m["ConfigMap"], m["DaemonSet"]
    assert cm["metadata"]["namespace"] == ds["metadata"]["namespace"] == ns["metadata"]["name"]
    spec = ds["spec"]["template"]["spec"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= \
        ds["spec"]["template"]["metadata"]["labels"].items()
    assert spec["hostNetwork"] is True
    (c,) = spec["containers"]
    args = agent_args(c["args"])
    assert set(args) == {"--policy-dir", "--state-dir", "--socket", "--foreground", "--metrics"}

    # the binaries are where the package (make install PREFIX=/usr) puts them
    root = str(tmp_path / "root")
    subprocess.run(["make", "--no-print-directory", "-s", "-C", REPO, "BUILD=" + build_dir(),
                    "install", "DESTDIR=" + root, "PREFIX=/usr"], check=True,
                   capture_output=True)
    assert os.access(root + c["command"][0], os.X_OK), c["command"]
    probe = c["livenessProbe"]["exec"]["command"]
    assert os.access(root + probe[0], os.X_OK) and probe[1:] == [
        "--socket", args["--socket"], "status"]
    assert c["startupProbe"]["exec"]["command"] == probe
    containerfile = open(os.path.join(K8S, "Containerfile")).read()
    assert "sluice_*_amd64.deb" in containerfile

    # every path the agent uses is a volume: the host's bpffs, cgroup v2,
    # the socket's dir on the host, the ConfigMap as the policy dir
    mounts = {v["mountPath"]: v for v in c["volumeMounts"]}
    vols = {v["name"]: v for v in spec["volumes"]}

    def volume_at(path):
        return vols[mounts[path]["name"]]
    assert volume_at(os.path.dirname(args["--state-dir"]))["hostPath"]["path"] == "/sys/fs/bpf"
    assert volume_at("/sys/fs/cgroup")["hostPath"]["path"] == "/sys/fs/cgroup"
    assert volume_at(os.path.dirname(args["--socket"]))["hostPath"]["path"] == \
        os.path.dirname(args["--socket"])
    assert volume_at(args["--policy-dir"])["configMap"]["name"] == cm["metadata"]["name"]
    assert mounts[args["--policy-dir"]]["readOnly"] is True

    # least privilege: the systemd unit's capabilities, nothing else
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(os.path.join(REPO, "deploy/systemd/sluiced.service.in"))
    caps = {x[4:] for x in unit["Service"]["CapabilityBoundingSet"].split()}
    sc = c["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"] and set(sc["capabilities"]["add"]) == caps
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False

    # the scrape annotation names the port --metrics listens on, on the node's address
    ann = ds["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert args["--metrics"] == "$(NODE_IP):%s" % ann["prometheus.io/port"]
    assert {"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}} \
        in c["env"]

    # a rolling upgrade one node at a time, the old pod gone first, and nothing
    # that tears the firewall down on the way out
    ru = ds["spec"]["updateStrategy"]
    assert ru["type"] == "RollingUpdate" and ru["rollingUpdate"]["maxSurge"] == 0
    assert "lifecycle" not in c

    # the ConfigMap is a valid policy
    d = tmp_path / "policy"
    d.mkdir()
    for k, v in cm["data"].items():
        (d / k).write_text(v)
    p = run([os.path.join(build_dir(), "sluice"), "policy", "check", str(d)], check=False)
    assert p.returncode == 0, p.stderr


class ConfigMapVolume:
    """DIR laid out as kubelet lays out a ConfigMap volume, and updated as
    kubelet updates it: the data in a timestamped dir, `..data` pointing to it,
    one symlink per key through `..data`; an update writes a new timestamped
    dir, renames a new `..data` symlink over the old one, removes the old dir."""

    def __init__(self, path):
        self.path = path
        self.n = 0
        self.current = None
        os.makedirs(path)

    def publish(self, data):
        self.n += 1
        ts = "..2025_12_04_12_00_%02d.%09d" % (self.n, 123456789)
        os.mkdir(os.path.join(self.path, ts))
        for k, v in data.items():
            with open(os.path.join(self.path, ts, k), "w") as f:
                f.write(v)
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(ts, tmp)
        os.rename(tmp, os.path.join(self.path, "..data"))
        for k in data:
            link = os.path.join(self.path, k)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", k), link)
        if self.current:
            shutil.rmtree(os.path.join(self.path, self.current))
        self.current = ts


def metrics(ns, addr):
    code = ("import urllib.request; print(urllib.request.urlopen('http://%s/metrics', "
            "timeout=5).read().decode())" % addr)
    return run(["/usr/bin/python3", "-c", code], ns=ns).stdout


def test_agent_on_a_configmap_volume(env):
    t, agent = env.topo, env.agent
    m = manifests()
    data = dict(m["ConfigMap"]["data"])
    (c,) = m["DaemonSet"]["spec"]["template"]["spec"]["containers"]
    args = agent_args(c["args"])
    # the nodes' NIC patterns, here the test's veth (and nothing else is changed)
    fw = yaml.safe_load(data["20-firewall.yaml"])
    assert fw["firewall"]["interfaces"]
    data["20-firewall.yaml"] = data["20-firewall.yaml"].replace(
        "[%s]" % ", ".join('"%s"' % i for i in fw["firewall"]["interfaces"]),
        '["%s"]' % t.glob)
    assert t.glob in data["20-firewall.yaml"]

    vol = ConfigMapVolume(os.path.join(agent.workdir, "cm"))
    vol.publish(data)
    agent.policy_dir = vol.path
    # the DaemonSet's args, with this test's paths and the node address
    metrics_addr = args["--metrics"].replace("$(NODE_IP)", t.f4)
    # read-only, as kubelet mounts it
    agent.start(extra=["--metrics", metrics_addr],
                wrap=["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                      'mount --bind -o ro "$0" "$0" && exec "$@"', vol.path])
    st = agent.status()
    # the files through their per-key links, not the timestamped dir of the moment
    assert sorted(st["policy"]["files"]) == [os.path.join(vol.path, k) for k in sorted(data)]

    specs = [dict(tag="ok", src=t.c4, dst=t.f4, dport=5000, count=N),
             dict(tag="netbios", src=t.c4, dst=t.f4, dport=137, count=N),
             dict(tag="blocked", src="198.51.100.7", dst=t.f4, dport=5000, count=N)]
    assert exchange(t, specs) == {"ok": N, "netbios": 0, "blocked": 0}
    text = metrics(t.fw, metrics_addr)
    assert "sluice_policy_generation %d" % st["generation"] in text
    # CLI edits cannot be kept in a read-only policy dir: refused, nothing
    # changes, and the error says where changes go (it named a temp file:
    # "cannot remove .../.sluice-cli.yaml.tmp: Read-only file system")
    p = agent.cli_raw("rule", "add", "cli-x", "--action", "deny", json_out=False)
    assert p.returncode == 1, p.stdout + p.stderr
    assert p.stderr == ("sluice: cannot keep the edit in %s: Read-only file system (a "
                        "read-only policy dir, such as a Kubernetes ConfigMap volume, takes "
                        "no CLI edits: change its files)\n" %
                        os.path.join(vol.path, ".sluice-cli.yaml")), p.stderr
    assert agent.status()["generation"] == st["generation"]
    assert "cli-x" not in agent.rules()

    # kubelet's update: the blocklist emptied, NetBIOS allowed
    gen = st["generation"]
    data["blocklist.txt"] = "# nothing blocked\n"
    data["20-firewall.yaml"] = data["20-firewall.yaml"].replace("no-netbios", "netbios-ok") \
        .replace("action: deny\n      proto: udp", "action: allow\n      proto: udp")
    data["10-sets.yaml"] = data["10-sets.yaml"].replace(
        "file: blocklist.txt", "file: blocklist.txt\n    prefixes: [2001:db8:dead::/48]")
    vol.publish(data)
    agent.wait_generation(gen + 1)
    assert "netbios-ok" in agent.rules()
    assert exchange(t, specs) == {"ok": N, "netbios": N, "blocked": N}
    assert "sluice_policy_generation %d" % (gen + 1) in metrics(t.fw, metrics_addr)
    assert sorted(os.listdir(vol.path)) == sorted(["..data", vol.current] + list(data))
