"""Keystone's contents for the lab (service users, catalog, the member project) and the clouds.yaml entries.

clouds.yaml (where openstacksdk looks: /etc/openstack/clouds.yaml) gets the entries ``lab`` (user ``myuser``,
member of ``myproject``) and ``lab-admin``; their passwords go to secure.yaml beside it (0600), which
openstacksdk merges. Other clouds in those files are kept as they are. Their ``oslab: nodes:`` lists every node of
the lab reached over SSH (``node_entries``), and the nodes' host keys go to the machine's known_hosts.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List

import yaml

from . import node as nodes, sshd
from .steps import Step

AUTH_URL = "http://127.0.0.1:5000/v3"
REGION = "RegionOne"
CLOUDS_DIR = Path("/etc/openstack")
ENDPOINTS = {
    "glance": ("image", "http://127.0.0.1:9292"),
    "placement": ("placement", "http://127.0.0.1:8778"),
    "nova": ("compute", "http://127.0.0.1:8774/v2.1"),
    "neutron": ("network", "http://127.0.0.1:9696"),
}
MEMBER_PROJECT, MEMBER_USER = "myproject", "myuser"
NODE_COMPUTE_LOG = "/var/log/nova/nova-compute.log"  # a compute node's (compute_node.daemons), the controller's in lab.logs


def admin_connection(lab):
    import openstack  # on use: the oslab CLI starts without openstacksdk (0.3 s)
    return openstack.connect(
        auth_url=AUTH_URL, username="admin", password=lab.secrets["admin"], project_name="admin",
        user_domain_name="Default", project_domain_name="Default", region_name=REGION, identity_api_version="3",
    )


def member_connection(lab):
    import openstack  # on use: the oslab CLI starts without openstacksdk (0.3 s)
    return openstack.connect(
        auth_url=AUTH_URL, username=MEMBER_USER, password=lab.secrets["myuser"], project_name=MEMBER_PROJECT,
        user_domain_name="Default", project_domain_name="Default", region_name=REGION, identity_api_version="3",
    )


def ensure_user(conn, name: str, password: str, project):
    ident = conn.identity
    user = ident.find_user(name, domain_id="default")
    if user is None:
        user = ident.create_user(name=name, password=password, domain_id="default", default_project_id=project.id)
    else:
        ident.update_user(user, password=password)
    return user


class IdentityStep(Step):
    """Service project and users, the service catalog, and the member project with `myuser`."""

    name = "identity"

    def done(self, lab) -> bool:
        try:
            conn = admin_connection(lab)
            have = {(s.name) for s in conn.identity.services()}
            endpoints = list(conn.identity.endpoints())
            ok = set(ENDPOINTS) <= have and len(endpoints) >= 3 * (len(ENDPOINTS) + 1)
            return ok and member_connection(lab).authorize() is not None
        except Exception:
            return False

    def run(self, lab) -> None:
        conn = admin_connection(lab)
        ident = conn.identity
        service = ident.find_project("service", domain_id="default") or ident.create_project(
            name="service", domain_id="default", description="OpenStack services")
        admin_role = ident.find_role("admin")
        member_role = ident.find_role("member") or ident.create_role(name="member")
        for name, (stype, url) in ENDPOINTS.items():
            user = ensure_user(conn, name, lab.secrets["service"], service)
            ident.assign_project_role_to_user(service, user, admin_role)
            svc = ident.find_service(name) or ident.create_service(name=name, type=stype, enabled=True)
            have = {e.interface for e in ident.endpoints(service_id=svc.id)}
            for iface in ("public", "internal", "admin"):
                if iface not in have:
                    ident.create_endpoint(service_id=svc.id, interface=iface, url=url, region_id=REGION)
        project = ident.find_project(MEMBER_PROJECT, domain_id="default") or ident.create_project(
            name=MEMBER_PROJECT, domain_id="default", description="the lab's member project")
        user = ensure_user(conn, MEMBER_USER, lab.secrets["myuser"], project)
        ident.assign_project_role_to_user(project, user, member_role)


def _write(path: Path, data: Dict, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write("# lab entries written by pytest-oslab (`oslab lab up`); other clouds are kept\n")
        yaml.safe_dump(data, fh, default_flow_style=False, sort_keys=False)
    os.chmod(path, mode)


def _load(path: Path) -> Dict:
    if path.exists():
        return yaml.safe_load(path.read_text()) or {}
    return {}


def node_entries(lab) -> List[Dict]:
    """The lab's nodes as pytest-oslab's inventory names them: each reached over SSH as the lab's user with its key,
    the controller (this machine, also the network node and a compute) on its management address."""
    key = str(sshd.key_file(lab))
    controller = {"name": lab.hostname, "host": f"ssh://{sshd.NODE_USER}@{lab.tunnel_ip}",
                  "roles": ["controller", "network", "compute"], "key": key}
    return [controller] + [{"name": n.name, "host": n.ssh_spec, "roles": ["compute"], "key": key}
                           for n in nodes.computes(lab)]


def host_keys(lab) -> Dict[str, Path]:
    """{management address: public host key file} of each node whose sshd has a key yet."""
    return sshd.host_keys(lab, nodes.computes(lab))


def cloud_entries(lab) -> Dict[str, Dict]:
    """The public part of the lab's clouds.yaml entries, including the node inventory for pytest-oslab."""
    base = {"region_name": REGION, "identity_api_version": 3, "interface": "public"}
    auth = {"auth_url": AUTH_URL, "user_domain_name": "Default", "project_domain_name": "Default"}
    oslab = {
        "nodes": node_entries(lab),
        "image": "guest", "image_user": "root", "flavor": "m1.nano", "provider_network": "provider",
        "driver": lab.driver, "compute_log": [str(lab.logs / "nova-compute.log"), NODE_COMPUTE_LOG],
    }
    if lab.containers:  # where the node tools and neutron's state are: as kolla-ansible lays them out, on podman
        oslab["deployment"] = {"profile": "kolla", "runtime": "podman"}
    return {
        "lab": dict(base, auth=dict(auth, username=MEMBER_USER, project_name=MEMBER_PROJECT), oslab=oslab),
        "lab-admin": dict(base, auth=dict(auth, username="admin", project_name="admin"), oslab=oslab),
    }


def secure_entries(lab) -> Dict[str, Dict]:
    return {"lab": {"auth": {"password": lab.secrets["myuser"]}},
            "lab-admin": {"auth": {"password": lab.secrets["admin"]}}}


def entries_written(public: Dict[str, Dict], secret: Dict[str, Dict]) -> bool:
    """Whether clouds.yaml holds the ``public`` entries and secure.yaml (0600) the ``secret`` ones."""
    clouds = _load(CLOUDS_DIR / "clouds.yaml").get("clouds", {})
    secure = _load(CLOUDS_DIR / "secure.yaml").get("clouds", {})
    mode = (CLOUDS_DIR / "secure.yaml").stat().st_mode & 0o777 if (CLOUDS_DIR / "secure.yaml").exists() else 0
    return (all(clouds.get(k) == v for k, v in public.items())
            and all(secure.get(k) == v for k, v in secret.items()) and mode == 0o600)


def write_entries(public: Dict[str, Dict], secret: Dict[str, Dict]) -> None:
    """The entries into clouds.yaml and secure.yaml (0600); other clouds there are kept."""
    for name, entries, mode in (("clouds.yaml", public, 0o644), ("secure.yaml", secret, 0o600)):
        data = _load(CLOUDS_DIR / name)
        data.setdefault("clouds", {}).update(entries)
        _write(CLOUDS_DIR / name, data, mode)


class CloudsYamlStep(Step):
    """clouds.yaml entries `lab` and `lab-admin`; passwords only in secure.yaml (0600)."""

    name = "clouds.yaml"

    def done(self, lab) -> bool:
        return entries_written(cloud_entries(lab), secure_entries(lab)) and sshd.known(host_keys(lab))

    def run(self, lab) -> None:
        write_entries(cloud_entries(lab), secure_entries(lab))
        sshd.write_known_hosts(host_keys(lab))
