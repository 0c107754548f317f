"""What a user of the lab expects to find in it, as after the install guide.

A flat external ``provider`` network and subnet, a vxlan ``selfservice`` network and subnet in ``myproject``,
a ``router`` between them, the flavor ``m1.nano``, the public ``guest`` image, ICMP and SSH allowed in
``myproject``'s default security group, and the keypair ``mykey`` of ``myuser`` (private key 0600 under
/etc/oslab). Everything is looked up before it is made, so the step can be re-run.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Optional

from .identity import MEMBER_PROJECT, admin_connection, member_connection
from .steps import LabError, Step
from . import daemons, proc
from .services import compute_and_agents
from .image import command_line

FLAVOR = dict(name="m1.nano", ram=256, vcpus=1, disk=1)
# myproject runs the suites (and the project's tests beside them): more servers than nova's default 10
QUOTAS = dict(instances=30, cores=30)
KEY_NAME = "mykey"


def _wait(what, test, timeout: float, log: str = None, interval: float = 1.0):
    """Poll ``test`` until it is true; ``what`` names the awaited state (a callable: named at the timeout, so it
    can say what is still missing)."""
    deadline = time.monotonic() + timeout
    while True:
        result = test()
        if result:
            return result
        if time.monotonic() > deadline:
            raise LabError(f"{what() if callable(what) else what} not reached after {timeout:.0f}s", log=log)
        time.sleep(interval)


def expected_agents(lab):
    if lab.driver == "ovn":
        return {"ovn-controller", "neutron-ovn-metadata-agent"}
    l2 = {"linuxbridge": "neutron-linuxbridge-agent", "openvswitch": "neutron-openvswitch-agent"}[lab.driver]
    return {l2, "neutron-dhcp-agent", "neutron-metadata-agent", "neutron-l3-agent"}


def _compute_up(conn) -> bool:
    return any(s.binary == "nova-compute" and s.state == "up" and s.status == "enabled"
               for s in conn.compute.services())


def _agents_alive(conn, wanted) -> bool:
    alive = {a.binary for a in conn.network.agents() if a.is_alive and a.is_admin_state_up}
    return wanted <= alive


class ComputeReadyStep(Step):
    """nova-compute up and mapped to the cell, every network agent alive."""

    name = "compute-and-agents-ready"

    def done(self, lab) -> bool:
        try:
            conn = admin_connection(lab)
            return (_compute_up(conn) and _agents_alive(conn, expected_agents(lab))
                    and any(True for _ in conn.compute.hypervisors()))
        except Exception:
            return False

    def run(self, lab) -> None:
        conn = admin_connection(lab)
        _wait("nova-compute up", lambda: _compute_up(conn), 240, log=str(lab.logs / "nova-compute.log"))
        wanted = expected_agents(lab)
        _wait(f"agents alive ({', '.join(sorted(wanted))})", lambda: _agents_alive(conn, wanted), 240,
              log=str(lab.logs))
        daemons.run_as("nova", ["nova-manage", "cell_v2", "discover_hosts"], log=lab.logs / "nova-manage.log",
                       what="nova-manage cell_v2 discover_hosts")
        _wait("hypervisor listed", lambda: any(True for _ in conn.compute.hypervisors()), 120)


DHCP_DIR = Path("/var/lib/neutron/dhcp")


def _dnsmasq_runs(network_id: str) -> bool:
    """The DHCP agent's dnsmasq for the network runs: a live dnsmasq names the network's directory, under the
    packages' state path (``DHCP_DIR``) or kolla's (the lab's services in containers: ``containers.py``)."""
    mark = f"/dhcp/{network_id}/"
    return bool(proc.matching(lambda line: line.split(" ", 1)[0].endswith("dnsmasq") and mark in line))


def dhcp_unserved(conn) -> list:
    """Networks a DHCP agent hosts whose dnsmasq is not running yet (after an agent restart it resyncs them).

    A network with no subnet of DHCP enabled gets no dnsmasq, though neutron may still schedule it to the agent
    (devstack's ``public`` has its subnet without DHCP)."""
    missing = []
    dhcp = {s.network_id for s in conn.network.subnets() if s.is_dhcp_enabled}
    for agent in conn.network.agents(binary="neutron-dhcp-agent"):
        for network in conn.network.dhcp_agent_hosting_networks(agent):
            if network.id in dhcp and not _dnsmasq_runs(network.id):
                missing.append(network.name or network.id)
    return missing


DHCP_STALL = 60.0  # the agent starts a network's dnsmasq within seconds (2.8-5.5 s measured); 60 s means wedged
WEDGE_MARKS = ("greenlet.error: cannot switch to a different thread", "Premature eof waiting for privileged process",
               "Failed to start DHCP process")


def wedge_reason(log: Path, pid: Optional[int]) -> str:
    """The first line of the DHCP agent's log (process ``pid``) that tells why it serves nothing, if any."""
    if pid is None or not log.exists():
        return ""
    with open(log, errors="replace") as fh:
        for line in fh:
            if f" {pid} " in line and any(mark in line for mark in WEDGE_MARKS):
                return line.strip()[:300]
    return ""


def synced(log: Path, pid: int) -> bool:
    """Whether the DHCP agent process ``pid`` has finished its first sync of every network it hosts."""
    with open(log, errors="replace") as fh:
        return any(f" {pid} " in line and "Synchronizing state complete" in line for line in fh)


class DhcpServedStep(Step):
    """Every network the DHCP agent hosts has its dnsmasq: the lab is not ready while the agent resyncs.

    An agent that starts no dnsmasq for ``DHCP_STALL`` seconds is restarted once, saying why: its privsep daemon
    can deadlock at the agent's first start (eventlet's "cannot switch to a different thread"), after which every
    privileged call of the agent waits for ever and no network gets DHCP."""

    name = "dhcp-served"

    def done(self, lab) -> bool:
        if lab.driver == "ovn":  # OVN answers DHCP in ovn-controller, no dnsmasq
            return True
        try:
            return not dhcp_unserved(admin_connection(lab))
        except Exception:
            return False

    def run(self, lab) -> None:
        conn = admin_connection(lab)
        missing = []
        log = lab.logs / "neutron-dhcp-agent.log"

        def served() -> bool:
            missing[:] = dhcp_unserved(conn)
            return not missing

        def what() -> str:
            return f"dnsmasq for network(s) {', '.join(missing)} of the DHCP agent"
        try:
            _wait(what, served, DHCP_STALL, interval=2)
            return
        except LabError:
            pass
        agent = next(d for d in compute_and_agents(lab) if d.name == "neutron-dhcp-agent")
        reason = wedge_reason(log, daemons.recorded_pid(agent, lab.pids)) or "nothing in its log says why"
        self.say(f"no dnsmasq after {DHCP_STALL:.0f}s for {', '.join(missing)}: restarting neutron-dhcp-agent "
                 f"once ({reason})")
        daemons.stop(agent, lab.pids)
        pid = daemons.start(agent, lab.pids)
        # a restarted agent resyncs every network (restarting the dnsmasq it finds), so one look can catch a
        # moment that does not last: wait for its own "Synchronizing state complete", then for three looks in a row
        streak = []

        def settled() -> bool:
            streak.append(synced(log, pid) and served())
            return len(streak) >= 3 and all(streak[-3:])
        _wait(what, settled, 240, log=str(log), interval=2)


def _keypair_files(lab):
    return lab.etc / KEY_NAME, lab.etc / f"{KEY_NAME}.pub"


def _ensure_keyfile(lab) -> str:
    private, public = _keypair_files(lab)
    if not private.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "oslab-lab", "-f", str(private)],
                       check=True)
    os.chmod(private, 0o600)
    return public.read_text().strip()


def guest_command_line(lab, image) -> str:
    """The guest's kernel command line for the lab's driver: virtio checksum offload off only on OVS/OVN,
    whose userspace datapath needs it (on Linux bridge the offloads stay, as on any cloud)."""
    return command_line(virtio_csum=lab.driver == "linuxbridge")


def current_image(admin, name: str, digest: str):
    """The active image ``name`` tagged with ``digest``, if any."""
    for candidate in admin.image.images(name=name):
        if candidate.properties.get("oslab_digest") == digest and candidate.status == "active":
            return candidate
    return None


def upload_image(lab, admin, name: str, kernel: Path, ramdisk: Path, disk: Path, digest: str, **properties) -> None:
    """Upload kernel (``name-kernel``), ramdisk (``name-ramdisk``) and the disk ``name`` that boots them, public
    and tagged with ``digest``; images of those names from an earlier build are removed."""
    names = (name, f"{name}-kernel", f"{name}-ramdisk")
    old = [i for each in names for i in admin.image.images(name=each)]
    tag = {"oslab_digest": digest}
    kernel_image = admin.create_image(names[1], filename=str(kernel), disk_format="aki", container_format="aki",
                                      visibility="public", wait=True, meta=tag)
    ramdisk_image = admin.create_image(names[2], filename=str(ramdisk), disk_format="ari", container_format="ari",
                                       visibility="public", wait=True, meta=tag)
    admin.create_image(name, filename=str(disk), disk_format="raw", container_format="bare", visibility="public",
                       wait=True, kernel_id=kernel_image.id, ramdisk_id=ramdisk_image.id,
                       os_command_line=guest_command_line(lab, None), hw_vif_model="virtio", meta=tag, **properties)
    for stale in old:
        admin.image.delete_image(stale, ignore_missing=True)


def _current_image(admin, digest: str):
    return current_image(admin, "guest", digest)


def _upload_image(lab, admin, image) -> None:
    upload_image(lab, admin, "guest", image.kernel, image.initrd, image.disk, image.digest)


def _quotas_ok(admin, project) -> bool:
    quota = admin.compute.get_quota_set(project.id)
    return all(getattr(quota, k) >= v for k, v in QUOTAS.items())


class ResourcesStep(Step):
    """The networks, router, flavor, image, security-group rules and keypair a lab user expects."""

    name = "cloud-resources"

    def __init__(self, image_step):
        self.image_step = image_step

    def done(self, lab) -> bool:
        try:
            admin, member = admin_connection(lab), member_connection(lab)
            image = _current_image(admin, self.image_step.result(lab).digest)
            return bool(image and image.os_command_line == guest_command_line(lab, None)
                        and admin.compute.find_flavor(FLAVOR["name"])
                        and admin.network.find_network("provider") and member.network.find_network("selfservice")
                        and member.network.find_router("router") and member.compute.find_keypair(KEY_NAME)
                        and _keypair_files(lab)[0].exists()
                        and _quotas_ok(admin, admin.identity.find_project(MEMBER_PROJECT, domain_id="default")))
        except Exception:
            return False

    def run(self, lab) -> None:
        admin, member = admin_connection(lab), member_connection(lab)
        if not admin.compute.find_flavor(FLAVOR["name"]):
            admin.compute.create_flavor(is_public=True, **FLAVOR)
        built = self.image_step.result(lab)
        image = _current_image(admin, built.digest)
        if image is None:
            _upload_image(lab, admin, built)
        elif image.os_command_line != guest_command_line(lab, built):
            admin.image.update_image(image, os_command_line=guest_command_line(lab, built))
        project = admin.identity.find_project(MEMBER_PROJECT, domain_id="default")
        provider = admin.network.find_network("provider")
        if provider is None:
            provider = admin.network.create_network(
                name="provider", is_shared=True, is_router_external=True, provider_network_type="flat",
                provider_physical_network="provider")
        if not admin.network.find_subnet("provider", network_id=provider.id):
            admin.network.create_subnet(
                network_id=provider.id, name="provider", ip_version=4, cidr=lab.provider_cidr,
                gateway_ip=lab.provider_gateway, enable_dhcp=True,
                allocation_pools=[{"start": lab.provider_pool[0], "end": lab.provider_pool[1]}])
        selfservice = member.network.find_network("selfservice")
        if selfservice is None:
            selfservice = member.network.create_network(name="selfservice")
        subnet = member.network.find_subnet("selfservice", network_id=selfservice.id)
        if subnet is None:
            gateway = lab.selfservice_cidr.rsplit(".", 1)[0] + ".1"
            subnet = member.network.create_subnet(network_id=selfservice.id, name="selfservice", ip_version=4,
                                                  cidr=lab.selfservice_cidr, gateway_ip=gateway)
        router = member.network.find_router("router")
        if router is None:
            router = member.network.create_router(name="router", external_gateway_info={"network_id": provider.id})
            member.network.add_interface_to_router(router, subnet_id=subnet.id)
        group = next(iter(member.network.security_groups(name="default", project_id=project.id)))
        rules = {(r.protocol, r.port_range_min) for r in member.network.security_group_rules(
            security_group_id=group.id, direction="ingress", ether_type="IPv4")}
        for protocol, port in (("icmp", None), ("tcp", 22)):
            if (protocol, port) not in rules:
                member.network.create_security_group_rule(
                    security_group_id=group.id, direction="ingress", ether_type="IPv4", protocol=protocol,
                    port_range_min=port, port_range_max=port)
        if not _quotas_ok(admin, project):
            admin.compute.update_quota_set(project.id, **QUOTAS)
        public_key = _ensure_keyfile(lab)
        if not member.compute.find_keypair(KEY_NAME):
            member.compute.create_keypair(name=KEY_NAME, public_key=public_key)
