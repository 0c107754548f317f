"""A lab node: a machine of its own on this one, reached over SSH on a management network of the lab's.

A node is a process tree in its own network, mount, UTS and PID namespaces, started with plain
``unshare --mount --net --uts --pid --fork --propagation private --mount-proc`` around a small init (Python: it
makes the node's mounts, then reaps whatever is orphaned to it). Chosen over systemd-nspawn and LXC because a
node here shares the machine's root filesystem and installed Debian packages (nspawn wants a container tree
and, with PID 1 not systemd, cannot register machines; LXC needs its own rootfs, templates and bridge setup),
and because one PID ends it all: killing the init by PID ends every process of the node, which takes its
namespaces, mounts and veth with it.

Inside, the node has a private /run (tmpfs), sysfs mounted again (else /sys/class/net shows the machine's
devices; the cgroup tree is carried over), its own state and log directories bound over the machine's
(``STATE_DIRS``, each present only if the package made it), its own /etc/hosts naming it, and ``mgmt0``: a veth
onto the lab's management bridge (``MGMT_BRIDGE``, which also holds ``oslab-vx1``, the far end of the
controller's tunnel address) with an address in the tunnel range. Its sshd listens on that address only, with
host keys of the node's own; the lab's user (``NODE_USER``) logs in with the lab's key and has passwordless sudo.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from . import plumbing, proc, sshd
from .context import Lab
from .services import CGROUP_V2_IN_HYBRID
from .host import MGMT_BRIDGE, TUNNEL_PEER, UNDERLAY_BRIDGE, management_bridge
from .sshd import NODE_USER, SSHD, access_done, answers, ensure_access, host_key, key_file, run as _run
from .steps import LabError

MGMT_IF = "mgmt0"  # the node's end of its veth, inside the node
# The machine's directories a node gets its own copy of, as the services a node may run need them.
STATE_DIRS = ("/var/lib/nova", "/var/lib/libvirt", "/var/cache/libvirt", "/var/lib/neutron",
              "/var/lib/openvswitch", "/etc/openvswitch", "/var/lib/ovn", "/etc/libvirt/qemu",
              "/var/log/nova", "/var/log/neutron", "/var/log/libvirt", "/var/log/openvswitch", "/var/log/ovn",
              "/var/lib/containers")  # the node's own containers (``containers.py``), as podman there lists them
INIT_WAIT = 10.0
SSHD_WAIT = 10.0
SSHD_PATIENCE = 10.0  # how long a running sshd may take to answer before it counts as missing (CI saw > 2 s)
# The node's init: reap children (orphans of the node are re-parented to it) until killed. Its last argument
# names the node, so that a recorded PID is only ever signalled while it is still this node's init.
INIT = """
import os, sys, time
open(sys.argv[1], "w").close()
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(1)
"""


@dataclass
class Node:
    """A node by name, numbered by the last byte of its management address (198.51.100.<number>)."""

    name: str
    number: int
    lab: Lab = field(default_factory=Lab)

    @property
    def address(self) -> str:
        return str(self.lab.tunnel_network[self.number])

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.lab.tunnel_network.prefixlen}"

    @property
    def mac(self) -> str:
        """The MAC of the node's management interface: the same at every start, so that no neighbour keeps a
        stale entry for its address (a re-made node would otherwise wait seconds for ARP to give up on the old)."""
        return "02:00:" + ":".join(f"{int(b):02x}" for b in self.address.split("."))

    @property
    def veth(self) -> str:
        """The host's end of the node's management veth."""
        return f"oslab-m{self.number}"

    @property
    def root(self) -> Path:
        return self.lab.root / "nodes" / self.name

    @property
    def logs(self) -> Path:
        return self.lab.logs / "nodes" / self.name

    @property
    def pid_file(self) -> Path:
        return self.root / "init.pid"

    @property
    def ready_file(self) -> Path:
        return self.root / "init.ready"

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    def state_dir(self, path: str) -> Path:
        """Where the node's copy of the machine's directory ``path`` lives."""
        return self.root / "state" / path.strip("/").replace("/", "_")

    @property
    def ssh_spec(self) -> str:
        return f"ssh://{NODE_USER}@{self.address}"


def compute(index: int, lab: Optional[Lab] = None) -> Node:
    """computeN of ``oslab lab up --nodes``: 198.51.100.(10+N)."""
    return Node(f"compute{index}", 10 + index, lab or Lab())


def count_file(lab: Lab) -> Path:
    """Where ``oslab lab up --nodes N`` records N (absent: one node, the controller)."""
    return lab.state / "nodes"


def computes(lab: Lab) -> List[Node]:
    """The compute nodes the lab is recorded to have (computes 1..N-1 of ``--nodes N``)."""
    recorded = count_file(lab)
    count = int(recorded.read_text()) if recorded.exists() else 1
    return [compute(i, lab) for i in range(1, count)]


def named(name: str, number: Optional[int] = None, lab: Optional[Lab] = None) -> Node:
    """The node called ``name``: numbered as given, else as it was made, else as computeN is."""
    lab = lab or Lab()
    if number is None:
        recorded = lab.root / "nodes" / name / "number"
        if recorded.exists():
            number = int(recorded.read_text())
        elif name.startswith("compute") and name[7:].isdigit():
            number = 10 + int(name[7:])
        else:
            raise LabError(f"node {name}: give its number (the last byte of its address in {lab.tunnel_cidr})")
    if not 2 <= number <= 254:
        raise LabError(f"node {name}: number {number} is not in 2..254")
    return Node(name, number, lab)


def made(lab: Optional[Lab] = None) -> List[Node]:
    """Every node the lab has made (running or not), by its directory."""
    lab = lab or Lab()
    base = lab.root / "nodes"
    return [named(d.name, lab=lab) for d in sorted(base.iterdir()) if (d / "number").exists()] \
        if base.is_dir() else []


# ---------------------------------------------------------------- the node's files

def _copy_owner(src: str, dst: Path) -> None:
    st = os.stat(src)
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, st.st_mode & 0o7777)


def bound_dirs(node: Node) -> Dict[str, Path]:
    """The machine's directories the node binds its own over (those the installed packages made)."""
    return {path: node.state_dir(path) for path in STATE_DIRS if os.path.isdir(path)}


def prepare(node: Node) -> None:
    """The node's directories (owned as the machine's are), /etc/hosts, host keys and sshd configuration."""
    for d in (node.root, node.logs, node.ssh_dir):
        d.mkdir(parents=True, exist_ok=True)
    (node.root / "number").write_text(f"{node.number}\n")
    for path, own in bound_dirs(node).items():
        if not own.exists():
            own.mkdir(parents=True)
            if path == "/etc/libvirt/qemu" and os.path.isdir(f"{path}/networks"):
                # only the networks: the machine's saved domains would show up in the node as strangers
                shutil.copytree(f"{path}/networks", own / "networks", symlinks=True)
            _copy_owner(path, own)
        # the packages' directories one level down, empty (nova-compute wants /var/lib/nova/instances)
        for sub in os.scandir(path):
            if sub.is_dir(follow_symlinks=False) and not (own / sub.name).exists():
                (own / sub.name).mkdir()
                _copy_owner(sub.path, own / sub.name)
    controller = f"{node.lab.tunnel_ip}\t{node.lab.hostname}\n" if node.lab.hostname != node.name else ""
    (node.root / "hosts").write_text(f"127.0.0.1\tlocalhost\n{node.address}\t{node.name}\n{controller}")
    host_key(node.ssh_dir, node.name)
    (node.ssh_dir / "sshd_config").write_text(sshd_config(node))


def sshd_config(node: Node) -> str:
    return sshd.config(node.name, node.address, node.ssh_dir, "/run/sshd.pid")  # /run is the node's own


def init_script(node: Node) -> str:
    """What runs first inside the node's namespaces (as sh), ending in the init."""
    lines = ["set -e", f"hostname {node.name}",
             # the cgroup tree is kept across the new sysfs mount: set aside, then put back
             "mkdir -p /tmp/.oslab-cg-$$ && mount --rbind /sys/fs/cgroup /tmp/.oslab-cg-$$",
             "mount -t sysfs sysfs /sys",
             "mount --rbind /tmp/.oslab-cg-$$ /sys/fs/cgroup && umount -l /tmp/.oslab-cg-$$ && rmdir /tmp/.oslab-cg-$$",
             # without the v2 hierarchy of a hybrid host, as the controller's libvirtd (services.libvirtd_argv):
             # guests are kept to their devices by the v1 controller, not by a BPF program per domain start
             f"if mountpoint -q {CGROUP_V2_IN_HYBRID}; then umount -l {CGROUP_V2_IN_HYBRID}; fi",
             "mount -t tmpfs -o mode=0755,size=64m tmpfs /run",
             "mkdir -p /run/lock /run/sshd /run/libvirt /run/nova /run/neutron /run/openvswitch /run/ovn",
             f"mount --bind {node.root / 'hosts'} /etc/hosts"]
    lines += [f"mount --bind {own} {path}" for path, own in bound_dirs(node).items()]
    lines.append(f"exec /usr/bin/python3 -c '{INIT}' {node.ready_file} oslab-node {node.name}")
    return "\n".join(lines)


# ---------------------------------------------------------------- processes

def init_pid(node: Node) -> Optional[int]:
    """The PID (as this machine sees it) of the node's running init, else None."""
    try:
        pid = int(node.pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if proc.command_line(pid)[-2:] == ["oslab-node", node.name] else None


def netns_path(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


def _start_init(node: Node) -> int:
    node.ready_file.unlink(missing_ok=True)
    with open(node.logs / "init.log", "ab") as log:
        init = subprocess.Popen(
            ["unshare", "--mount", "--net", "--uts", "--pid", "--fork", "--propagation", "private",
             "--mount-proc", "sh", "-c", init_script(node)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, cwd="/")
    deadline = time.monotonic() + INIT_WAIT
    while time.monotonic() < deadline:
        children = proc.children(init.pid)
        if children and node.ready_file.exists():
            node.pid_file.write_text(f"{children[0]} {init.pid}\n")
            return children[0]
        if init.poll() is not None:
            break
        time.sleep(0.05)
    init.kill()
    raise LabError(f"node {node.name}: its init did not start in {INIT_WAIT:.0f}s",
                   log=str(node.logs / "init.log"))


def enter(pid: int, *argv: str) -> List[str]:
    """A command line running ``argv`` inside the node whose init is ``pid``."""
    return ["nsenter", "-t", str(pid), "-m", "-u", "-n", "-p", "--", *argv]


def address_device(pid: int) -> str:
    """Where the node's address lives: on ``mgmt0``; on an Open vSwitch compute, on its underlay bridge (which holds
    ``mgmt0``: ``compute_node.py``), once its ovs-vswitchd has made it."""
    return UNDERLAY_BRIDGE if UNDERLAY_BRIDGE in plumbing.links(netns_path(pid)) else MGMT_IF


def wanted_plumbing(node: Node, pid: int) -> List[plumbing.Want]:
    inside = netns_path(pid)
    return [
        *management_bridge(),
        plumbing.Veth(node.veth, MGMT_IF, peer_netns=inside, peer_mac=node.mac),
        plumbing.Port(node.veth, MGMT_BRIDGE),
        plumbing.NoTxChecksum(node.veth),  # into the node's br-underlay on Open vSwitch
        plumbing.Up(node.veth),
        plumbing.Up("lo", inside),
        plumbing.Address(address_device(pid), node.cidr, inside),
        plumbing.Up(MGMT_IF, inside),
    ]


def sshd_answers(node: Node, timeout: float = 2.0, within: float = 0.0) -> bool:
    """An SSH banner comes back from the node's management address, asked again until ``within`` seconds have
    passed (a busy machine can take longer than one ``timeout`` to fork sshd's child and send it)."""
    deadline = time.monotonic() + within
    while not answers(node.address, timeout):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return True


def why_unreached(node: Node, lines: int = 5) -> str:
    """What tells why the node's sshd is not reached: the device the machine routes its address through (a stale
    device holding the lab's address shows here), and the last lines of its sshd's log (a CI run keeps only what
    the error says)."""
    try:
        tail = (node.logs / "sshd.log").read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        tail = []
    return (f"the machine routes {node.address} through {plumbing.route_device(node.address) or 'nothing'};"
            f" sshd.log ends: {' | '.join(tail) or '(empty)'}")


def _start_sshd(node: Node, pid: int) -> None:
    _run(*enter(pid, SSHD, "-f", str(node.ssh_dir / "sshd_config"), "-E", str(node.logs / "sshd.log")))
    deadline = time.monotonic() + SSHD_WAIT
    while not sshd_answers(node):
        if time.monotonic() > deadline:
            raise LabError(f"node {node.name}: sshd does not answer on {node.address}:22 after {SSHD_WAIT:.0f}s"
                           f" ({why_unreached(node)})", log=str(node.logs / "sshd.log"))
        time.sleep(0.1)


# ---------------------------------------------------------------- up, down, status

def up(node: Node) -> List[str]:
    """Bring the node up, or heal what of it is missing; the lines of what was done (empty: it was up)."""
    if not os.path.exists(SSHD):
        raise LabError(f"node {node.name}: {SSHD} is missing (package openssh-server: `oslab lab up` installs it)")
    if TUNNEL_PEER not in plumbing.links():
        raise LabError(f"node {node.name}: the lab's plumbing is not up ({TUNNEL_PEER} is missing): `oslab lab up`")
    for other in made(node.lab):
        if other.name != node.name and other.number == node.number and init_pid(other):
            raise LabError(f"node {node.name}: {node.address} is node {other.name}'s, which is running")
    done = []
    if not access_done(node.lab):
        ensure_access(node.lab)
        done.append(f"user {NODE_USER} with passwordless sudo and key {key_file(node.lab)}")
    pid = init_pid(node)
    init_running = pid is not None
    if pid is None:
        plumbing.remove_links([node.veth])  # a leftover of a node that was not ended by `down`
        prepare(node)
        pid = _start_init(node)
        done.append(f"init started (pid {pid})")
    done += plumbing.ensure(wanted_plumbing(node, pid))
    if not sshd_answers(node, within=SSHD_PATIENCE if init_running else 0.0):
        _start_sshd(node, pid)
        done.append(f"sshd on {node.address}:22")
    return done


def missing(node: Node) -> List[str]:
    """What of the node is not there or not answering (empty: it is up)."""
    pid = init_pid(node)
    if pid is None:
        return [f"node {node.name}: not running"]
    found = [f"node {node.name}: {line}" for line in plumbing.missing(wanted_plumbing(node, pid))]
    if not sshd_answers(node, within=SSHD_PATIENCE):
        found.append(f"node {node.name}: sshd does not answer on {node.address}:22 ({why_unreached(node)})")
    return found


def down(node: Node, timeout: float = 10.0) -> List[str]:
    """End the node: its init is killed by PID, which ends every process of the node and with the last of them its
    namespaces, mounts and veth. The lines of what was ended."""
    ended = []
    pid = init_pid(node)
    if pid is not None:
        ids = proc.namespace_ids(pid)
        launcher = node.pid_file.read_text().split()[1:2]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while proc.in_namespaces(ids):
            if time.monotonic() > deadline:
                raise LabError(f"node {node.name}: processes {proc.in_namespaces(ids)[:5]} outlived its init "
                               f"{timeout:.0f}s after it was killed")
            time.sleep(0.05)
        for other in launcher:  # the unshare that started it, if it is ours to reap
            try:
                os.waitpid(int(other), os.WNOHANG)
            except (ChildProcessError, ValueError):
                pass
        ended.append(f"init {pid} and every process of node {node.name}")
    ended += plumbing.remove_links([node.veth])
    node.pid_file.unlink(missing_ok=True)
    node.ready_file.unlink(missing_ok=True)
    return ended


def forget(node: Node) -> None:
    """Remove an ended node's directories (its state, logs and host keys)."""
    if init_pid(node):
        raise LabError(f"node {node.name} is running: `oslab lab node down {node.name}` first")
    for d in (node.root, node.logs):
        shutil.rmtree(d, ignore_errors=True)


def hostname(node: Node) -> str:
    """The node's hostname (its UTS namespace's), or '' when it is not running."""
    pid = init_pid(node)
    return _run(*enter(pid, "hostname")).strip() if pid else ""
