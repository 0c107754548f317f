"""A compute node of the lab: a lab node (``node.py``) running its own virtlogd, libvirtd, nova-compute and L2
agent of the lab's driver (the Linux bridge agent; or the Open vSwitch agent on the node's own Open vSwitch,
``node_switch.py``; or on ML2/OVN, on that same Open vSwitch, an OVN chassis: ovn-controller and the OVN metadata
agent, ``node_ovn.py``), joined to the controller (the machine's one-node lab).

The controller's services listen on 127.0.0.1 only and its catalog says so (OVN's databases aside, which listen on
the controller's management address too, ``services.ovn_db_remotes``): each node gets forwarders of the ports
a compute uses (``forwarded``), a haproxy on the machine's side (in the node's PID and mount namespaces, the
machine's network: it dies with the node) from a Unix socket in the node's directory to 127.0.0.1:port, and one
inside the node from 127.0.0.1:port to that socket. The node's /etc/nova and /etc/neutron are copies of the
controller's, bound over the machine's: nova.conf without its database connections (Zed's nova-compute opens the
database when they are set), ``host`` and ``my_ip`` the node's; the agent's ``local_ip`` the node's management
address, its provider mapping ``prov0`` (on Open vSwitch: br-provider, holding ``prov0``): the node's end of a veth whose other end is a port of the provider
network's switch in the upstream namespace (``host.PROVIDER_SWITCH``), so the flat network reaches each node on a
link of its own. Servers move between the computes (``migration.py``): nova's SSH between them, each libvirtd
also on TCP at its node's management address. A daemon of the node started with another command line or
configuration than ``up`` would give it now is restarted. Not yet: a cgroup tree per node (guests of two nodes may
share a cgroup).
"""
from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

from . import containers, inifile, migration, node as nodes, node_ovn, node_switch, plumbing, proc, sshd
from .daemons import run_as
from .release import installed_versions, package_named, runs_older_code
from .host import PROVIDER_SWITCH, UPSTREAM_NS
from .steps import LabError

FORWARDED = (5672, 5000, 8778, 9292, 9696)  # AMQP, keystone, placement, glance, neutron
METADATA_PORT = 8775  # nova's metadata API: on ML2/OVN the node's metadata agent proxies to it
PROVIDER_DEV = "prov0"  # the node's provider interface, its veth's peer on the provider switch
AGENTS = {"linuxbridge": ("neutron-linuxbridge-agent", "linuxbridge_agent.ini"),
          "openvswitch": ("neutron-openvswitch-agent", "openvswitch_agent.ini"),
          "ovn": (node_ovn.METADATA_AGENT, node_ovn.METADATA_INI)}
# the network agents neutron lists for a node's host, alive once the node is up
NETWORK_AGENTS = {"linuxbridge": ("neutron-linuxbridge-agent",), "openvswitch": ("neutron-openvswitch-agent",),
                  "ovn": ("ovn-controller", node_ovn.METADATA_AGENT)}
SWITCHED = ("openvswitch", "ovn")  # the drivers whose nodes run their own Open vSwitch
START_WAIT = 60.0
STOP_WAIT = 20.0


def forwarded(driver: str) -> tuple:
    """The controller's loopback ports a compute node of ``driver`` reaches through its forwarders."""
    return FORWARDED + ((METADATA_PORT,) if driver == "ovn" else ())


def _forward_config(node: nodes.Node, side: str) -> str:
    lines = ["global", "  maxconn 2000", "defaults", "  mode tcp", "  timeout connect 5s",
             "  timeout client 2h", "  timeout server 2h"]
    for port in forwarded(node.lab.driver):
        sock = node.root / "forward" / f"{port}.sock"
        lines.append(f"listen p{port}")
        if side == "machine":
            lines += [f"  bind unix@{sock} mode 600", f"  server controller 127.0.0.1:{port}"]
        else:
            lines += [f"  bind 127.0.0.1:{port}", f"  server controller unix@{sock}"]
    return "\n".join(lines) + "\n"


def _copy_into(src: Path, dst: Path) -> None:
    """``dst`` made a copy of ``src`` (owners and modes too) in place: the directory is never replaced, since a
    running node has it bound over its /etc (a directory removed and made again would leave the node's daemons an
    empty, deleted one: rootwrap then says "Incorrect configuration file")."""
    dst.mkdir(parents=True, exist_ok=True)
    st = src.stat()
    shutil.chown(dst, st.st_uid, st.st_gid)
    dst.chmod(st.st_mode & 0o7777)
    wanted = {entry.name for entry in src.iterdir()}
    for gone in [e for e in dst.iterdir() if e.name not in wanted]:
        if gone.is_dir() and not gone.is_symlink():
            shutil.rmtree(gone)
        else:
            gone.unlink()
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.is_symlink():
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.is_symlink() or target.exists():
                target.unlink()
            target.symlink_to(entry.readlink())
        elif entry.is_dir():
            if target.is_symlink() or target.is_file():
                target.unlink()
            _copy_into(entry, target)
        else:
            shutil.copy2(entry, target)
            est = entry.stat()
            shutil.chown(target, est.st_uid, est.st_gid)


def configure(node: nodes.Node) -> Dict[str, Path]:
    """The node's copies of /etc/nova and /etc/neutron (brought up to date in place at each up); {machine path: the
    node's}."""
    copies = {}
    for etc in ("/etc/nova", "/etc/neutron"):
        own = node.root / "etc" / Path(etc).name
        _copy_into(Path(etc), own)
        copies[etc] = own
    nova, neutron = copies["/etc/nova"], copies["/etc/neutron"]
    inifile.edit(nova / "nova.conf", {"DEFAULT": {"host": node.name, "my_ip": node.address},
                                      "database": {"connection": None}, "api_database": {"connection": None},
                                      **migration.nova_settings(node.address)})
    inifile.edit(neutron / "neutron.conf", {"DEFAULT": {"host": node.name}, "database": {"connection": None}})
    if node.lab.driver == "openvswitch":  # bridge mappings, tunnel types and l2population as the controller's
        inifile.edit(neutron / "plugins/ml2/openvswitch_agent.ini", {"ovs": {"local_ip": node.address}})
    elif node.lab.driver == "ovn":
        node_ovn.configure(neutron, node)
    else:
        inifile.edit(neutron / "plugins/ml2/linuxbridge_agent.ini", {
            "linux_bridge": {"physical_interface_mappings": f"provider:{PROVIDER_DEV}"},
            "vxlan": {"local_ip": node.address, "l2_population": True}})
    forward = node.root / "forward"
    forward.mkdir(exist_ok=True)
    for side in ("machine", "node"):
        (forward / f"haproxy-{side}.cfg").write_text(_forward_config(node, side))
    migration.write_libvirtd_conf(libvirtd_conf(node), node.address)
    return copies


def libvirtd_conf(node: nodes.Node) -> Path:
    return node.root / "libvirtd.conf"


def _mounted(pid: int, target: str) -> bool:
    try:
        return any(line.split()[4] == target for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines())
    except OSError:
        return False


def _spawn(pid: int, argv: List[str], log: Path, namespaces: str = "-m -u -n -p", user: str = "") -> None:
    """Start ``argv`` inside the node as a child of its init (``setsid -f``), its output appended to ``log``."""
    run_as = f"setpriv --reuid {user} --regid {user} --init-groups " if user else ""
    command = f"cd / && exec {run_as}{shlex.join(argv)} >>{log} 2>&1 </dev/null"
    proc = subprocess.run(["nsenter", "-t", str(pid), *namespaces.split(), "--", "setsid", "-f", "sh", "-c",
                           command], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise LabError(f"could not start {argv[0]} in the node: {proc.stderr.strip()[:200]}")


def agent(node: nodes.Node) -> str:
    return AGENTS[node.lab.driver][0]


def fingerprint(node: nodes.Node, argv: List[str]) -> str:
    """A digest of a node daemon's command line and of the configuration files on it (the node's copies of /etc/nova
    and /etc/neutron, its own haproxy and libvirtd files): what it was started with, recorded beside the node."""
    digest = hashlib.sha256("\0".join(argv).encode())
    for arg in argv:
        path = node.root / "etc" / arg[len("/etc/"):] if arg.startswith(("/etc/nova/", "/etc/neutron/")) else Path(arg)
        if path.suffix in (".conf", ".ini", ".cfg") and path.is_file():
            digest.update(arg.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _started_file(node: nodes.Node, log: Path) -> Path:
    """Where ``up`` records the PID and fingerprint a daemon of the node was started with: one it did not start
    (another version of the lab's code, by hand) counts as started otherwise and is restarted."""
    return node.root / "started" / log.stem


def recorded(started: Path) -> tuple:
    """(PID, fingerprint) in a daemon's record, else (None, None)."""
    try:
        pid, digest = started.read_text().split()
        return int(pid), digest
    except (OSError, ValueError):
        return None, None


def _started_pid(pid: int, word: str, timeout: float = 5.0) -> int:
    """The session of the node's process holding ``word`` once ``setsid -f`` has exec'd it (0 when none in time):
    the daemon itself, or the ``--monitor`` parent of the child that holds the word (its child after a crash is new,
    its session is not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p, line in proc.command_lines_in_pid_namespace(pid).items()
                 if word in line and not line.startswith(("sh ", "setsid "))]
        sessions = {proc.session(p) for p in found} - {None}
        if sessions:
            return min(sessions)
        time.sleep(0.1)
    return 0


def _end(pids: List[int], timeout: float = STOP_WAIT) -> None:
    """SIGTERM to each of ``pids`` (processes of a node), SIGKILL to those still there after ``timeout``."""
    left = proc.end(pids, timeout)
    if left:
        raise LabError(f"processes {left} did not end after SIGKILL")


def daemons(node: nodes.Node) -> List[tuple]:
    """(a word of its command line only it has, argv, log, namespaces, user) of each service of the compute node."""
    logs = node.logs
    name, ini = AGENTS[node.lab.driver]
    switch = node_switch.daemons(node) if node.lab.driver in SWITCHED else []
    chassis = node_ovn.chassis_daemons(node) if node.lab.driver == "ovn" else []
    network_agent = node_ovn.metadata_agent(node) if node.lab.driver == "ovn" else (
        f"/usr/bin/{name}", [f"/usr/bin/{name}", "--config-file", "/etc/neutron/neutron.conf",
                             "--config-file", "/etc/neutron/plugins/ml2/ml2_conf.ini",
                             "--config-file", f"/etc/neutron/plugins/ml2/{ini}",
                             "--log-file", f"/var/log/neutron/{name}.log"],
        logs / f"{name}.out", "-m -u -n -p", "")
    listed = [
        (str(node.root / "forward/haproxy-machine.cfg"),
         ["/usr/sbin/haproxy", "-f", str(node.root / "forward/haproxy-machine.cfg")],
         logs / "haproxy-machine.log", "-m -p", ""),
        (str(node.root / "forward/haproxy-node.cfg"),
         ["/usr/sbin/haproxy", "-f", str(node.root / "forward/haproxy-node.cfg")],
         logs / "haproxy-node.log", "-m -u -n -p", ""),
        *switch,
        *chassis,
        ("/usr/sbin/virtlogd", ["/usr/sbin/virtlogd"], logs / "virtlogd.log", "-m -u -n -p", ""),
        (str(libvirtd_conf(node)), migration.libvirtd_command(libvirtd_conf(node)), logs / "libvirtd.log",
         "-m -u -n -p", ""),
        ("/usr/bin/nova-compute", ["/usr/bin/nova-compute", "--config-file", "/etc/nova/nova.conf",
                                   "--config-file", "/etc/nova/nova-compute.conf",
                                   "--log-file", "/var/log/nova/nova-compute.log"],
         logs / "nova-compute.out", "-m -u -n -p", "nova"),
        network_agent,
    ]
    return [_contained(node, entry) for entry in listed] if node.lab.containers else listed


def _contained(node: nodes.Node, entry: tuple) -> tuple:
    """A daemon of the node in its kolla container (``containers.py``), podman run inside the node as root; what
    kolla does not containerise (the forwarders, the tap guard, os-vif's relay) as it is."""
    word, argv, log, namespaces, user = entry
    if log.stem not in containers.KOLLA:
        return entry
    command = containers.contained(log.stem, argv, user or "root", containers.neutron_config(node.lab), hybrid=False)
    return word, command, log, namespaces, ""


def _ready_for_containers(node: nodes.Node, pid: int) -> List[str]:
    """The node's own container storage bound in (a node made before podman was installed lacks it), its
    /run/netns shared, and the agents' kolla state path written."""
    done = []
    if not _mounted(pid, "/var/lib/containers"):
        own = node.state_dir("/var/lib/containers")
        own.mkdir(parents=True, exist_ok=True)
        subprocess.run(nodes.enter(pid, "mount", "--bind", str(own), "/var/lib/containers"), check=True, timeout=30)
        done.append("/var/lib/containers of the node's own")
    containers.share_netns(nodes.enter(pid))
    containers.write_neutron_config(node.lab)
    return done


def up(node: nodes.Node) -> List[str]:
    """The node up as a compute of the controller: what was done (empty: it was up)."""
    done = nodes.up(node)
    pid = nodes.init_pid(node)
    copies = configure(node)
    for etc, own in copies.items():
        if not _mounted(pid, etc):
            subprocess.run(nodes.enter(pid, "mount", "--bind", str(own), etc), check=True, timeout=30)
            done.append(f"{etc} of the node's own")
    done += plumbing.ensure(provider_link(node, pid))
    for word, pids in stale(node).items():
        _end(pids)
        done.append(f"{Path(word).name} stopped: its package changed after it started")
    if node.lab.driver in SWITCHED:
        done += node_switch.prepare(node)
    if node.lab.containers:
        done += _ready_for_containers(node, pid)
    if _mounted(pid, "/var/lib/containers"):  # the node's own storage (else podman there lists the machine's)
        done += containers.tidy(nodes.enter(pid))
    settle = settling(node, pid)
    running = proc.command_lines_in_pid_namespace(pid)
    wanted = daemons(node)
    words = [w[0] for w in wanted]
    for word, argv, log, namespaces, user in wanted:
        now, started = fingerprint(node, argv), _started_file(node, log)
        mine = [p for p, line in running.items() if word in line]
        # the same program started otherwise (an older command line), holding none of today's words; not for a
        # module run by this Python (os-vif's relay), whose first word the node's other Python programs may share
        older = [] if argv[0] == sys.executable else [
            p for p, line in running.items() if line.split(" ", 1)[0] == argv[0] and not any(w in line for w in words)]
        if not (mine and not older and recorded(started) in {(proc.session(p), now) for p in mine}):
            if mine or older:
                _end(mine + older)
            _spawn(pid, argv, log, namespaces, user)
            started.parent.mkdir(exist_ok=True)
            started.write_text(f"{_started_pid(pid, word)} {now}\n")
            done.append(f"{log.stem} "
                        f"{'restarted (its command line or configuration changed)' if mine or older else 'started'}")
        if word in settle:  # the node's Open vSwitch (and OVN chassis) set up before what uses it starts
            done += settle[word]()
    return done


def settling(node: nodes.Node, pid: int) -> Dict[str, Callable[[], List[str]]]:
    """{word of a daemon: what ``up`` does once it runs, before the next daemon starts}."""
    ovn = node.lab.driver == "ovn"
    return {
        node_switch.DB_SERVER: lambda: node_switch.after_database(node, pid) + (
            node_ovn.after_database(node, node_switch.vsctl(pid)) if ovn else []),
        node_switch.SWITCH: lambda: node_switch.after_switch(node, pid, PROVIDER_DEV),
        node_ovn.CONTROLLER: lambda: node_ovn.after_controller(node),
    }


def stale(node: nodes.Node) -> Dict[str, List[int]]:
    """{word of the service: its machine PIDs} of the node's OpenStack services that started before their package
    was last installed (they run old code: the packages are the machine's, shared by every node)."""
    pid = nodes.init_pid(node)
    if pid is None:
        return {}
    installed, running, found = installed_versions(), proc.command_lines_in_pid_namespace(pid), {}
    for word, argv, log, namespaces, user in daemons(node):
        name = Path(argv[0]).name
        package = package_named(name, installed) if name.startswith(("nova-", "neutron-")) else None
        pids = [p for p, line in running.items() if word in line]
        if package and pids and any(runs_older_code(p, package) for p in pids):
            found[word] = pids
    return found


def provider_veth(node: nodes.Node) -> str:
    """The upstream namespace's end of the node's provider link."""
    return f"oslab-p{node.number}"


def provider_link(node: nodes.Node, pid: int) -> List[plumbing.Want]:
    """The node's provider interface, a veth from the provider switch (it dies with the node's namespace)."""
    inside = nodes.netns_path(pid)
    return [plumbing.Veth(provider_veth(node), PROVIDER_DEV, netns=UPSTREAM_NS, peer_netns=inside),
            plumbing.Port(provider_veth(node), PROVIDER_SWITCH, UPSTREAM_NS),
            plumbing.NoTxChecksum(provider_veth(node), UPSTREAM_NS),  # into the node's br-provider on OVS
            plumbing.Up(provider_veth(node), UPSTREAM_NS), plumbing.Up(PROVIDER_DEV, inside)]


def is_compute(node: nodes.Node) -> bool:
    return (node.root / "forward").is_dir()


def missing(node: nodes.Node) -> List[str]:
    """What of the compute node is not there or not running (empty: all runs)."""
    found = nodes.missing(node)
    pid = nodes.init_pid(node)
    if pid is None or not is_compute(node):
        return found
    found += [f"node {node.name}: {line}" for line in plumbing.missing(provider_link(node, pid))]
    running = list(proc.command_lines_in_pid_namespace(pid).values())
    if node.lab.driver in SWITCHED and any(node_switch.DB_SERVER in line for line in running):
        found += node_switch.missing(node, pid, PROVIDER_DEV)
    if node.lab.driver == "ovn" and any(node_ovn.CONTROLLER in line for line in running):
        found += node_ovn.missing(node, node_switch.vsctl(pid))
    found += [f"node {node.name}: {line}" for line in migration.nova_ssh_missing(
        node.lab.etc, nova_homes([node])[1:], sshd.host_keys(node.lab, nodes.computes(node.lab)))]
    return found + [f"node {node.name}: {log.stem} is not running (log: {log})"
                    for word, argv, log, namespaces, user in daemons(node) if not any(word in l for l in running)]


def scale(lab, count: int, conn, say=print) -> None:
    """The lab as ``count`` nodes: the controller (this machine's lab) and computes 1..count-1, each up and
    registered; any compute numbered beyond is ended and its services deleted from the cloud."""
    if count > 1 and lab.driver not in AGENTS:
        raise LabError(f"compute nodes run the drivers {', '.join(AGENTS)}; the lab's driver is {lab.driver}")
    wanted = [nodes.compute(i, lab) for i in range(1, count)]
    for node in wanted:
        started = time.monotonic()
        done = up(node)
        took = wait_registered(node, conn)
        say(f"node {node.name}: {'; '.join(done) or 'already up'} ({time.monotonic() - started - took:.1f}s), "
            f"nova-compute up, its hypervisor and resource provider listed and "
            f"{', '.join(NETWORK_AGENTS[lab.driver])} alive {took:.1f}s later")
    if wanted:
        done = migration.ensure_nova_ssh(lab.etc, nova_homes(wanted), sshd.host_keys(lab, wanted))
        say(f"nova's SSH between the computes: {'; '.join(done) or 'already there'}")
    if wanted:  # mapped to the cell now, not at the scheduler's next periodic discovery (up to 30 s)
        run_as("nova", ["nova-manage", "cell_v2", "discover_hosts"], log=lab.logs / "nova-manage.log",
               what="nova-manage cell_v2 discover_hosts")
    for node in nodes.made(lab):
        if is_compute(node) and node.name not in {n.name for n in wanted}:
            ended = nodes.down(node) + forget_in_cloud(node, conn)
            if ended:
                say(f"node {node.name}: ended: {', '.join(ended)}")


def nova_homes(computes: List[nodes.Node]) -> List[Path]:
    """nova's home on the controller and each compute node's own copy of it."""
    return [Path(migration.NOVA_HOME)] + [n.state_dir(migration.NOVA_HOME) for n in computes]


def registered(node: nodes.Node, conn) -> Dict[str, bool]:
    """Whether nova and neutron see the node's services up: {'nova-compute': up, each of its network agents
    (``NETWORK_AGENTS``): alive, 'hypervisor': listed}. The agents are filtered here, not by the API: ML2/OVN lists
    its agents from the southbound DB."""
    services = {s.binary: s.state == "up" for s in conn.compute.services() if s.host == node.name}
    agents = {a.binary: a.is_alive for a in conn.network.agents() if a.host == node.name}
    hypervisor = {h.name: h.id for h in conn.compute.hypervisors()}.get(node.name)
    return {"nova-compute": services.get("nova-compute", False),
            **{binary: agents.get(binary, False) for binary in NETWORK_AGENTS[node.lab.driver]},
            "hypervisor": hypervisor is not None,
            "resource provider": hypervisor is not None and hypervisor in _providers(node, conn)}


def _providers(node: nodes.Node, conn) -> Dict[str, object]:
    """{uuid: resource provider} of placement's providers named after the node (nova names a compute node's
    provider after its hypervisor, and gives it the compute node's uuid, which is the hypervisor's id)."""
    return {p.id: p for p in conn.placement.resource_providers(name=node.name)}


def wait_registered(node: nodes.Node, conn, timeout: float = 120.0) -> float:
    start = time.monotonic()
    while True:
        state = registered(node, conn)
        if all(state.values()):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise LabError(f"node {node.name}: not up in the cloud after {timeout:.0f}s: {state}",
                           log=str(node.logs))
        time.sleep(1)


def forget_in_cloud(node: nodes.Node, conn) -> List[str]:
    """Delete the node's compute service (its compute node and resource provider go with it) and its agents, so
    that nothing is scheduled there. On ML2/OVN neutron deletes an agent by deleting its chassis from the southbound
    DB (both of the node's agents are that chassis: the second may be gone with the first) and tells its workers to
    forget it; the chassis is then deleted from the southbound DB if still there (``node_ovn.forget``). The deleted
    service rows are archived: nova's Instance.services joins services by host without looking at ``deleted``, so
    when the node comes back a deleted row of its name could stand for it, and a cold migration from it was refused
    ("Service is unavailable at this time").

    A migration that failed leaves its allocation on the source's resource provider, and nova then keeps the
    provider when it deletes the service. When the node comes back, its nova-compute cannot create its new provider
    (409: the name is taken) and the scheduler finds no valid host there. So a provider of the node's name left
    after the service is deleted goes too, with the allocations on it (consumers of the lab's own runs on the lab's
    own node: the node is being ended)."""
    gone = []
    for service in conn.compute.services():
        if service.host == node.name:
            conn.compute.delete_service(service)
            gone.append(f"compute service {service.binary}@{node.name}")
    if gone:
        # its exit codes: 0 nothing archived, 1 rows archived, others a failure
        run_as("nova", ["sh", "-c", "nova-manage db archive_deleted_rows --until-complete; [ $? -le 1 ]"],
               log=node.lab.logs / "nova-manage.log", what="nova-manage db archive_deleted_rows")
    for uuid, provider in _providers(node, conn).items():
        consumers = [a.consumer_id for a in conn.placement.resource_provider_allocations(provider)]
        for consumer in consumers:
            conn.placement.delete_allocation(consumer)
        conn.placement.delete_resource_provider(provider)
        gone.append(f"resource provider {node.name} ({uuid})"
                    + (f" with the allocations of {', '.join(consumers)}" if consumers else ""))
    for agent in [a for a in conn.network.agents() if a.host == node.name]:
        try:
            conn.network.delete_agent(agent)
        except Exception as exc:  # openstacksdk's NotFoundException: the CLI does not import openstacksdk
            if getattr(exc, "status_code", None) != 404:
                raise
            continue
        gone.append(f"network agent {agent.binary}@{node.name}")
    return gone + (node_ovn.forget(node) if node.lab.driver == "ovn" else [])
