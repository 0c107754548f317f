"""The lab's daemons, in start order, and the steps that start them and wait until they answer.

Infrastructure first (MariaDB, memcached, epmd, RabbitMQ), then the OpenStack APIs and workers, then
libvirt, nova-compute and the Neutron agents of the lab's driver.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable, List, Sequence

from . import containers, daemons, migration, sshd
from .context import DRIVERS
from .daemons import Daemon
from .steps import LabError, Step
from .host import NEUTRON_STATE, OS_VIF_OVSDB_PORT, OVSDB_PORT, bridge_mappings, stop_neutron_children

RABBIT_ENV = {
    "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODENAME": "rabbit@localhost",
    "ERL_EPMD_ADDRESS": "127.0.0.1",
    # the Erlang distribution port listens on every address unless told otherwise
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
}
RABBITMQ_ENV_CONF = Path("/etc/rabbitmq/rabbitmq-env.conf")


def _run_dir(path: str, owner: str) -> Callable[[], None]:
    def prepare() -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        shutil.chown(path, user=owner, group=owner)
    return prepare


def _mariadb_prepare() -> None:
    _run_dir("/run/mysqld", "mysql")()
    if not Path("/var/lib/mysql/mysql").exists():
        daemons.run_as("root", ["mariadb-install-db", "--user=mysql", "--datadir=/var/lib/mysql",
                                "--auth-root-authentication-method=socket", "--skip-test-db"],
                       log=Path("/var/log/oslab/mariadb-install.log"), what="mariadb-install-db")


def _rabbit_prepare() -> None:
    _run_dir("/run/rabbitmq", "rabbitmq")()
    text = "".join(f"{k.replace('RABBITMQ_', '')}={v!r}\n".replace("'", '"') for k, v in RABBIT_ENV.items()
                   if k.startswith("RABBITMQ_"))
    RABBITMQ_ENV_CONF.write_text("# written by pytest-oslab\n" + text)


def _mysql_ping() -> bool:
    return subprocess.run(["mysqladmin", "ping"], capture_output=True).returncode == 0


def _virsh_as_nova() -> bool:
    return subprocess.run(["setpriv", "--reuid=nova", "--regid=nova", "--init-groups", "virsh", "-c",
                           "qemu:///system", "list"], capture_output=True, timeout=30).returncode == 0


CGROUP_V2_IN_HYBRID = "/sys/fs/cgroup/unified"
CGROUP_V1_DEVICES = "/sys/fs/cgroup/devices"


def _mount_points() -> set:
    try:
        return {line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if len(line.split()) > 1}
    except OSError:
        return set()


def libvirtd_argv(mounts: set = None, command: Sequence[str] = ("/usr/sbin/libvirtd",)) -> List[str]:
    """libvirtd; on a host with hybrid cgroups (v1 controllers, v2 at /sys/fs/cgroup/unified), in a mount namespace
    of its own without the v2 hierarchy, so that it keeps a domain's devices to its ACL with the v1 ``devices``
    controller. Given v2, libvirt loads a BPF program at each domain start instead, and the kernel's verifier
    gives up with EAGAIN when a signal is pending on libvirtd's thread (another boot's child exiting): nova then
    fails the build with "failed to load cgroup BPF prog: Resource temporarily unavailable" and, on one compute
    host, puts the server in ERROR (CI, once in 369 boots). qemu.conf's ``cgroup_controllers`` cannot turn this off:
    libvirt 9.0 detects a domain's own cgroup with every controller."""
    mounts = _mount_points() if mounts is None else mounts
    if CGROUP_V2_IN_HYBRID in mounts and CGROUP_V1_DEVICES in mounts:
        return ["unshare", "--mount", "--propagation", "slave", "--", "sh", "-c",
                f"umount {CGROUP_V2_IN_HYBRID} && exec {shlex.join(command)}"]
    return list(command)


def in_containers(lab, group: List[Daemon]) -> List[Daemon]:
    """The group as the lab's shape runs it: with ``--containers``, each daemon kolla-ansible containerises in its
    kolla container (``containers.py``); the others, and every daemon otherwise, as they are."""
    if not lab.containers:
        return [_leaving_kolla_state(d) if _holds_state(d) else d for d in group]
    return [_contained(lab, d) if d.name in containers.KOLLA else d for d in group]


def _holds_state(daemon: Daemon) -> bool:
    spec = containers.KOLLA.get(daemon.name)
    return bool(spec and spec.neutron_state)


def _with_first(daemon: Daemon, first: Callable[[], None]) -> Daemon:
    """The daemon with ``first`` run before its own preparation (the old daemon is stopped by then)."""
    own = daemon.prepare

    def prepare() -> None:
        first()
        if own:
            own()
    return replace(daemon, prepare=prepare)


def _leaving_kolla_state(daemon: Daemon) -> Daemon:
    """An agent holding neutron's state on the host: what its containerised self left running under kolla's state
    path (dnsmasq, haproxy: they hold the addresses and ports it needs) is stopped before it starts."""
    return _with_first(daemon, lambda: stop_neutron_children(state=containers.KOLLA_STATE + "/"))


def _contained(lab, daemon: Daemon) -> Daemon:
    spec = containers.KOLLA[daemon.name]
    config = containers.neutron_config(lab)

    def first() -> None:
        containers.share_netns()
        if spec.neutron_state:
            containers.write_neutron_config(lab)
            # what the agent left running on the host under the packages' state path holds its addresses and ports
            stop_neutron_children(state=NEUTRON_STATE, unless=containers.KOLLA_STATE + "/")

    contained = replace(daemon, argv=containers.contained(daemon.name, daemon.argv, daemon.user, config),
                        user="root", logs_owner=daemon.user,
                        configs=(*daemon.configs, config) if spec.neutron_state else daemon.configs)
    return _with_first(contained, first)


def infrastructure(lab) -> List[Daemon]:
    log = lab.logs
    return [
        Daemon("mariadb", ["/usr/sbin/mariadbd", "--user=mysql", "--bind-address=127.0.0.1", "--port=3306",
                           "--max-connections=500", "--socket=/run/mysqld/mysqld.sock"],
               log=log / "mariadb.log", port=3306, ready=_mysql_ping, prepare=_mariadb_prepare),
        Daemon("memcached", ["/usr/bin/memcached", "-l", "127.0.0.1", "-p", "11211", "-m", "64"], user="memcache",
               log=log / "memcached.log", port=11211),
        Daemon("epmd", ["/usr/bin/epmd", "-address", "127.0.0.1"], user="rabbitmq", log=log / "epmd.log",
               port=4369),
        Daemon("rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], user="rabbitmq", log=log / "rabbitmq.log",
               port=5672, env=RABBIT_ENV,
               prepare=_rabbit_prepare, timeout=180),
    ]


def _py(name: str, user: str, log_dir: Path, *config: str, port: int = None, http: str = None) -> Daemon:
    argv = [f"/usr/bin/{name}"]
    for c in config:
        argv += ["--config-file", c]
    argv += ["--log-file", str(log_dir / f"{name}.log")]
    return Daemon(name, argv, user=user, log=log_dir / f"{name}.out", port=port, http=http, timeout=240,
                  own_logs=(log_dir / f"{name}.log",))


NOVA = ("/etc/nova/nova.conf",)
NEUTRON = ("/etc/neutron/neutron.conf", "/etc/neutron/plugins/ml2/ml2_conf.ini")


def identity_api(lab) -> List[Daemon]:
    return [daemons.uwsgi("keystone", "keystone", 5000, "/usr/bin/keystone-wsgi-public", lab.logs / "keystone.log")]


def openstack_apis(lab) -> List[Daemon]:
    """The services that authenticate against Keystone: started once their users exist."""
    log = lab.logs
    return in_containers(lab, [
        _py("glance-api", "glance", log, "/etc/glance/glance-api.conf", port=9292),
        daemons.uwsgi("placement", "placement", 8778, "/usr/bin/placement-api", log / "placement.log"),
        _py("nova-api", "nova", log, *NOVA, port=8774),
        _py("nova-conductor", "nova", log, *NOVA),
        _py("nova-scheduler", "nova", log, *NOVA),
        _py("neutron-server", "neutron", log, *NEUTRON, port=9696),
    ])


OVS_RUN = "/run/openvswitch"
OVS_DB = "/etc/openvswitch/conf.db"


def _vsctl_ok() -> bool:
    return subprocess.run(["ovs-vsctl", "--timeout=5", "show"], capture_output=True).returncode == 0


def _ovsdb_prepare() -> None:
    Path(OVS_RUN).mkdir(parents=True, exist_ok=True)
    if not Path(OVS_DB).exists():
        daemons.run_as("root", ["ovsdb-tool", "create", OVS_DB, "/usr/share/openvswitch/vswitch.ovsschema"],
                       what="ovsdb-tool create")


def userspace_tso(driver: str) -> str:
    """Userspace TSO (read once, as ovs-vswitchd starts): on ML2/OVN, whose metadata namespaces reach br-int through
    veths that carry TCP with partial checksums (without it userspace conntrack marks them invalid: metadata and
    SSH die, DHCP and ping work); off on ML2/OVS, where OVS 3.1 drops at a vxlan tunnel every packet that carries
    offload flags, and the lab's veths into OVS send complete checksums instead (``plumbing.NoTxChecksum``)."""
    return "true" if driver == "ovn" else "false"


def _vswitchd_prepare(lab) -> Callable[[], None]:
    def prepare() -> None:
        # ovsdb-server starts in the same step: its socket may not be there yet
        deadline = time.monotonic() + 30
        while not _vsctl_ok() and time.monotonic() < deadline:
            time.sleep(0.2)
        daemons.run_as("root", ["ovs-vsctl", "--timeout=20", "--no-wait", "init", "--", "set", "Open_vSwitch", ".",
                                f"other_config:userspace-tso-enable={userspace_tso(lab.driver)}"],
                       what="ovs-vsctl init")
    return prepare


def _vswitchd_ready() -> bool:
    return subprocess.run(["ovs-appctl", "-t", f"{OVS_RUN}/ovs-vswitchd.ctl", "version"],
                          capture_output=True).returncode == 0


TAP_GUARD, TAP_GUARD_MODULE = "tap-guard", "pytest_oslab.lab.tap_guard"


def virtual_switch(lab) -> List[Daemon]:
    """Open vSwitch's database and switch, run in the foreground like every lab daemon (empty on Linux bridge)."""
    if lab.driver == "linuxbridge":
        return []
    log = lab.logs
    return in_containers(lab, [
        Daemon("ovsdb-server", ["/usr/sbin/ovsdb-server", OVS_DB, f"--remote=punix:{OVS_RUN}/db.sock",
                                "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
                                f"--unixctl={OVS_RUN}/ovsdb-server.ctl", f"--log-file={log / 'ovsdb-server.log'}"],
               log=log / "ovsdb-server.out", ready=_vsctl_ok, prepare=_ovsdb_prepare),
        # --monitor as Debian's ovs-ctl starts it (and each compute node's, node_switch.py): OVS 3.1's userspace
        # conntrack assertion (conn_update_state) killed the controller's too, in CI's OVN run, and with it every
        # data path; the monitor restarts it. Stopping the lab's process group ends both processes.
        Daemon("ovs-vswitchd", ["/usr/sbin/ovs-vswitchd", f"unix:{OVS_RUN}/db.sock",
                                f"--unixctl={OVS_RUN}/ovs-vswitchd.ctl", "--monitor",
                                f"--log-file={log / 'ovs-vswitchd.log'}"],
               log=log / "ovs-vswitchd.out", ready=_vswitchd_ready, prepare=_vswitchd_prepare(lab)),
        # a guest's tap whose "up" ovs-vswitchd overwrote as it took it, brought up (lab/tap_guard.py says why)
        Daemon(TAP_GUARD, [sys.executable, "-m", TAP_GUARD_MODULE], log=log / "tap-guard.log", settle=2.0),
    ])


OVN_RUN, OVN_DATA = "/run/ovn", "/var/lib/ovn"
OVN_NB_PORT, OVN_SB_PORT = 6641, 6642


def ovn_remote(lab, port: int = OVN_SB_PORT) -> str:
    """Where a compute node's OVN clients reach the controller's database on ``port`` (southbound: ovn-controller
    and the OVN metadata agent; northbound: the suite's OVN checks run on the node): its management address."""
    return f"tcp:{lab.tunnel_ip}:{port}"


def ovn_db_remotes(lab, which: str, port: int) -> List[str]:
    """An OVN database's remotes: its Unix socket; TCP on 127.0.0.1 for the controller's own clients (neutron-server,
    its ovn-controller and metadata agent) and on the controller's management address for the compute nodes, no
    other address. On ML2/OVN that address lives on br-underlay, made after the databases start: ovsdb-server
    keeps a remote whose address is not there yet and binds it when it appears (it retries each failed listen,
    logging "listen failed: Cannot assign requested address" meanwhile)."""
    return [f"--remote=punix:{OVN_RUN}/ovn{which}_db.sock", f"--remote=ptcp:{port}:127.0.0.1",
            f"--remote=ptcp:{port}:{lab.tunnel_ip}"]


def _ovn_db(lab, which: str, port: int) -> Daemon:
    db = f"{OVN_DATA}/ovn{which}_db.db"
    log = lab.logs

    def prepare() -> None:
        Path(OVN_RUN).mkdir(parents=True, exist_ok=True)
        if not Path(db).exists():
            daemons.run_as("root", ["ovsdb-tool", "create", db, f"/usr/share/ovn/ovn-{which}.ovsschema"],
                           what=f"ovsdb-tool create ovn{which}")

    return Daemon(f"ovn-{which}db", ["/usr/sbin/ovsdb-server", db, *ovn_db_remotes(lab, which, port),
                                     f"--unixctl={OVN_RUN}/ovn{which}_db.ctl",
                                     f"--log-file={log / f'ovn-{which}db.log'}"],
                  log=log / f"ovn-{which}db.out", port=port, prepare=prepare)


def ovn_chassis_ids(name: str, remote: str, encap_ip: str, gateway: bool = False) -> dict:
    """The external_ids of a chassis' Open vSwitch that ovn-controller reads: its name, its southbound DB, its
    Geneve endpoint, br-int on the userspace datapath and the physical networks' bridges (``bridge_mappings``)."""
    return {"system-id": name, "hostname": name, "ovn-remote": remote, "ovn-encap-type": "geneve",
            "ovn-encap-ip": encap_ip, "ovn-bridge-datapath-type": "netdev",
            "ovn-bridge-mappings": bridge_mappings(gateway)}


def vsctl_set_ids(ids: dict) -> List[str]:
    """ovs-vsctl arguments setting ``ids`` in the Open_vSwitch row's external_ids."""
    return ["set", "Open_vSwitch", "."] + [f'external_ids:{k}="{v}"' for k, v in ids.items()]


def _ovn_chassis_prepare(lab) -> Callable[[], None]:
    def prepare() -> None:
        ids = {**ovn_chassis_ids(lab.hostname, f"tcp:127.0.0.1:{OVN_SB_PORT}", lab.tunnel_ip, gateway=True),
               "ovn-cms-options": "enable-chassis-as-gw"}  # the gateways stay on the controller
        daemons.run_as("root", ["ovs-vsctl", "--timeout=20", *vsctl_set_ids(ids)], what="ovs-vsctl set external_ids")
    return prepare


def ovn_central(lab) -> List[Daemon]:
    """OVN's northbound and southbound databases, ovn-northd, this chassis' ovn-controller and os-vif's relay."""
    if lab.driver != "ovn":
        return []
    log = lab.logs
    return in_containers(lab, [
        _ovn_db(lab, "nb", OVN_NB_PORT),
        _ovn_db(lab, "sb", OVN_SB_PORT),
        Daemon("ovn-northd", ["/usr/bin/ovn-northd", f"--ovnnb-db=unix:{OVN_RUN}/ovnnb_db.sock",
                              f"--ovnsb-db=unix:{OVN_RUN}/ovnsb_db.sock", f"--unixctl={OVN_RUN}/ovn-northd.ctl",
                              f"--log-file={log / 'ovn-northd.log'}"], log=log / "ovn-northd.out"),
        Daemon("ovn-controller", ["/usr/bin/ovn-controller", f"unix:{OVS_RUN}/db.sock",
                                  f"--log-file={log / 'ovn-controller.log'}"],
               log=log / "ovn-controller.out", prepare=_ovn_chassis_prepare(lab)),
        # os-vif's way into Open vSwitch, keeping br-int on the userspace datapath (ovsdb_filter says why)
        Daemon("os-vif-ovsdb-relay", [sys.executable, "-m", "pytest_oslab.lab.ovsdb_filter", str(OS_VIF_OVSDB_PORT),
                                      str(OVSDB_PORT), "netdev"], log=log / "os-vif-ovsdb-relay.log",
               port=OS_VIF_OVSDB_PORT),
    ])


CHASSIS_DAEMONS = ("ovn-controller", "os-vif-ovsdb-relay")


def ovn_databases(lab) -> List[Daemon]:
    """OVN's databases and ovn-northd: up before neutron-server, whose OVN driver reads them as it starts."""
    return [d for d in ovn_central(lab) if d.name not in CHASSIS_DAEMONS]


def ovn_controller(lab) -> List[Daemon]:
    """This chassis' ovn-controller and os-vif's relay: once Open vSwitch and its bridges are there, before
    nova-compute (which plugs its guests' VIFs again as it starts)."""
    return [d for d in ovn_central(lab) if d.name in CHASSIS_DAEMONS]


def l2_agents(lab) -> List[Daemon]:
    log = lab.logs
    return {
        "linuxbridge": [
            _py("neutron-linuxbridge-agent", "root", log, *NEUTRON, "/etc/neutron/plugins/ml2/linuxbridge_agent.ini"),
        ],
        "openvswitch": [
            _py("neutron-openvswitch-agent", "root", log, *NEUTRON, "/etc/neutron/plugins/ml2/openvswitch_agent.ini"),
        ],
        "ovn": [
            _py("neutron-ovn-metadata-agent", "root", log, "/etc/neutron/neutron.conf",
                "/etc/neutron/neutron_ovn_metadata_agent.ini"),
        ],
    }[lab.driver]


def libvirtd_conf(lab) -> Path:
    """The controller's libvirtd.conf: the machine's, listening on the management address (``migration.py``)."""
    return lab.etc / "libvirtd.conf"


def compute_and_agents(lab) -> List[Daemon]:
    log = lab.logs
    agents = l2_agents(lab)
    neutron_agents = [] if lab.driver == "ovn" else [
        _py("neutron-dhcp-agent", "root", log, "/etc/neutron/neutron.conf", "/etc/neutron/dhcp_agent.ini"),
        _py("neutron-metadata-agent", "root", log, "/etc/neutron/neutron.conf", "/etc/neutron/metadata_agent.ini"),
        _py("neutron-l3-agent", "root", log, "/etc/neutron/neutron.conf", "/etc/neutron/l3_agent.ini"),
    ]
    return in_containers(lab, [
        Daemon("virtlogd", ["/usr/sbin/virtlogd"], log=log / "virtlogd.log"),
        # on TCP at the management address too: a live migration's destination (lab/migration.py); in its
        # container, the v2 hierarchy is already left out (containers.hybrid_safe)
        Daemon("libvirtd", libvirtd_argv(set() if lab.containers else None,
                                         migration.libvirtd_command(libvirtd_conf(lab))),
               log=log / "libvirtd.log", ready=_virsh_as_nova,
               prepare=lambda: migration.write_libvirtd_conf(libvirtd_conf(lab), lab.tunnel_ip),
               configs=(Path("/etc/libvirt/libvirtd.conf"), Path("/etc/libvirt/qemu.conf"), libvirtd_conf(lab))),
        _py("nova-compute", "nova", log, *NOVA, "/etc/nova/nova-compute.conf"),
        *agents,
        *neutron_agents,
    ])


def node_access(lab) -> List[Daemon]:
    """The controller's sshd on its management address, as each lab node has one (``sshd.py``)."""
    config = sshd.controller_dir(lab) / "sshd_config"
    return [Daemon("sshd", sshd.controller_argv(lab), log=lab.logs / "sshd.out",
                   ready=lambda: sshd.answers(lab.tunnel_ip), prepare=lambda: sshd.prepare_controller(lab),
                   configs=(config,), timeout=30)]


def all_daemons(lab) -> List[Daemon]:
    return (infrastructure(lab) + virtual_switch(lab) + ovn_central(lab) + identity_api(lab) + openstack_apis(lab)
            + compute_and_agents(lab) + node_access(lab))


def every_daemon(lab) -> List[Daemon]:
    """The daemons of every driver, so that `down` or a driver switch also finds another driver's."""
    seen, found = set(), []
    for driver in DRIVERS:
        for d in all_daemons(replace(lab, driver=driver)):
            if d.name not in seen:
                seen.add(d.name)
                found.append(d)
    return found


def neutron_server(lab) -> List[Daemon]:
    return [d for d in openstack_apis(lab) if d.name == "neutron-server"]


class DaemonsStep(Step):
    """Start a group of daemons together (skipping those already running as configured now, restarting those
    started with another configuration) and wait until each answers."""

    def __init__(self, name: str, group: Callable):
        self.name = name
        self.group = group

    def done(self, lab) -> bool:
        return all(daemons.recorded_pid(d, lab.pids) and not daemons.outdated(d, lab.pids) and daemons.is_ready(d)
                   for d in self.group(lab))

    def run(self, lab) -> None:
        group = self.group(lab)
        if not group:
            return
        for d in group:
            daemons.start(d, lab.pids)
        with ThreadPoolExecutor(max_workers=len(group)) as pool:
            futures = [pool.submit(daemons.wait_ready, d, lab.pids) for d in group]
            errors = [f.exception() for f in futures if f.exception()]
        if errors:
            raise errors[0] if isinstance(errors[0], LabError) else LabError(str(errors[0]))
