"""``oslab lab containers up|down|status``: kolla-ansible's tool containers beside the lab, for the kolla profile.

Each container has the name kolla-ansible gives the service (``nova_libvirt``, ``neutron_dhcp_agent``, ...) and is
made from this machine's own Debian installation (``podman run --rootfs /:O``: an overlay of ``/``, so nothing
written inside reaches the host), with the host's network and PID namespaces as kolla runs its agents, and the
mounts through which the tool reaches the service: libvirt's and Open vSwitch's sockets, neutron's state directory
at kolla's path (``/var/lib/neutron`` mounted at ``/var/lib/neutron/kolla``). Each runs ``sleep``: the lab's
daemons stay where ``oslab lab up`` started them, so this proves the access layer's ``podman exec`` path
(``oslab.deployment: kolla``) on the real lab; it does not move the services into containers.

On a machine whose cgroup v2 ``unified`` mount holds a controller (cgroups v1 + v2 hybrid, no systemd), crun
refuses to create a container ("cgroups in hybrid mode not supported"); ``podman run`` then runs in a mount
namespace of its own without that mount. ``podman exec`` works from the host as it is.
"""
from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

from .steps import LabError

LABEL = "oslab-lab=kolla-tools"
UNIFIED = Path("/sys/fs/cgroup/unified/cgroup.controllers")
BOUND = 60  # seconds, any one podman command


@dataclass(frozen=True)
class Spec:
    name: str
    mounts: Tuple[str, ...] = ()
    privileged: bool = False


# the kolla-ansible containers whose tools the checks call on a one-node Linux bridge or OVS lab
KOLLA = (
    Spec("nova_libvirt", ("/run/libvirt:/run/libvirt",)),
    Spec("nova_api"),
    Spec("neutron_dhcp_agent", ("/var/lib/neutron:/var/lib/neutron/kolla",)),
    Spec("neutron_linuxbridge_agent", privileged=True),
    Spec("neutron_openvswitch_agent", privileged=True),
    Spec("openvswitch_vswitchd", ("/run/openvswitch:/run/openvswitch",)),
)


def run_argv(spec: Spec) -> List[str]:
    argv = ["podman", "--cgroup-manager=cgroupfs", "--events-backend=file", "run", "-d", "--name", spec.name,
            "--label", LABEL, "--network", "host", "--pid", "host",
            # no CAP_SYS_RESOURCE here: limits within the machine's own
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
    if spec.privileged:
        argv.append("--privileged")
    for mount in spec.mounts:
        argv += ["-v", mount]
    return argv + ["--rootfs", "/:O", "sleep", "infinity"]


def _shell(argv: Sequence[str]) -> List[str]:
    """``argv`` as run here: in a mount namespace without the hybrid cgroup v2 mount when the machine has one."""
    try:
        hybrid = bool(UNIFIED.read_text().strip())
    except OSError:
        hybrid = False
    if not hybrid:
        return list(argv)
    return ["unshare", "-m", "sh", "-c", f"umount /sys/fs/cgroup/unified && exec {shlex.join(argv)}"]


def _podman(argv: Sequence[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=BOUND)
    except FileNotFoundError:
        raise LabError("podman is not installed (apt-get install podman)") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"`{shlex.join(argv)}` did not finish within {BOUND}s") from None


def listed() -> List[dict]:
    """The lab's tool containers, running or not (``podman ps -a --format json``, our label only)."""
    done = _podman(["podman", "ps", "-a", "--filter", f"label={LABEL}", "--format", "json"])
    if done.returncode != 0:
        raise LabError(f"podman ps: {done.stderr.strip()[-200:]}")
    return json.loads(done.stdout or "[]") or []


def up(specs: Sequence[Spec] = KOLLA, say: Callable[[str], None] = print) -> None:
    running = {n for c in listed() if c.get("State") == "running" for n in c.get("Names", [])}
    for spec in specs:
        if spec.name in running:
            say(f"{spec.name} ... running")
            continue
        _podman(["podman", "rm", "-f", spec.name])  # a stopped one of ours, or none
        done = _podman(_shell(run_argv(spec)))
        if done.returncode != 0:
            raise LabError(f"container {spec.name}: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        say(f"{spec.name} ... started ({done.stdout.strip()[:12]})")


def down(say: Callable[[str], None] = print) -> None:
    """Remove the lab's tool containers (ours only: by the label they were started with)."""
    for container in listed():
        cid = container["Id"]
        _podman(["podman", "rm", "-f", "-t", "1", cid])
        say(f"{', '.join(container.get('Names', []))} ... removed")
