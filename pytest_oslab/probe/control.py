"""Starting the probe agent on a node, stopping it and reading its files back, through the node access layer.

The agent (``agent.py``, copied to the node as it is) runs detached in ``/var/tmp/oslab-probe-<workload>/`` on the
node, inside the namespace that reaches the guests, for at most ``LIFETIME`` seconds (and is killed a minute
after that by ``timeout``, whatever happens). What was started is recorded in a local JSON file (``Record``): the
node, the directory, the agent's PID, the namespace and the guests, so that another process (the post phase,
hours later) stops that very process, by its PID and only when its command line is the agent's, and reads its
files back. The files brought back are kept beside the record.
"""
from __future__ import annotations

import base64
import json
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List

from pytest_oslab.checks.core import CheckFailed
from pytest_oslab.facts import probe as parse

AGENT = Path(__file__).with_name("agent.py")
LIFETIME = 6 * 3600  # seconds: an upgrade longer than this is measured up to here
REMOTE_ROOT = "/var/tmp"
FILES = ("tcp.txt", "leases.txt", "done", "agent.log")


@dataclass
class Target:
    name: str
    ip: str
    mac: str


@dataclass
class Agent:
    """One agent: where it runs and what it watches."""

    node: str
    namespace: str
    directory: str
    targets: List[Target]
    leases: str = ""  # the dnsmasq leases file, when the network has one
    pid: int = 0
    started: float = 0.0

    def paths(self) -> List[str]:
        return ([f"ICMP from {self.namespace}", f"TCP 22 from {self.namespace}"]
                + (["DHCP lease (dnsmasq leases)"] if self.leases else []))


@dataclass
class Record:
    """What a pre phase started: the workload and its agents; ``save``/``load`` as JSON."""

    workload: str
    agents: List[Agent] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Record":
        data = json.loads(path.read_text())
        agents = [Agent(**{**a, "targets": [Target(**t) for t in a["targets"]]}) for a in data.get("agents", [])]
        return cls(data["workload"], agents)


def remote_dir(workload: str) -> str:
    return f"{REMOTE_ROOT}/oslab-probe-{workload}"


def start(node, agent: Agent, lifetime: int = LIFETIME) -> Agent:
    """Copy the agent to ``node`` (a NodeFacts) and start it detached; its PID once it wrote it (bounded)."""
    d = shlex.quote(agent.directory)
    code = base64.b64encode(AGENT.read_bytes()).decode()
    node.run(f"rm -rf {d} && mkdir -p {d} && echo {code} | base64 -d > {d}/agent.py", quiet=True)
    guests = " ".join(f"--guest {shlex.quote(f'{t.name}={t.ip}={t.mac}')}" for t in agent.targets)
    leases = f"--leases {shlex.quote(agent.leases)}" if agent.leases else ""
    node.run(f"cd / && setsid nohup timeout -s KILL {lifetime + 60} ip netns exec {shlex.quote(agent.namespace)} "
             f"python3 {d}/agent.py --dir {d} --lifetime {lifetime} {guests} {leases} >{d}/agent.log 2>&1 "
             f"</dev/null &")
    waited = node.run(f"for i in $(seq 50); do [ -s {d}/pid ] && exec cat {d}/pid; sleep 0.2; done; "
                      f"cat {d}/agent.log; exit 1", ok=False)
    if waited.rc != 0 or not waited.stdout.strip().isdigit():
        raise CheckFailed(f"node {agent.node}: the probe agent in {agent.namespace} did not start within 10 s: "
                          f"{(waited.stdout or waited.stderr).strip()[-300:]}")
    agent.pid = int(waited.stdout.strip())
    agent.started = time.time()
    return agent


def stop(node, agent: Agent) -> str:
    """Stop the agent (SIGINT to its PID, only if that PID still runs the agent's script) and wait for its
    ``done`` file (bounded); one line saying how it ended."""
    d = shlex.quote(agent.directory)
    out = node.run(
        f"p={agent.pid}; if tr '\\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -qF {d}/agent.py; then kill -INT $p; "
        f"echo signalled; else echo gone; fi; for i in $(seq 50); do [ -e {d}/done ] && break; sleep 0.2; done; "
        f"[ -e {d}/done ] && echo done", ok=False).stdout.split()
    if "signalled" in out:
        return f"agent {agent.pid} on {agent.node} stopped" + ("" if "done" in out else " (it wrote no done file)")
    if "done" in out:
        return f"agent {agent.pid} on {agent.node} had already ended (its lifetime of {LIFETIME} s is over?)"
    return f"agent {agent.pid} on {agent.node} was not running and left no done file (node rebooted?)"


def fetch(node, agent: Agent, keep: Path) -> Dict[str, str]:
    """The agent's files ({name: text}), also written into ``keep``; the node's directory is removed after."""
    d = shlex.quote(agent.directory)
    names = node.run(f"ls {d}", ok=False).stdout.split()
    wanted = [n for n in names if n in FILES or (n.startswith("icmp-") and n.endswith(".txt"))]
    texts = {n: node.run(f"cat {d}/{shlex.quote(n)}", ok=False, quiet=True).stdout for n in wanted}
    keep.mkdir(parents=True, exist_ok=True)
    for n, text in texts.items():
        (keep / f"{agent.node}-{n}").write_text(text)
    node.run(f"rm -rf {d}", ok=False)
    return texts


def series(agent: Agent, texts: Dict[str, str]) -> List[parse.Series]:
    """The agent's files as series: per guest ICMP, TCP 22 and, where there are leases, its DHCP lease."""
    icmp_path, tcp_path, *lease_path = agent.paths()
    tcp = parse.tcp(tcp_path, texts.get("tcp.txt", ""))
    leases = parse.leases(lease_path[0], texts.get("leases.txt", "")) if lease_path else {}
    out = []
    for t in agent.targets:
        out.append(parse.icmp(t.name, icmp_path, texts.get(f"icmp-{t.name}.txt", "")))
        out.append(tcp.get(t.name) or parse.Series(t.name, tcp_path))
        if lease_path:
            out.append(leases.get(t.name) or parse.Series(t.name, lease_path[0]))
    return out
