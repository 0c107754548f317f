"""tempest.conf for the lab, from clouds.yaml and secure.yaml (``NAME`` and ``NAME-admin``) and what the cloud holds: Tempest makes
its own projects and users (dynamic credentials, with the admin cloud's), boots the suite's image and flavor, and
reaches its servers by floating IP on the external network, as root with a keypair, like pytest-oslab's guests.

The rendered file holds the admin password: bench/suite.py writes it into a temporary Tempest workspace, deleted
after the run, and never prints it.
"""
from __future__ import annotations

from pathlib import Path

import openstack
import openstack.config


def _entry(name: str) -> dict:
    """The cloud's entry as openstacksdk reads it (clouds.yaml merged with secure.yaml)."""
    return openstack.config.OpenStackConfig().get_one(cloud=name).config


def render(cloud: str, workspace: Path) -> str:
    admin = _entry(f"{cloud}-admin")
    auth = admin["auth"]
    oslab = _entry(cloud).get("oslab") or {}
    conn = openstack.connect(cloud=f"{cloud}-admin")
    image = conn.image.find_image(oslab.get("image", "cirros"), ignore_missing=False)
    flavor = conn.compute.find_flavor(oslab.get("flavor", "m1.tiny"), ignore_missing=False)
    public = conn.network.find_network(oslab.get("provider_network", "public"), ignore_missing=False)
    user = oslab.get("image_user", "cirros")
    return f"""[DEFAULT]
log_dir = {workspace}/logs
use_stderr = false

[auth]
use_dynamic_credentials = true
admin_username = {auth['username']}
admin_password = {auth['password']}
admin_project_name = {auth['project_name']}
admin_domain_name = {auth.get('user_domain_name', 'Default')}

[identity]
uri_v3 = {auth['auth_url']}
auth_version = v3
region = {admin.get('region_name', 'RegionOne')}

[identity-feature-enabled]
api_v2 = false

[compute]
image_ref = {image.id}
image_ref_alt = {image.id}
flavor_ref = {flavor.id}
flavor_ref_alt = {flavor.id}
build_timeout = 300
min_compute_nodes = 1

[compute-feature-enabled]
suspend = true
interface_attach = true
console_output = true
config_drive = false
# the guest image (busybox) has no curl, which test_server_basic_ops' metadata step runs in the guest; the guest
# reads its key from the metadata service at boot, and pytest-oslab's equivalent suites fetch nothing from it
metadata_service = false

[network]
public_network_id = {public.id}
floating_network_name = {public.name}
project_network_cidr = 10.200.0.0/16
project_network_mask_bits = 28

[validation]
run_validation = true
connect_method = floating
auth_method = keypair
image_ssh_user = {user}
image_alt_ssh_user = {user}
ip_version_for_ssh = 4
ssh_timeout = 300

[service_available]
nova = true
neutron = true
glance = true
cinder = false
swift = false
horizon = false
"""
