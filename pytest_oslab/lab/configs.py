"""The lab's service configuration: values set in place in the packages' own files.

Each function returns ``{path: {section: {key: value}}}``; ``None`` deletes a key. Daemons are kept small
(one worker each) because the machine has two cores. Files holding passwords are made readable by root and
the service's group only.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict

from . import inifile
from .migration import nova_settings
from .steps import Step
from .host import OS_VIF_OVSDB_PORT, PROVIDER_BRIDGE, PROVIDER_IF, PUBLIC_IF

Values = Dict[str, Dict[str, Dict[str, object]]]
KEYSTONE_URL = "http://127.0.0.1:5000"
OWNERS = {"keystone": "keystone", "glance": "glance", "placement": "placement", "nova": "nova", "neutron": "neutron"}


def _authtoken(lab, user: str) -> Dict[str, object]:
    return {
        "www_authenticate_uri": KEYSTONE_URL, "auth_url": KEYSTONE_URL, "memcached_servers": "127.0.0.1:11211",
        "auth_type": "password", "project_domain_name": "Default", "user_domain_name": "Default",
        "project_name": "service", "username": user, "password": lab.secrets["service"], "region_name": "RegionOne",
    }


def _client(lab, user: str) -> Dict[str, object]:
    """Credentials one service uses to call another (no token-validation keys)."""
    values = _authtoken(lab, user)
    values["www_authenticate_uri"] = None
    values["memcached_servers"] = None
    return values


def keystone(lab) -> Values:
    return {"/etc/keystone/keystone.conf": {
        "database": {"connection": lab.db_url("keystone")},
        "token": {"provider": "fernet"},
        "cache": {"enabled": True, "backend": "oslo_cache.memcache_pool", "memcache_servers": "127.0.0.1:11211"},
        "catalog": {"template_file": None},
    }}


def glance(lab) -> Values:
    return {"/etc/glance/glance-api.conf": {
        "DEFAULT": {"bind_host": "127.0.0.1", "bind_port": 9292, "workers": 1, "enabled_backends": "fs:file"},
        "database": {"connection": lab.db_url("glance")},
        "keystone_authtoken": _authtoken(lab, "glance"),
        "paste_deploy": {"flavor": "keystone"},
        "glance_store": {"default_backend": "fs", "filesystem_store_datadir": None},
        "fs": {"filesystem_store_datadir": "/var/lib/glance/images/"},
    }}


def placement(lab) -> Values:
    return {"/etc/placement/placement.conf": {
        "placement_database": {"connection": lab.db_url("placement")},
        "api": {"auth_strategy": "keystone"},
        "keystone_authtoken": _authtoken(lab, "placement"),
    }}


def nova(lab) -> Values:
    neutron = _client(lab, "neutron")
    neutron.update({"service_metadata_proxy": True, "metadata_proxy_shared_secret": lab.secrets["metadata"],
                    "default_floating_pool": None, "service_name": None})
    libvirt = {"virt_type": "qemu", "cpu_mode": "none"}
    # moving servers between computes (lab/migration.py): my_ip, the management address, is where the others reach
    # this one's sshd and libvirtd
    moving = nova_settings(lab.tunnel_ip)
    return {
        "/etc/nova/nova.conf": {
            "DEFAULT": {
                "transport_url": lab.transport_url, "my_ip": lab.tunnel_ip, "enabled_apis": "osapi_compute,metadata",
                "osapi_compute_listen": "127.0.0.1", "osapi_compute_workers": 1, "metadata_listen": "127.0.0.1",
                "metadata_workers": 1, "compute_driver": "libvirt.LibvirtDriver",
                "instances_path": "/var/lib/nova/instances", "state_path": "/var/lib/nova",
                # tiny emulated guests: room for two suite runs' servers on two cores
                "initial_cpu_allocation_ratio": 16.0,
            },
            "api": {"auth_strategy": "keystone"},
            "api_database": {"connection": lab.db_url("nova_api")},
            "database": {"connection": lab.db_url("nova")},
            "keystone_authtoken": _authtoken(lab, "nova"),
            "service_user": dict(_client(lab, "nova"), send_service_user_token=True),
            "placement": _client(lab, "placement"),
            "neutron": neutron,
            "vnc": {"enabled": False}, "spice": {"enabled": False},
            "glance": {"api_servers": "http://127.0.0.1:9292"},
            "conductor": {"workers": 1}, "scheduler": {"workers": 1, "discover_hosts_in_cells_interval": 30},
            "libvirt": {**libvirt, **moving["libvirt"]}, "workarounds": moving["workarounds"],
            "oslo_concurrency": {"lock_path": "/var/lib/nova/tmp"},
        },
        # Debian ships virt_type=kvm here, and this file is read after nova.conf: /dev/kvm cannot run guests.
        "/etc/nova/nova-compute.conf": {"libvirt": libvirt},
    }


def neutron_common(lab) -> Values:
    return {"/etc/neutron/neutron.conf": {
        "DEFAULT": {
            "bind_host": "127.0.0.1", "core_plugin": "ml2", "service_plugins": "router",
            "transport_url": lab.transport_url, "auth_strategy": "keystone",
            "api_workers": 1, "rpc_workers": 1, "rpc_state_report_workers": 1, "dns_domain": "openstacklocal",
            "notify_nova_on_port_status_changes": True, "notify_nova_on_port_data_changes": True,
        },
        "database": {"connection": lab.db_url("neutron")},
        "keystone_authtoken": _authtoken(lab, "neutron"),
        "nova": _client(lab, "nova"),
        "oslo_concurrency": {"lock_path": "/var/lib/neutron/tmp"},
        "agent": {"report_interval": 10},
    }}


def _agents_common(lab, interface_driver: str) -> Values:
    return {
        "/etc/neutron/neutron.conf": {"DEFAULT": {"interface_driver": interface_driver}},
        "/etc/neutron/dhcp_agent.ini": {"DEFAULT": {
            "interface_driver": interface_driver, "dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq",
            "enable_isolated_metadata": True, "force_metadata": True}},
        "/etc/neutron/l3_agent.ini": {"DEFAULT": {"interface_driver": interface_driver}},
        "/etc/neutron/metadata_agent.ini": {"DEFAULT": {
            "nova_metadata_host": "127.0.0.1", "metadata_proxy_shared_secret": lab.secrets["metadata"],
            "metadata_workers": 1}},
    }


def _ml2(mechanism_drivers: str, tenant_type: str = "vxlan") -> Dict[str, Dict[str, object]]:
    return {
        "ml2": {"type_drivers": "flat,vlan,vxlan,geneve", "tenant_network_types": tenant_type,
                "mechanism_drivers": mechanism_drivers, "extension_drivers": "port_security"},
        "ml2_type_flat": {"flat_networks": "provider,public"},
        "ml2_type_vxlan": {"vni_ranges": "1:1000"},
        "ml2_type_geneve": {"vni_ranges": "1:1000", "max_header_size": 38},
        "securitygroup": {"enable_ipset": True},
    }


def neutron_linuxbridge(lab) -> Values:
    values = _agents_common(lab, "linuxbridge")
    values["/etc/neutron/neutron.conf"]["experimental"] = {"linuxbridge": True}  # Zed: "experimental"
    values["/etc/neutron/plugins/ml2/ml2_conf.ini"] = _ml2("linuxbridge,l2population")
    values["/etc/neutron/plugins/ml2/linuxbridge_agent.ini"] = {
        "linux_bridge": {"physical_interface_mappings": f"provider:{PROVIDER_IF},public:{PUBLIC_IF}"},
        "vxlan": {"enable_vxlan": True, "local_ip": lab.tunnel_ip, "l2_population": True},
        "securitygroup": {"enable_security_group": True, "firewall_driver": "iptables"},
    }
    return values


def neutron_openvswitch(lab) -> Values:
    """ML2/OVS on the userspace datapath (this kernel has no openvswitch module)."""
    values = _agents_common(lab, "openvswitch")
    values["/etc/neutron/plugins/ml2/ml2_conf.ini"] = _ml2("openvswitch,l2population")
    firewall = "iptables_hybrid" if lab.firewall == "iptables_hybrid" else "openvswitch"
    values["/etc/neutron/plugins/ml2/openvswitch_agent.ini"] = {
        "ovs": {"bridge_mappings": f"provider:{PROVIDER_BRIDGE}", "local_ip": lab.tunnel_ip,
                "datapath_type": "netdev", "ovsdb_connection": "tcp:127.0.0.1:6640"},
        "agent": {"tunnel_types": "vxlan", "l2_population": True},
        "securitygroup": {"enable_security_group": True, "firewall_driver": firewall},
    }
    values["/etc/nova/nova.conf"] = {"os_vif_ovs": {"ovsdb_connection": "tcp:127.0.0.1:6640"}}
    return values


OVN_NB, OVN_SB = "tcp:127.0.0.1:6641", "tcp:127.0.0.1:6642"


def neutron_ovn(lab) -> Values:
    """ML2/OVN: OVN's own DHCP, L3 and metadata (through neutron-ovn-metadata-agent); geneve tenant networks."""
    ovn = {"ovn_nb_connection": OVN_NB, "ovn_sb_connection": OVN_SB, "ovn_metadata_enabled": True,
           # security groups made before OVN are missing from its NB database unless neutron repairs them
           "neutron_sync_mode": "repair"}
    return {
        "/etc/neutron/neutron.conf": {"DEFAULT": {"service_plugins": "ovn-router"}},
        "/etc/neutron/plugins/ml2/ml2_conf.ini": dict(_ml2("ovn", tenant_type="geneve"), ovn=ovn),
        "/etc/neutron/neutron_ovn_metadata_agent.ini": {
            "DEFAULT": {"nova_metadata_host": "127.0.0.1", "metadata_proxy_shared_secret": lab.secrets["metadata"],
                        "metadata_workers": 1},
            "ovs": {"ovsdb_connection": "tcp:127.0.0.1:6640"},
            "ovn": {"ovn_sb_connection": OVN_SB},
        },
        # os-vif reaches Open vSwitch through the lab's relay (lab/ovsdb_filter.py says why)
        "/etc/nova/nova.conf": {"os_vif_ovs": {"ovsdb_connection": f"tcp:127.0.0.1:{OS_VIF_OVSDB_PORT}"}},
    }


NEUTRON_DRIVERS = {"linuxbridge": neutron_linuxbridge, "openvswitch": neutron_openvswitch, "ovn": neutron_ovn}


def all_values(lab) -> Values:
    merged: Values = {}
    for part in (keystone, glance, placement, nova, neutron_common, NEUTRON_DRIVERS[lab.driver]):
        for path, sections in part(lab).items():
            target = merged.setdefault(path, {})
            for section, values in sections.items():
                target.setdefault(section, {}).update(values)
    return merged


def _owner(path: str) -> str:
    return OWNERS[Path(path).parts[2]]


class ConfigStep(Step):
    """Write every service's settings; a file that already has them is left untouched."""

    name = "configs"

    def done(self, lab) -> bool:
        for path, sections in all_values(lab).items():
            if not Path(path).exists():
                return False
            current = inifile.read(Path(path))
            for section, values in sections.items():
                for key, value in values.items():
                    have = current.get(section, {}).get(key)
                    if (value is None) != (have is None) or (value is not None and have != inifile.format_value(value)):
                        return False
        return True

    def run(self, lab) -> None:
        for path, sections in all_values(lab).items():
            inifile.edit(Path(path), sections, mode=0o640, group=_owner(path))
        for d, owner in (("/var/lib/nova/tmp", "nova"), ("/var/lib/nova/instances", "nova"),
                         ("/var/lib/neutron/tmp", "neutron"), ("/var/lib/glance/images", "glance")):
            Path(d).mkdir(parents=True, exist_ok=True)
            shutil.chown(d, user=owner, group=owner)
