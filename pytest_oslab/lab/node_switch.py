"""A compute node's own Open vSwitch (the openvswitch driver): its ovsdb-server on its own database (the node's
/etc/openvswitch, ``node.STATE_DIRS``) with its sockets in the node's private /run, and its ovs-vswitchd on the
userspace datapath, with the node's name as system-id.

The userspace datapath lives in its ovs-vswitchd, not in the kernel (this kernel has no openvswitch module): two
switches in two nodes each have their own br-int, br-tun and br-provider, each bridge's interface a tap in its own
node's network namespace (tried: two ovs-vswitchd in two namespaces, each with br-int and a vxlan port to the
other, pass traffic). The price of that datapath: a tunnel leaves through the OVS bridge its route goes through,
so the node's management address moves from ``mgmt0`` onto ``br-underlay``, which holds ``mgmt0``
(``host.move_to_underlay``); the node's SSH then goes through its ovs-vswitchd, and a killed ovs-vswitchd cuts
the node off until `lab up` heals it.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List

from . import node as nodes
from .host import OVSDB_MANAGER, PROVIDER_BRIDGE, move_to_underlay, underlay_missing
from .services import TAP_GUARD_MODULE, userspace_tso
from .steps import LabError

RUN = "/run/openvswitch"  # in the node: its private /run
DB = "/etc/openvswitch/conf.db"  # in the node: its own /etc/openvswitch
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
DB_SERVER, SWITCH = "/usr/sbin/ovsdb-server", "/usr/sbin/ovs-vswitchd"
WAIT = 30.0


def daemons(node: nodes.Node) -> List[tuple]:
    """(word, argv, log, namespaces, user) of the node's ovsdb-server and ovs-vswitchd, as compute_node's."""
    logs = node.logs
    return [
        (DB_SERVER, [DB_SERVER, DB, f"--remote=punix:{RUN}/db.sock",
                     "--remote=db:Open_vSwitch,Open_vSwitch,manager_options", f"--unixctl={RUN}/ovsdb-server.ctl",
                     f"--log-file={logs / 'ovsdb-server.log'}"], logs / "ovsdb-server.out", "-m -u -n -p", ""),
        # --monitor as Debian's ovs-ctl starts it: a crash (an assertion in the userspace conntrack of OVS 3.1
        # was seen on an OVN compute after a migration) restarts it; SIGTERM or SIGKILL end both processes
        (SWITCH, [SWITCH, f"unix:{RUN}/db.sock", f"--unixctl={RUN}/ovs-vswitchd.ctl", "--monitor",
                  f"--log-file={logs / 'ovs-vswitchd.log'}"], logs / "ovs-vswitchd.out", "-m -u -n -p", ""),
        # in the node's network namespace, where its guests' taps are (lab/tap_guard.py says why)
        (TAP_GUARD_MODULE, [sys.executable, "-m", TAP_GUARD_MODULE], logs / "tap-guard.log", "-m -u -n -p", ""),
    ]


def _in_node(pid: int, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    proc = subprocess.run(nodes.enter(pid, *argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv[:4])} in the node: {proc.stderr.strip()[:300]}")
    return proc


def vsctl(pid: int) -> Callable[..., str]:
    """ovs-vsctl of the node whose init is ``pid`` (as ``host._vsctl`` is the controller's)."""
    def run(*args: str, check: bool = True) -> str:
        return _in_node(pid, "ovs-vsctl", "--timeout=20", *args, check=check).stdout
    return run


def _wait(pid: int, argv: List[str], what: str, node: nodes.Node) -> None:
    deadline = time.monotonic() + WAIT
    while _in_node(pid, *argv, check=False, timeout=10).returncode != 0:
        if time.monotonic() > deadline:
            raise LabError(f"node {node.name}: {what} does not answer after {WAIT:.0f}s", log=str(node.logs))
        time.sleep(0.2)


def prepare(node: nodes.Node) -> List[str]:
    """The node's database, made once (before its ovsdb-server starts)."""
    own = node.state_dir("/etc/openvswitch") / "conf.db"
    if own.exists():
        return []
    subprocess.run(["ovsdb-tool", "create", str(own), SCHEMA], check=True, capture_output=True, timeout=30)
    return [f"its Open vSwitch database {own}"]


def after_database(node: nodes.Node, pid: int) -> List[str]:
    """The database initialised as the controller's (userspace TSO as ``services.userspace_tso`` says, before
    ovs-vswitchd first starts), with the node's system-id and its manager on the node's 127.0.0.1:6640, where its
    agent and os-vif connect."""
    _wait(pid, ["ovs-vsctl", "--timeout=5", "show"], "ovsdb-server", node)
    run = vsctl(pid)
    run("--no-wait", "init", "--", "set", "Open_vSwitch", ".",
        f"other_config:userspace-tso-enable={userspace_tso(node.lab.driver)}",
        f'external_ids:system-id="{node.name}"', f'external_ids:hostname="{node.name}"')
    run("--no-wait", "set-manager", OVSDB_MANAGER)
    return []


def after_switch(node: nodes.Node, pid: int, provider_dev: str) -> List[str]:
    """br-provider on the node's provider interface, and the node's address on br-underlay (holding mgmt0)."""
    _wait(pid, ["ovs-appctl", "-t", f"{RUN}/ovs-vswitchd.ctl", "version"], "ovs-vswitchd", node)
    run = vsctl(pid)
    done = []
    if PROVIDER_BRIDGE not in run("list-br").split():
        done.append(f"{PROVIDER_BRIDGE} on {provider_dev}")
    run("--may-exist", "add-br", PROVIDER_BRIDGE, "--", "set", "Bridge", PROVIDER_BRIDGE, "datapath_type=netdev",
        "--", "--may-exist", "add-port", PROVIDER_BRIDGE, provider_dev)
    inside = nodes.netns_path(pid)
    if underlay_missing(nodes.MGMT_IF, node.cidr, run, inside):
        move_to_underlay(nodes.MGMT_IF, node.cidr, run, inside)
        done.append(f"{node.address} moved onto br-underlay")
    return done


def missing(node: nodes.Node, pid: int, provider_dev: str) -> List[str]:
    """What of the node's switch is not as ``after_switch`` makes it."""
    run = vsctl(pid)
    found = [] if provider_dev in run("list-ports", PROVIDER_BRIDGE, check=False).split() \
        else [f"{provider_dev} is not a port of {PROVIDER_BRIDGE}"]
    return [f"node {node.name}: {line}"
            for line in found + underlay_missing(nodes.MGMT_IF, node.cidr, run, nodes.netns_path(pid))]


def forget(node: nodes.Node) -> List[str]:
    """The node's Open vSwitch database removed (the node is down): a later openvswitch lab starts anew."""
    own = node.state_dir("/etc/openvswitch")
    gone = [p for p in own.glob("*conf.db*")] if own.is_dir() else []
    for path in gone:
        path.unlink()
    return [f"{node.name}'s Open vSwitch database"] if gone else []

