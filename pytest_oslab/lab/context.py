"""Where the lab keeps its state, and the per-lab secrets (a 0600 file, never printed)."""
from __future__ import annotations

import ipaddress
import json
import os
import secrets as _secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict

SECRET_NAMES = ("db", "rabbit", "admin", "service", "myuser", "metadata", "demo")
DRIVERS = ("linuxbridge", "openvswitch", "ovn")
OVS_FIREWALLS = ("openvswitch", "iptables_hybrid")


def load_secrets(path: Path) -> Dict[str, str]:
    """The lab's passwords, generated on first use and kept in a file only root can read."""
    values: Dict[str, str] = {}
    if path.exists():
        values = json.loads(path.read_text())
    missing = [n for n in SECRET_NAMES if n not in values]
    if missing:
        for name in missing:
            values[name] = _secrets.token_urlsafe(18)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(values, fh)
    os.chmod(path, 0o600)
    return values


@dataclass
class Lab:
    """Everything a lab step needs to know about this lab: its directories, secrets and choices."""

    root: Path = Path("/var/lib/oslab")
    etc: Path = Path("/etc/oslab")
    logs: Path = Path("/var/log/oslab")
    driver: str = "linuxbridge"
    firewall: str = "openvswitch"  # on the openvswitch driver: "openvswitch" (native) or "iptables_hybrid"
    containers: bool = False  # the services in kolla-ansible's containers (``containers.py``)
    hostname: str = field(default_factory=socket.gethostname)
    # Address ranges of the lab's own plumbing; checked against the host's addresses, routes, resolvers and
    # package mirrors before use (on this kind of machine the mirrors answer in 203.0.113.0/24).
    provider_cidr: str = "198.18.10.0/24"
    tunnel_cidr: str = "198.51.100.0/24"
    tunnel_ip: str = "198.51.100.1"
    uplink_cidr: str = "100.64.254.0/30"
    uplink_host_ip: str = "100.64.254.1"
    uplink_ns_ip: str = "100.64.254.2"
    selfservice_cidr: str = "10.10.0.0/24"
    # the second flat physical network, ``public`` (devstack's external network and range: the devstack profile)
    public_cidr: str = "172.24.4.0/24"
    _secrets: Dict[str, str] = field(default=None, repr=False)

    @property
    def provider_gateway(self) -> str:
        return str(self._provider_net[1])

    @property
    def public_gateway(self) -> str:
        return str(ipaddress.ip_network(self.public_cidr)[1])

    @property
    def provider_pool(self) -> tuple:
        net = self._provider_net
        return str(net[100]), str(net[200])

    @property
    def tunnel_network(self):
        return ipaddress.ip_network(self.tunnel_cidr)

    @property
    def _provider_net(self):
        return ipaddress.ip_network(self.provider_cidr)

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def secrets_file(self) -> Path:
        return self.etc / "secrets.json"

    @property
    def secrets(self) -> Dict[str, str]:
        if self._secrets is None:
            self._secrets = load_secrets(self.secrets_file)
        return self._secrets

    def db_url(self, database: str) -> str:
        return f"mysql+pymysql://oslab:{self.secrets['db']}@127.0.0.1/{database}"

    @property
    def transport_url(self) -> str:
        return f"rabbit://openstack:{self.secrets['rabbit']}@127.0.0.1:5672/"

    def ensure_dirs(self) -> None:
        for d in (self.root, self.etc, self.logs, self.pids, self.state):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.etc, 0o700)

    def marker(self, name: str) -> Path:
        return self.state / name
