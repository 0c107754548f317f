"""Preconditions and Debian packages of the lab (Debian 12's own OpenStack Zed packages)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterable, List

from . import proc
from .steps import LabError, Step

COMMON = [
    "mariadb-server", "python3-pymysql", "rabbitmq-server", "memcached", "python3-memcache",
    "keystone", "glance", "placement-api", "uwsgi-plugin-python3",
    "nova-api", "nova-conductor", "nova-scheduler", "nova-compute", "nova-compute-kvm",
    "neutron-server", "neutron-dhcp-agent", "neutron-metadata-agent", "neutron-l3-agent",
    "python3-openstackclient", "python3-openstacksdk",
    "iproute2", "iptables", "ipset", "ebtables", "bridge-utils", "dnsmasq-base", "conntrack", "haproxy",
    "openssh-client", "netcat-openbsd", "socat", "cpio", "xz-utils", "iputils-ping", "sudo",
    "genisoimage",  # nova's config drives, and the guest image's config-drive boot test
    "podman",  # the services in kolla-ansible's containers (`lab up --containers`)
    "openssh-server",  # the sshd of each lab node (started inside the node only; policy-rc.d keeps the machine's off)
]
DRIVER_PACKAGES = {
    "linuxbridge": ["neutron-linuxbridge-agent"],
    "openvswitch": ["neutron-openvswitch-agent", "openvswitch-switch"],
    "ovn": ["openvswitch-switch", "ovn-central", "ovn-host", "neutron-ovn-metadata-agent"],

}
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def check_host() -> None:
    """Fail early, in one line, on a machine the lab cannot run on."""
    if os.geteuid() != 0:
        raise LabError("the lab must be brought up as root")
    try:
        release = Path("/etc/os-release").read_text()
    except OSError:
        release = ""
    fields = dict(l.split("=", 1) for l in release.splitlines() if "=" in l)
    if fields.get("ID") != "debian" or fields.get("VERSION_ID", "").strip('"') != "12":
        pretty = fields.get("PRETTY_NAME", "unknown system").strip('"')
        raise LabError(f"the lab needs Debian 12 (bookworm), this is {pretty}")


def wanted(driver: str) -> List[str]:
    return COMMON + DRIVER_PACKAGES[driver]


def missing(packages: Iterable[str]) -> List[str]:
    packages = list(packages)
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n", *packages],
                         capture_output=True, text=True).stdout
    installed = {l.split()[0] for l in out.splitlines() if len(l.split()) > 1 and l.split()[1].startswith("ii")}
    return [p for p in packages if p not in installed]


class PackagesStep(Step):
    """apt-get install what the lab's driver needs, with services kept from starting on their own."""

    name = "packages"

    def __init__(self, driver: str):
        self.driver = driver

    def done(self, lab) -> bool:
        return not missing(wanted(self.driver))

    def run(self, lab) -> None:
        log = lab.logs / "apt.log"
        # Debian's maintainer scripts would start every daemon through invoke-rc.d: the lab starts its own.
        if not POLICY_RC_D.exists():
            POLICY_RC_D.write_text("#!/bin/sh\n# written by pytest-oslab: the lab starts its daemons itself\nexit 101\n")
            POLICY_RC_D.chmod(0o755)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        todo = missing(wanted(self.driver))
        before = proc.named("epmd")
        with open(log, "a") as out:
            update = subprocess.run(["apt-get", "update", "-q"], stdout=out, stderr=subprocess.STDOUT, env=env)
            if update.returncode != 0:
                raise LabError("apt-get update failed", log=str(log))
            install = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *todo],
                                     stdout=out, stderr=subprocess.STDOUT, env=env)
        # rabbitmq-server's postinst starts an epmd listening on every address; the lab runs its own on loopback
        for pid in proc.named("epmd") - before:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
        if install.returncode != 0:
            still = missing(todo)
            raise LabError(f"apt-get install failed ({len(still)} packages missing, e.g. {', '.join(still[:3])})",
                           log=str(log))
