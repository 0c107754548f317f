"""``oslab lab up --profile devstack``: the running lab also named and shaped as devstack leaves a cloud.

Beside the lab's own resources (``resources.py``), as devstack's stack.sh makes them (ML2 with a flat
``public`` physical network; IPv4 only here):

- the project ``demo`` and its user ``demo`` (role ``member``);
- ``public``: admin's external flat network on the physical network ``public``, NOT shared, subnet
  ``public-subnet`` 172.24.4.0/24 (gateway 172.24.4.1, on the lab's upstream namespace);
- ``private``: demo's tenant network, subnet ``private-subnet`` 10.0.0.0/26, and demo's router ``router1``
  from it to ``public``;
- ``shared``: admin's shared tenant network, subnet ``shared-subnet`` 192.168.233.0/24;
- the flavors ``m1.nano`` (the lab's) and ``m1.micro``;
- a public image named like cirros whose login user is ``cirros`` (``cirros.py``);
- the clouds ``devstack`` (demo in demo) and ``devstack-admin`` (admin in admin) in /etc/openstack/clouds.yaml
  as devstack writes them (no ``oslab:`` section); their passwords go to secure.yaml (0600), where devstack
  would write them inline.

demo's default security group is left as devstack leaves it (no ingress from outside). Every step looks before it
makes, so a second run makes nothing. The public network is mapped on the controller on Linux bridge
(``oslab-pub0``) and on ML2/OVN, devstack's default (``br-public``, on the gateway chassis); on ML2/OVS the profile
says so and makes nothing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from . import cirros
from .identity import AUTH_URL, REGION, admin_connection, ensure_user, entries_written, write_entries
from .image import GuestImageStep
from .resources import FLAVOR, current_image, guest_command_line, upload_image
from .steps import LabError, Step

PROJECT = USER = "demo"
CLOUDS = ("devstack", "devstack-admin")
PUBLIC_PHYSNET = "public"
PUBLIC_MAPPED = ("linuxbridge", "ovn")  # the drivers whose controller maps it (host.py: oslab-pub0, br-public)
IMAGE = "cirros-oslab-x86_64-disk"  # a cirros-like guest, not cirros itself
FLAVORS = (FLAVOR, dict(name="m1.micro", ram=384, vcpus=1, disk=1))
PRIVATE_CIDR, SHARED_CIDR = "10.0.0.0/26", "192.168.233.0/24"


def demo_connection(lab):
    import openstack  # on use: the oslab CLI starts without openstacksdk (0.3 s)
    return openstack.connect(
        auth_url=AUTH_URL, username=USER, password=lab.secrets["demo"], project_name=PROJECT,
        user_domain_id="default", project_domain_id="default", region_name=REGION, identity_api_version="3")


def _subnet(conn, network, name: str, cidr: str, **attrs):
    return conn.network.find_subnet(name, network_id=network.id) or conn.network.create_subnet(
        network_id=network.id, name=name, ip_version=4, cidr=cidr, **attrs)


class DemoProjectStep(Step):
    """The project ``demo`` and its member ``demo``."""

    name = "devstack-demo-project"

    def done(self, lab) -> bool:
        try:
            return demo_connection(lab).authorize() is not None
        except Exception:
            return False

    def run(self, lab) -> None:
        ident = admin_connection(lab).identity
        project = ident.find_project(PROJECT, domain_id="default") or ident.create_project(
            name=PROJECT, domain_id="default", description="devstack's demo project")
        user = ensure_user(admin_connection(lab), USER, lab.secrets["demo"], project)
        ident.assign_project_role_to_user(project, user, ident.find_role("member"))


class DevstackResourcesStep(Step):
    """devstack's networks, router, flavors and image (the module's docstring lists them)."""

    name = "devstack-resources"

    def __init__(self, image_step: GuestImageStep):
        self.image_step = image_step

    def _image_ok(self, lab, admin) -> bool:
        image = current_image(admin, IMAGE, cirros.digest(self.image_step.result(lab)))
        return bool(image and image.os_command_line == guest_command_line(lab, None))

    def done(self, lab) -> bool:
        try:
            admin, demo = admin_connection(lab), demo_connection(lab)
            network = demo.network
            return bool(all(admin.compute.find_flavor(f["name"]) for f in FLAVORS) and self._image_ok(lab, admin)
                        and admin.network.find_subnet("public-subnet") and admin.network.find_subnet("shared-subnet")
                        and network.find_subnet("private-subnet") and _router_ok(demo))
        except Exception:
            return False

    def run(self, lab) -> None:
        if lab.driver not in PUBLIC_MAPPED:
            raise LabError(f"the devstack profile's physical network {PUBLIC_PHYSNET!r} is mapped on the "
                           f"{' and '.join(PUBLIC_MAPPED)} drivers only (this lab runs {lab.driver})")
        admin, demo = admin_connection(lab), demo_connection(lab)
        for flavor in FLAVORS:
            if not admin.compute.find_flavor(flavor["name"]):
                admin.compute.create_flavor(is_public=True, **flavor)
        if not self._image_ok(lab, admin):
            self._upload(lab, admin)
        public = admin.network.find_network("public") or admin.network.create_network(
            name="public", is_shared=False, is_router_external=True, provider_network_type="flat",
            provider_physical_network=PUBLIC_PHYSNET)
        _subnet(admin, public, "public-subnet", lab.public_cidr, gateway_ip=lab.public_gateway, enable_dhcp=False)
        shared = admin.network.find_network("shared") or admin.network.create_network(name="shared", is_shared=True)
        _subnet(admin, shared, "shared-subnet", SHARED_CIDR)
        private = demo.network.find_network("private") or demo.network.create_network(name="private")
        subnet = _subnet(demo, private, "private-subnet", PRIVATE_CIDR)
        router = demo.network.find_router("router1") or demo.network.create_router(
            name="router1", external_gateway_info={"network_id": public.id})
        if not list(demo.network.ports(device_id=router.id, network_id=private.id)):
            demo.network.add_interface_to_router(router, subnet_id=subnet.id)

    def _upload(self, lab, admin) -> None:
        guest = self.image_step.result(lab)
        workdir = Path(lab.root) / "image-cirros"
        workdir.mkdir(parents=True, exist_ok=True)
        ramdisk = workdir / "initrd.img"
        ramdisk.write_bytes(cirros.ramdisk(guest))
        upload_image(lab, admin, IMAGE, guest.kernel, ramdisk, guest.disk, cirros.digest(guest))


def _router_ok(demo) -> bool:
    router = demo.network.find_router("router1")
    private = demo.network.find_network("private")
    return bool(router and private and router.external_gateway_info
                and list(demo.network.ports(device_id=router.id, network_id=private.id)))


def cloud_entries() -> Dict[str, Dict]:
    """clouds.yaml's entries as devstack's tools/update_clouds_yaml.py writes them (passwords apart)."""
    def entry(user: str, project: str) -> Dict:
        return {"auth": {"auth_url": AUTH_URL, "project_domain_id": "default", "project_name": project,
                         "user_domain_id": "default", "username": user},
                "identity_api_version": "3", "region_name": REGION, "volume_api_version": "3"}
    return {"devstack": entry(USER, PROJECT), "devstack-admin": entry("admin", "admin")}


def secure_entries(lab) -> Dict[str, Dict]:
    return {"devstack": {"auth": {"password": lab.secrets["demo"]}},
            "devstack-admin": {"auth": {"password": lab.secrets["admin"]}}}


class DevstackCloudsStep(Step):
    """The clouds ``devstack`` and ``devstack-admin``; other clouds in the files are kept."""

    name = "devstack-clouds"

    def done(self, lab) -> bool:
        return entries_written(cloud_entries(), secure_entries(lab))

    def run(self, lab) -> None:
        write_entries(cloud_entries(), secure_entries(lab))


def steps(lab) -> List[Step]:
    return [DemoProjectStep(), DevstackResourcesStep(GuestImageStep()), DevstackCloudsStep()]
