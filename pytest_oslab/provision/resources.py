"""Create the suite's own tagged resources, and find the cloud's existing ones the suite only uses.

``Provisioner`` creates (network, subnet, router and its interfaces, port, security group, floating IP, keypair,
flavor) and pushes each onto the ``ResourceStack`` given to the call, so the caller's scope decides when it goes.
``find_*`` functions pick what the cloud already has (image, flavor, provider network) and create nothing.
"""
from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pytest_oslab.provision.naming import Naming
from pytest_oslab.provision.stack import ResourceStack
from pytest_oslab.secrets import SECRETS

# well-known images -> their login user (by a word in the image name or os_distro)
IMAGE_USERS = {
    "cirros": "cirros", "ubuntu": "ubuntu", "debian": "debian", "fedora": "fedora", "centos": "centos",
    "rocky": "rocky", "almalinux": "almalinux", "rhel": "cloud-user", "opensuse": "opensuse", "sles": "sles",
    "alpine": "alpine", "arch": "arch",
}
KERNEL_FORMATS = ("aki", "ari")


class NotFound(Exception):
    """What the suite needs is not in this cloud; the message is the skip reason."""


@dataclass
class Keypair:
    """The run's keypair: the Nova keypair plus its private key, held in memory only (paramiko PKey)."""

    name: str
    public_key: str
    pkey: Any  # paramiko.PKey
    private_key: str = field(default="", repr=False)  # OpenSSH PEM text, registered as a secret
    resource: Any = None

    def __repr__(self) -> str:  # never show the key
        return f"Keypair(name={self.name!r})"

    def write_private_key(self, path: str) -> str:
        """Write the private key to ``path`` with mode 0600 (for a manual ``ssh -i``); returns the path."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.private_key)
        os.chmod(path, 0o600)
        return path


def generate_keypair(name: str) -> Keypair:
    """An ed25519 keypair made in memory; its private key is registered as a secret."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    SECRETS.add(private)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return Keypair(name=name, public_key=f"{public} {name}", pkey=paramiko.Ed25519Key(file_obj=io.StringIO(private)),
                   private_key=private)


def image_user(image, configured: Optional[str] = None) -> str:
    """The login user of an image: configured, else the image's ``os_admin_user``, else known by name, else root."""
    if configured:
        return configured
    props = dict(getattr(image, "properties", None) or {})
    if props.get("os_admin_user"):
        return props["os_admin_user"]
    words = f"{getattr(image, 'os_distro', '') or ''} {image.name or ''}".lower()
    for word, user in IMAGE_USERS.items():
        if word in words:
            return user
    return "root"


def find_image(conn, configured: Optional[str] = None):
    """The configured image, else a cirros image, else the only bootable one; NotFound says what to set."""
    if configured:
        image = conn.image.find_image(configured, ignore_missing=True)
        if image is None:
            raise NotFound(f"image {configured!r} (oslab.image in clouds.yaml) is not in this cloud")
        return image
    bootable = [i for i in conn.image.images(status="active") if i.disk_format not in KERNEL_FORMATS]
    cirros = sorted((i for i in bootable if "cirros" in (i.name or "").lower()), key=lambda i: i.created_at or "")
    if cirros:
        return cirros[-1]
    if len(bootable) == 1:
        return bootable[0]
    names = ", ".join(sorted(i.name or i.id for i in bootable)) or "none"
    raise NotFound(f"no image to boot chosen: set 'oslab: {{image: NAME}}' in clouds.yaml (active images: {names})")


def flavor_fits(flavor, image) -> bool:
    min_disk = max(image.min_disk or 0, math.ceil((image.size or 0) / 2**30))
    return ((flavor.ram or 0) >= (image.min_ram or 0) and (flavor.disk or 0) >= min_disk
            and not getattr(flavor, "is_disabled", False))


def find_flavor(conn, image, configured: Optional[str] = None):
    """The configured flavor, else the smallest (RAM, disk, vCPUs) that fits the image; None when none fits."""
    if configured:
        flavor = conn.compute.find_flavor(configured, ignore_missing=True)
        if flavor is None:
            raise NotFound(f"flavor {configured!r} (oslab.flavor in clouds.yaml) is not in this cloud")
        return flavor
    fitting = [f for f in conn.compute.flavors(details=True) if flavor_fits(f, image)]
    fitting.sort(key=lambda f: (f.ram or 0, f.disk or 0, f.vcpus or 0))
    return fitting[0] if fitting else None


def pick_provider_network(networks: List[Any], configured: Optional[str] = None):
    """The flat/external network to use: configured (name or id), else external flat, external, shared flat."""
    if configured:
        for n in networks:
            if configured in (n.id, n.name):
                return n
        raise NotFound(f"provider network {configured!r} (oslab.provider_network) is not visible in this cloud")

    def rank(n):
        flat = n.provider_network_type == "flat"
        external = bool(n.is_router_external)
        return (not (flat and external), not external, not (flat and n.is_shared), n.name or "")
    candidates = [n for n in networks if n.is_router_external or n.provider_network_type == "flat"]
    if not candidates:
        raise NotFound("no flat or external provider network in this cloud (set oslab.provider_network)")
    return sorted(candidates, key=rank)[0]


def external_network(networks: List[Any], configured: Optional[str] = None):
    """The external network of routers and floating IPs: the configured one (name or id; NotFound when it is not
    a visible external network), else the first external network by name; None when there is none."""
    external = sorted((n for n in networks if n.is_router_external), key=lambda n: n.name or "")
    if configured:
        chosen = next((n for n in external if configured in (n.id, n.name)), None)
        if chosen is None:
            plain = any(configured in (n.id, n.name) for n in networks)
            raise NotFound(f"external network {configured!r} (--oslab-external-network or oslab.external_network) "
                           f"{'is not external (router:external false)' if plain else 'is not visible in this cloud'}"
                           f"; external networks: {', '.join(n.name or n.id for n in external) or 'none'}")
        return chosen
    return external[0] if external else None


def attach_refusal(network, project_id: Optional[str]) -> Optional[str]:
    """Why a user of project ``project_id`` may not attach a server to ``network`` (neutron answers 403), or
    None when it may: a network is usable when it is shared or the project's own."""
    if network.is_shared or (project_id and network.project_id == project_id):
        return None
    return (f"network {network.name} ({network.id[:8]}) is not shared and belongs to another project: this "
            f"cloud's user cannot boot on it (neutron would answer 403)")


class Provisioner:
    """Creates tagged resources in one cloud; each create pushes its delete onto the given stack at once."""

    def __init__(self, conn, naming: Naming, admin_conn=None):
        self.conn = conn
        self.admin_conn = admin_conn
        self.naming = naming

    # neutron resources share one shape: create, push, tag
    def _neutron(self, stack: ResourceStack, kind: str, create, delete, find, what: str, **attrs):
        name = self.naming.name(what)
        res = create(name=name, **attrs)
        stack.push(kind, f"{name} ({res.id})", lambda: delete(res.id, ignore_missing=True),
                   lambda: find(res.id, ignore_missing=True) is not None)
        self.conn.network.set_tags(res, self.naming.tags)
        return find(res.id)

    def network(self, stack: ResourceStack, what: str = "net", **attrs):
        n = self.conn.network
        return self._neutron(stack, "network", n.create_network, n.delete_network, n.find_network, what, **attrs)

    def subnet(self, stack: ResourceStack, network, cidr: str, what: str = "subnet", **attrs):
        n = self.conn.network
        attrs.setdefault("ip_version", 4)
        return self._neutron(stack, "subnet", n.create_subnet, n.delete_subnet, n.find_subnet, what,
                             network_id=network.id, cidr=cidr, **attrs)

    def port(self, stack: ResourceStack, network, what: str = "port", **attrs):
        n = self.conn.network
        return self._neutron(stack, "port", n.create_port, n.delete_port, n.find_port, what,
                             network_id=network.id, **attrs)

    def router(self, stack: ResourceStack, what: str = "router", external=None, **attrs):
        n = self.conn.network
        if external is not None:
            attrs["external_gateway_info"] = {"network_id": external.id}
        return self._neutron(stack, "router", n.create_router, n.delete_router, n.find_router, what, **attrs)

    def router_interface(self, stack: ResourceStack, router, subnet) -> None:
        n = self.conn.network
        n.add_interface_to_router(router, subnet_id=subnet.id)

        def attached():
            return any(p for p in n.ports(device_id=router.id, device_owner="network:router_interface")
                       if any(ip.get("subnet_id") == subnet.id for ip in p.fixed_ips or []))

        def detach():
            if attached():
                n.remove_interface_from_router(router, subnet_id=subnet.id)
        stack.push("router interface", f"{router.name} -> {subnet.name}", detach, attached)

    def security_group(self, stack: ResourceStack, what: str = "sg", rules=(("icmp", None), ("tcp", 22))):
        """A tagged group with an IPv4 ingress rule per (protocol, port) in ``rules`` (ICMP and SSH by default)."""
        n = self.conn.network
        group = self._neutron(stack, "security group", n.create_security_group, n.delete_security_group,
                              n.find_security_group, what, description="pytest-oslab: ICMP and SSH in")
        for protocol, port in rules:
            ports = {"port_range_min": port, "port_range_max": port} if port else {}
            n.create_security_group_rule(security_group_id=group.id, direction="ingress", ethertype="IPv4",
                                         protocol=protocol, remote_ip_prefix="0.0.0.0/0", **ports)
        return n.get_security_group(group.id)

    def server_group(self, stack: ResourceStack, what: str = "group", policy: str = "soft-anti-affinity"):
        """A server group; ``soft-anti-affinity`` (the default) spreads its members over the computes as far as
        they go and never fails a boot for it (a member's right by nova's default policy)."""
        c = self.conn.compute
        group = c.create_server_group(name=self.naming.name(what), policy=policy)
        stack.push("server group", f"{group.name} ({group.id})",
                   lambda: c.delete_server_group(group.id, ignore_missing=True),
                   lambda: c.find_server_group(group.id, ignore_missing=True) is not None)
        return group

    def floating_ip(self, stack: ResourceStack, external, port=None, fixed_address: Optional[str] = None):
        """A floating IP of the run on ``external``, for ``port`` (its ``fixed_address``) when given."""
        n = self.conn.network
        attrs = {"port_id": port.id} if port is not None else {}
        if fixed_address:
            attrs["fixed_ip_address"] = fixed_address
        fip = n.create_ip(floating_network_id=external.id, **attrs)
        stack.push("floating ip", f"{fip.floating_ip_address} ({fip.id})",
                   lambda: n.delete_ip(fip.id, ignore_missing=True),
                   lambda: n.find_ip(fip.id, ignore_missing=True) is not None)
        n.set_tags(fip, self.naming.tags)
        return n.get_ip(fip.id)

    def keypair(self, stack: ResourceStack, what: str = "key") -> Keypair:
        c = self.conn.compute
        keypair = generate_keypair(self.naming.name(what))
        keypair.resource = c.create_keypair(name=keypair.name, public_key=keypair.public_key)
        stack.push("keypair", keypair.name, lambda: c.delete_keypair(keypair.name, ignore_missing=True),
                   lambda: c.find_keypair(keypair.name, ignore_missing=True) is not None)
        return keypair

    def flavor(self, stack: ResourceStack, image, what: str = "flavor"):
        """A small private flavor fitting ``image``; needs admin rights (NotFound otherwise)."""
        if self.admin_conn is None:
            raise NotFound("no flavor fits the image and there are no admin credentials to create one")
        c = self.admin_conn.compute
        disk = max(1, image.min_disk or 0, math.ceil((image.size or 0) / 2**30))
        flavor = c.create_flavor(name=self.naming.name(what), ram=max(256, image.min_ram or 0), vcpus=1, disk=disk,
                                 is_public=True)
        stack.push("flavor", f"{flavor.name} ({flavor.id})", lambda: c.delete_flavor(flavor.id, ignore_missing=True),
                   lambda: c.find_flavor(flavor.id, ignore_missing=True) is not None)
        return flavor
