"""``oslab lab up|status|down``: the embedded reference cloud on this machine."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import List, Optional

from . import daemons
from .context import DRIVERS, OVS_FIREWALLS, Lab
from . import upgrade as lab_upgrade
from .release import RELEASES, recorded as recorded_release, with_release
from .steps import LabError, Progress, run_steps
from .switch import record, recorded
from .plan import steps
from .packages import check_host
from .devstack import steps as devstack_steps
from .node import count_file, down as node_down, init_pid, made
from .compute_node import missing, scale
from .identity import admin_connection, CloudsYamlStep
from .services import all_daemons, every_daemon, infrastructure
from .host import loopback_ok, remove_plumbing, stop_neutron_children
from .resources import ComputeReadyStep, DhcpServedStep, ResourcesStep
from .image import GuestImageStep
from .purge import purge_data, purge_files
from .virt import destroy_lab_domains
from . import containers, node as nodes, node_ovn


def _lab(args) -> Lab:
    old = (recorded(Lab()) or "linuxbridge").split()
    driver = getattr(args, "driver", None) or old[0]
    firewall = getattr(args, "firewall", None) or (old[1] if len(old) > 1 and driver == old[0] else "openvswitch")
    shape = getattr(args, "containers", None)
    return Lab(driver=driver, firewall=firewall,
               containers=containers.recorded(Lab()) if shape is None else shape)


def up(args) -> int:
    progress = Progress()
    try:
        check_host()
        lab = _lab(args)
        if lab.driver not in DRIVERS:
            raise LabError(f"unknown driver {lab.driver!r} (choose from {', '.join(DRIVERS)})")
        lab.ensure_dirs()
        for line in containers.tidy():  # the controller's (a session's end leaves them recorded as running)
            progress.line(line)
        release = getattr(args, "release", None) or recorded_release(lab)
        run_steps(with_release(steps(lab), release, lab_upgrade.openstack_daemons), lab, progress)
        record(lab)
        containers.record(lab)
        _scale(lab, args, progress)
        if getattr(args, "profile", None):
            run_steps(devstack_steps(lab), lab, progress)
    except LabError as exc:
        progress.line(f"FAILED: {exc}")
        sys.stderr.write(f"oslab lab up: {exc}\n")
        sys.stderr.write("oslab lab up: daemons already started are left running; `oslab lab status` lists "
                         "them, `oslab lab down` stops them\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("oslab lab up: interrupted; `oslab lab status` shows what runs\n")
        return 130
    also = " (and `devstack`, `devstack-admin`)" if getattr(args, "profile", None) else ""
    shape = ", services in kolla-ansible's containers" if lab.containers else ""
    progress.line(f"lab is up (driver {lab.driver}{shape}); clouds `lab` and `lab-admin`{also} in "
                  "/etc/openstack/clouds.yaml")
    return 0


def _scale(lab, args, progress) -> None:
    """``--nodes N``: computes 1..N-1 beside the controller (recorded, so that a later `up` heals them)."""
    recorded = count_file(lab)
    asked = getattr(args, "nodes", None)
    if asked is None and not recorded.exists():
        return  # one node, as ever: no compute to heal
    count = asked or int(recorded.read_text())
    started = time.monotonic()
    scale(lab, count, admin_connection(lab), say=progress.line)
    if count == 1:
        recorded.unlink(missing_ok=True)  # one node again: later `up`s need not look for computes
    else:
        recorded.write_text(f"{count}\n")
    if not CloudsYamlStep().done(lab):  # the nodes' entries and host keys, as the node count is now
        CloudsYamlStep().run(lab)
    progress.line(f"nodes ... {count} (the controller and {count - 1} compute) ({time.monotonic() - started:.1f}s)")


def status(args) -> int:
    lab = _lab(args)
    healthy = True
    for d in all_daemons(lab):
        pid = daemons.recorded_pid(d, lab.pids)
        if pid and daemons.is_ready(d):
            state = f"running (pid {pid})"
        elif pid:
            state, healthy = f"not answering (pid {pid})", False
        else:
            state, healthy = "dead", False
        note = "  (started with an older configuration: `oslab lab up` restarts it)" if (
            pid and daemons.outdated(d, lab.pids)) else ""
        print(f"{d.name:28} {state:26} log: {d.log}{note}")
    for node in made(lab):
        if init_pid(node):
            problems = missing(node)
            healthy &= not problems
            print(f"node {node.name:23} " + ("; ".join(problems) if problems else f"up ({node.ssh_spec})"))
    if not loopback_ok():
        print("127.0.0.1 is missing from lo: every lab API listens there (`ip addr add 127.0.0.1/8 dev lo`)")
        healthy = False
    if healthy:
        if not ComputeReadyStep().done(lab):
            print("compute service or network agents not up (see `openstack --os-cloud lab-admin network agent list`)")
            healthy = False
        elif not ResourcesStep(_built_image()).done(lab):
            print("the lab's networks, router, flavor, image or keypair are missing: run `oslab lab up`")
            healthy = False
        elif not DhcpServedStep().done(lab):
            print("a network of the DHCP agent has no dnsmasq yet (the agent may still be resyncing: see "
                  f"{lab.logs / 'neutron-dhcp-agent.log'})")
            healthy = False
    print("lab: healthy" if healthy else "lab: UNHEALTHY")
    return 0 if healthy else 1


def _built_image():
    return GuestImageStep()


def down(args) -> int:
    lab = _lab(args)
    ended_nodes = [n for n in made(lab) if node_down(n)]
    ended = [n.name for n in ended_nodes]
    if lab.driver == "ovn":  # while the southbound DB still runs: no chassis left with tunnels to a dead node
        ended += [line for n in ended_nodes for line in node_ovn.forget(n)]
    try:
        domains = destroy_lab_domains(lab)
    except LabError as exc:
        sys.stderr.write(f"oslab lab down: {exc}\n")
        domains = []
    # the services go before their databases: an idle connection's open transaction holds a metadata lock that
    # would keep DROP DATABASE waiting for ever; MariaDB, RabbitMQ and memcached go last
    base = {d.name for d in infrastructure(lab)}
    order = list(reversed(every_daemon(lab)))
    stopped = [d.name for d in order if d.name not in base and daemons.stop(d, lab.pids)]
    purged = []
    if args.purge:
        lab.ensure_dirs()
        try:
            purged = purge_data(lab)
        except LabError as exc:
            sys.stderr.write(f"oslab lab down: {exc}\n")
            return 1
    stopped += [d.name for d in order if d.name in base and daemons.stop(d, lab.pids)]
    stopped += stop_neutron_children()
    stopped += containers.remove_all(volume=args.purge)
    removed = remove_plumbing(lab)
    if args.purge:
        purged += purge_files(lab)
        print(f"purged: {', '.join(purged)}")
    print(f"nodes ended: {', '.join(ended) or 'none'}")
    print(f"stopped: {', '.join(stopped) or 'nothing'}")
    print(f"guests destroyed: {', '.join(domains) or 'none'}")
    print(f"removed devices and namespaces: {', '.join(removed) or 'none'}")
    return 0


def upgrade(args) -> int:
    lab = _lab(args)
    progress = Progress()
    try:
        check_host()
        lab.ensure_dirs()
        progress = lab_upgrade.TimelineProgress(lab_upgrade.timeline(lab))
        run_steps(lab_upgrade.steps(lab), lab, progress)
    except LabError as exc:
        progress.line(f"FAILED: {exc}")
        sys.stderr.write(f"oslab lab upgrade: {exc}\n")
        sys.stderr.write("oslab lab upgrade: the steps before it are kept; fix the cause and run "
                         "`oslab lab upgrade` again to resume (or `oslab lab up` to heal)\n")
        return 1
    progress.line(f"lab upgraded ({progress.elapsed():.1f}s)")
    return 0


def node_command(args) -> int:
    lab = _lab(args)
    try:
        chosen = ([nodes.named(n, args.number, lab) for n in args.names] if args.names
                  else nodes.made(lab))
        failed = False
        for node in chosen:
            if args.action == "up":
                lab.ensure_dirs()
                started = time.monotonic()
                done = nodes.up(node)
                print(f"node {node.name} ({node.ssh_spec}, key {nodes.key_file(lab)}): "
                      f"{'; '.join(done) or 'already up'} ({time.monotonic() - started:.1f}s)")
            elif args.action == "down":
                print(f"node {node.name}: ended {', '.join(nodes.down(node)) or 'nothing (not running)'}")
            else:
                missing = nodes.missing(node)
                failed |= bool(missing)
                print(f"node {node.name} ({node.ssh_spec}): " + ("; ".join(missing) if missing else
                      f"up (init pid {nodes.init_pid(node)}, hostname {nodes.hostname(node)}, sshd answers)"))
    except LabError as exc:
        sys.stderr.write(f"oslab lab node {args.action}: {exc}\n")
        return 1
    return 1 if failed else 0


def containers_command(args) -> int:
    """``oslab lab containers``: each node's containers of the lab's services (``lab up --containers``)."""
    lab = _lab(args)
    try:
        places = [(lab.hostname, [])] + [(n.name, nodes.enter(init_pid(n))) for n in made(lab) if init_pid(n)]
        for name, enter in places:
            for container, state in sorted(containers.states(enter).items()):
                print(f"{name:12} {container:28} {state}")
    except LabError as exc:
        sys.stderr.write(f"oslab lab containers: {exc}\n")
        return 1
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="oslab lab", description="the embedded reference OpenStack cloud")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="install (first time) and start the lab; re-run to heal it")
    p_up.add_argument("--driver", choices=DRIVERS,
                      help="ML2 mechanism driver (default: the lab's current one, else linuxbridge); "
                           "another driver than the lab's rebuilds its networking")
    p_up.add_argument("--nodes", type=int, choices=(1, 2, 3),
                      help="the controller and N-1 compute nodes, each its own namespaces, libvirtd, nova-compute "
                           "and the driver's L2 agent (default: as last brought up, else 1)")
    p_up.add_argument("--firewall", choices=OVS_FIREWALLS,
                      help="security-group firewall on the openvswitch driver (default: openvswitch)")
    p_up.add_argument("--release", choices=RELEASES,
                      help="OpenStack packages at the point release (pinned) or with the security updates "
                           "(default: the lab's current one, else security)")
    p_up.add_argument("--profile", choices=("devstack",),
                      help="also name and shape the lab as that installer leaves a cloud: devstack's project demo, "
                           "networks public (external, not shared), private and shared, router1, flavors, a "
                           "cirros-like image and clouds devstack/devstack-admin (linuxbridge only; not "
                           "remembered: a later `up` keeps what it made but does not remake it)")
    sub.add_parser("upgrade", help="upgrade the lab in place from the point release to the security updates: "
                                   "packages, database migrations, rolling restarts, nova-status upgrade check")
    sub.add_parser("status", help="each service: running or dead, with its log; exit 1 when unhealthy")
    p_down = sub.add_parser("down", help="stop the lab's own processes and remove its devices and namespaces")
    p_down.add_argument("--purge", action="store_true",
                        help="also drop the lab's databases, images, guests' disks, keys and clouds.yaml entries, "
                             "so that the next `up` starts from scratch (packages stay installed)")
    p_node = sub.add_parser("node", help="a lab node: its own namespaces, management address and sshd")
    p_node.add_argument("action", choices=("up", "down", "status"))
    p_node.add_argument("names", nargs="*", help="computeN (default for down/status: every node made)")
    p_node.add_argument("--number", type=int,
                        help="the last byte of its management address (computeN: 10+N)")
    p_up.add_argument("--containers", action=argparse.BooleanOptionalAction, default=None,
                      help="run the agents, libvirt, nova-compute, nova's API and Open vSwitch/OVN of every node in "
                           "podman containers laid out as kolla-ansible lays them out (kolla's names, neutron's "
                           "state in the named volume at /var/lib/neutron/kolla); --no-containers: on the hosts "
                           "again (default: as last brought up, else not)")
    sub.add_parser("containers", help="each node's containers of the lab's services (`lab up --containers`)")
    args = parser.parse_args(argv)
    # a step's `done` check asks Keystone while it may still be down; that is an answer ("not done"), not a
    # warning to print (a real failure still ends as the step's one line)
    logging.getLogger("keystoneauth").setLevel(logging.ERROR)
    return {"up": up, "status": status, "down": down, "upgrade": upgrade, "node": node_command,
            "containers": containers_command}[args.command](args)
