"""The lab's services in containers, laid out as kolla-ansible lays them out (``oslab lab up --containers``).

With the shape on, each agent, libvirt, nova-compute, nova's API and Open vSwitch/OVN daemon of every node runs in
a podman container with the name kolla-ansible gives it (``KOLLA``): ``neutron_dhcp_agent``, ``nova_libvirt``,
``openvswitch_vswitchd``, ``ovn_controller``, ... No registry is reachable here, so a container's root filesystem
is an overlay of this machine's own installation (``--rootfs /:O``: the same Debian packages, and nothing written
inside reaches the host). As kolla runs them, the containers share the node's network and PID namespaces (``host``)
and are privileged; neutron's state directory of the DHCP, L3 and metadata agents is the named volume
``neutron_metadata_socket`` at kolla's path ``/var/lib/neutron/kolla`` (the agents' ``state_path``), so their
dnsmasq files are reachable only in a container (or at the volume's host path). What a daemon reads or writes
besides (its configuration, the node's state and log directories, ``/run``'s sockets) is bound in at the same path,
``/run/netns`` with shared propagation so that the namespaces an agent makes are the node's.

A containerised daemon is started as ``podman run --rm --replace`` in the foreground, so the lab's daemon
bookkeeping (a recorded PID, its fingerprint, SIGTERM to stop: podman passes it to the daemon) is unchanged. A
compute node runs podman inside its namespaces with its own container storage (``/var/lib/containers`` is one of
the node's own directories), so ``podman exec nova_libvirt virsh ...`` over SSH on that node finds its containers.

On a machine whose cgroup v2 ``unified`` mount holds a controller (cgroups v1 + v2 hybrid, no systemd), crun
refuses to create a container ("cgroups in hybrid mode not supported"); ``podman run`` then runs in a mount
namespace of its own without that mount (``podman exec`` works from the host as it is).
"""
from __future__ import annotations

import json
import resource
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .steps import LabError

LABEL = "oslab-lab=kolla"
SHAPE = "kolla"  # the one container layout the lab makes (``oslab.deployment: kolla`` reads it)
UNIFIED = Path("/sys/fs/cgroup/unified/cgroup.controllers")
BOUND = 60  # seconds, any one podman command
STATE_VOLUME = "neutron_metadata_socket"  # kolla's named volume holding neutron's state directory
KOLLA_STATE = "/var/lib/neutron/kolla"
NETNS = "/run/netns"
PODMAN = ("podman", "--cgroup-manager=cgroupfs", "--events-backend=file")

# bound into every container at the same path: what the lab's daemons read and write outside the root filesystem
# (on a compute node these are the node's own copies, bound over the machine's in its mount namespace)
COMMON = ("/run", "/lib/modules", "/etc/oslab", "/var/lib/oslab", "/var/log/oslab")
# /dev as the machine has it, as kolla binds it for libvirt and nova: a guest's console is a pty that libvirt opens
# and nova-compute looks for (a container's own /dev/pts would hide it from the other)
NOVA = ("/dev", "/etc/nova", "/var/lib/nova", "/var/log/nova")
LIBVIRT = ("/dev", "/etc/libvirt", "/etc/libvirt/qemu", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt",
           "/var/lib/nova")
NEUTRON = ("/etc/neutron", "/var/lib/neutron", "/var/log/neutron")
OVS = ("/etc/openvswitch", "/var/lib/openvswitch", "/var/log/openvswitch")
OVN = ("/var/lib/ovn", "/var/log/ovn", "/etc/openvswitch")


@dataclass(frozen=True)
class Spec:
    """kolla-ansible's container for one lab service: its name, what is bound in, and whether it holds
    neutron's state (the named volume at kolla's path)."""

    name: str
    binds: Tuple[str, ...] = ()
    neutron_state: bool = False


# the lab service (a daemon's name, a compute node's log name) -> kolla-ansible's container
KOLLA: Mapping[str, Spec] = {
    "nova-api": Spec("nova_api", NOVA),
    "nova-compute": Spec("nova_compute", NOVA + ("/var/lib/libvirt",)),
    "virtlogd": Spec("nova_virtlogd", LIBVIRT),
    "libvirtd": Spec("nova_libvirt", LIBVIRT),
    "neutron-dhcp-agent": Spec("neutron_dhcp_agent", NEUTRON, neutron_state=True),
    "neutron-l3-agent": Spec("neutron_l3_agent", NEUTRON, neutron_state=True),
    "neutron-metadata-agent": Spec("neutron_metadata_agent", NEUTRON, neutron_state=True),
    "neutron-ovn-metadata-agent": Spec("neutron_ovn_metadata_agent", NEUTRON + OVS, neutron_state=True),
    "neutron-linuxbridge-agent": Spec("neutron_linuxbridge_agent", NEUTRON),
    "neutron-openvswitch-agent": Spec("neutron_openvswitch_agent", NEUTRON + OVS),
    "ovsdb-server": Spec("openvswitch_db", OVS),
    "ovs-vswitchd": Spec("openvswitch_vswitchd", OVS),
    "ovn-nbdb": Spec("ovn_nb_db", OVN),
    "ovn-sbdb": Spec("ovn_sb_db", OVN),
    "ovn-northd": Spec("ovn_northd", OVN),
    "ovn-controller": Spec("ovn_controller", OVN),
}


def state_file(lab) -> Path:
    return lab.state / "containers"


def recorded(lab) -> bool:
    """Whether the lab was last brought up with its services in containers."""
    return state_file(lab).exists()


def record(lab) -> None:
    if lab.containers:
        state_file(lab).write_text(f"{SHAPE}\n")
    else:
        state_file(lab).unlink(missing_ok=True)


def neutron_config(lab) -> Path:
    """The extra configuration file of the agents holding neutron's state: kolla's ``state_path``."""
    return lab.etc / "kolla-neutron-state.conf"


def write_neutron_config(lab) -> None:
    path = neutron_config(lab)
    text = f"# written by pytest-oslab: neutron's state as kolla-ansible keeps it\n[DEFAULT]\nstate_path = {KOLLA_STATE}\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def run_argv(service: str, argv: Sequence[str], user: str = "root", config: Optional[Path] = None,
             exists: Callable[[str], bool] = lambda p: Path(p).exists()) -> List[str]:
    """``podman run`` of the lab service ``service`` (a key of ``KOLLA``) running ``argv`` as ``user``, in the
    foreground; ``config`` (an extra ``--config-file``) for an agent holding neutron's state."""
    spec = KOLLA[service]
    command = list(argv)
    if spec.neutron_state and config is not None:
        command += ["--config-file", str(config)]
    if user != "root":
        # the container runs as root and the daemon as its user: ``podman exec`` into a container started with
        # ``--user`` looks that user up in the root filesystem, which (an overlay mounted in podman's own mount
        # namespace) it does not see from the node's shell
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *command]
    out = [*PODMAN, "run", "--rm", "--replace", "--name", spec.name, "--label", LABEL,
           "--network", "host", "--pid", "host", "--uts", "host", "--ipc", "host", "--privileged",
           "--security-opt", "label=disable",
           *limits()]
    seen = set()
    for path in COMMON + spec.binds:
        if path not in seen and exists(path):
            seen.add(path)
            out += ["-v", f"{path}:{path}"]
    out += ["-v", f"{NETNS}:{NETNS}:shared"]
    if spec.neutron_state:
        out += ["-v", f"{STATE_VOLUME}:{KOLLA_STATE}"]
    return out + ["--rootfs", "/:O", *command]


NPROC = 32768  # what crun could set here (65536 and `--ulimit host` were refused)


def limits() -> List[str]:
    """``--ulimit`` arguments within this process's own hard limits: without CAP_SYS_RESOURCE, as on this kind of
    machine, crun cannot raise them (podman's defaults are higher, and crun then refuses to start the container)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 65536 if nofile == resource.RLIM_INFINITY else min(nofile, 65536)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={NPROC}:{NPROC}"]


def hybrid_cgroups() -> bool:
    """Whether this machine mounts cgroup v2 beside the v1 controllers (a lab node's init unmounts it)."""
    try:
        return bool(UNIFIED.read_text().strip())
    except OSError:
        return False


def hybrid_safe(argv: Sequence[str], hybrid: Optional[bool] = None) -> List[str]:
    """``argv`` as run here: in a mount namespace without the hybrid cgroup v2 mount when the machine has one.
    Mount propagation is left as it is (``/run/netns`` stays shared with the node); the cgroup tree is made
    private first, so that unmounting its v2 part there leaves the node's alone."""
    if not (hybrid_cgroups() if hybrid is None else hybrid):
        return list(argv)
    return ["unshare", "--mount", "--propagation", "unchanged", "sh", "-c",
            f"mount --make-rprivate /sys/fs/cgroup && umount /sys/fs/cgroup/unified && exec {shlex.join(argv)}"]


def contained(service: str, argv: Sequence[str], user: str = "root", config: Optional[Path] = None,
              hybrid: Optional[bool] = None) -> List[str]:
    """The command that runs the lab service in its kolla container, as started on the node it belongs to
    (``hybrid``: whether that node mounts cgroup v2 beside v1; None: as this machine does)."""
    return hybrid_safe(run_argv(service, argv, user, config), hybrid)


def shared_netns_script() -> str:
    """Shell that makes ``/run/netns`` a shared mount (as ``ip netns add`` does), keeping the namespaces in it.
    It binds the directory onto itself only when it is not a mount already: ``mountpoint`` cannot tell, since a
    node's /run/netns may still list the machine's mount that its own /run hides."""
    return (f"mkdir -p {NETNS} && {{ mount --make-shared {NETNS} 2>/dev/null || "
            f"{{ mount --rbind {NETNS} {NETNS} && mount --make-shared {NETNS}; }}; }}")


def share_netns(enter: Sequence[str] = ()) -> None:
    """``/run/netns`` shared in the namespaces ``enter`` names (nsenter's arguments; none: this machine's)."""
    done = subprocess.run([*enter, "sh", "-c", shared_netns_script()], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise LabError(f"could not make {NETNS} a shared mount: {done.stderr.strip()[:200]}")


def _podman(argv: Sequence[str], enter: Sequence[str] = ()) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([*enter, *argv], capture_output=True, text=True, timeout=BOUND)
    except FileNotFoundError:
        raise LabError("podman is not installed (apt-get install podman)") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"`{shlex.join(argv)}` did not finish within {BOUND}s") from None


def listed(enter: Sequence[str] = ()) -> List[dict]:
    """The lab's containers on a node (``enter``: nsenter's arguments; none: this machine), running or not
    (``podman ps -a --format json``, our label only)."""
    done = _podman([*PODMAN, "ps", "-a", "--filter", f"label={LABEL}", "--format", "json"], enter)
    if done.returncode != 0:
        raise LabError(f"podman ps: {done.stderr.strip()[-200:]}")
    return json.loads(done.stdout or "[]") or []


def states(enter: Sequence[str] = ()) -> Dict[str, str]:
    """{container name: its state} of the lab's containers on a node."""
    return {name: c.get("State", "?") for c in listed(enter) for name in c.get("Names", [])}


def remove_all(enter: Sequence[str] = (), volume: bool = False) -> List[str]:
    """Remove the lab's containers on a node (ours only: by the label they were started with; a container whose
    podman was killed outlives it), with ``volume`` also the named volume; return what was removed."""
    if not shutil.which("podman"):
        return []
    removed = []
    for container in listed(enter):
        _podman([*PODMAN, "rm", "-f", "-t", "5", container["Id"]], enter)
        removed.append("container " + ", ".join(container.get("Names", [])))
    if volume:
        done = _podman([*PODMAN, "volume", "rm", "-f", STATE_VOLUME], enter)
        if done.returncode == 0 and done.stdout.strip():
            removed.append(f"volume {STATE_VOLUME}")
    return removed


def ended(listing: Sequence[dict], alive: Callable[[int], bool]) -> List[dict]:
    """The containers of ``listing`` (``podman ps -a --format json``) that no longer run: stopped, or recorded as
    running by a podman whose monitor was killed with it (a session's end kills every process, conmon too, and
    podman's state then says ``running`` for good: ``ps --sync`` does not change it), told by their process
    (``alive``: is that PID a process of the node)."""
    return [c for c in listing if c.get("State") != "running" or not (c.get("Pid") and alive(int(c["Pid"])))]


def _alive_on(enter: Sequence[str]) -> Callable[[int], bool]:
    def alive(pid: int) -> bool:
        try:
            done = subprocess.run([*enter, "test", "-d", f"/proc/{pid}"], capture_output=True, timeout=BOUND)
        except subprocess.TimeoutExpired:  # said by ``tidy`` as the podman commands' bound is
            raise LabError(f"whether PID {pid} runs was not answered within {BOUND}s") from None
        return done.returncode == 0
    return alive


def remove_stopped(enter: Sequence[str] = ()) -> List[str]:
    """Remove the lab's containers on a node that no longer run (``ended``: a node that was ended leaves its
    containers recorded in its storage as created or exited, a session's end as running); return their names."""
    if not shutil.which("podman"):
        return []
    gone = []
    for container in ended(listed(enter), _alive_on(enter)):
        _podman([*PODMAN, "rm", "-f", "-t", "0", container["Id"]], enter)
        gone += container.get("Names", [])
    return gone


def tidy(enter: Sequence[str] = ()) -> List[str]:
    """``remove_stopped`` as a tidy-up: what it did, in words; a failure is said, not raised (a node's services do
    not depend on it)."""
    try:
        return [f"container {name} of an earlier start removed" for name in remove_stopped(enter)]
    except LabError as exc:
        return [f"the lab's earlier containers not looked at ({exc})"]
