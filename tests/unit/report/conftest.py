"""Shared by the report tests: a data plane as ``pytest_oslab.report.dataplane.collect`` returns it (the shape of
one Linux bridge node with a vxlan network, a flat provider network, a router, two servers and their DHCP), and a
clouds.yaml whose cloud cannot be reached (the plugin's report runs without any cloud)."""
import copy
import os

import pytest
import yaml

NET = "8cc956e4-a1ff-4298-9560-71420c7e13ca"
PROV = "1d6b4d03-469f-4671-a4f7-2bf09491ce93"
P1, P2, DHCP, RI = ("60ad2c85-f3a1-4c51-9d0e-5b9f2f0e6a11", "7e12aa90-1b2c-4d3e-8f40-111111111111",
                    "bf33357a-0321-4bbf-b099-dab16ced5e00", "f0d879fd-08d7-44bb-92c4-360219205755")
S1, S2, R = ("5aa817f3-0000-4000-8000-000000000001", "5aa817f3-0000-4000-8000-000000000002",
             "247c42be-b8d7-4213-9a19-ce4210912d1c")
SECRET = "Pw-report-s3cr3t-77aa"


def _port(pid, net, mac, ip, owner, device):
    return {"id": pid, "name": "", "network_id": net, "mac": mac, "ips": [{"ip": ip, "subnet_id": "sub-" + net[:4]}],
            "owner": owner, "device_id": device, "status": "ACTIVE", "host": "vm", "vif_type": "bridge"}


PICTURE = {
    "driver": "linuxbridge", "firewall": "iptables", "gone": {"port": 2}, "problems": [],
    "networks": [
        {"id": PROV, "name": "provider", "status": "ACTIVE", "mtu": 1500, "type": "flat", "segmentation_id": None,
         "physnet": "provider", "external": True, "shared": True,
         "subnets": [{"id": "sub-1d6b", "name": "provider", "cidr": "198.18.10.0/24", "gateway": "198.18.10.1",
                      "pools": ["198.18.10.100-198.18.10.200"], "dhcp": True, "ip_version": 4}]},
        {"id": NET, "name": "oslab-2501011200abcd-workload-net", "status": "ACTIVE", "mtu": 1450, "type": "vxlan",
         "segmentation_id": 571, "physnet": "", "external": False, "shared": False,
         "subnets": [{"id": "sub-8cc9", "name": "s", "cidr": "10.10.0.0/24", "gateway": "10.10.0.1",
                      "pools": ["10.10.0.2-10.10.0.254"], "dhcp": True, "ip_version": 4}]}],
    "routers": [{"id": R, "name": "router", "status": "ACTIVE",
                 "gateway": {"network_id": PROV, "ips": ["198.18.10.125"]}, "ports": [RI]}],
    "servers": [{"id": S1, "name": "oslab-2501011200abcd-workload-1", "status": "ACTIVE", "host": "vm",
                 "instance_name": "instance-00000001", "ports": [P1]},
                {"id": S2, "name": "oslab-2501011200abcd-workload-2", "status": "ACTIVE", "host": "vm",
                 "instance_name": "instance-00000002", "ports": [P2]}],
    "ports": [_port(P1, NET, "fa:16:3e:00:00:01", "10.10.0.11", "compute:nova", S1),
              _port(P2, NET, "fa:16:3e:00:00:02", "10.10.0.12", "compute:nova", S2),
              _port(DHCP, NET, "fa:16:3e:00:0f:62", "10.10.0.2", "network:dhcp", "dhcp-x"),
              _port(RI, NET, "fa:16:3e:31:88:72", "10.10.0.1", "network:router_interface", R)],
    "floating_ips": [{"id": "f1000000-0000-4000-8000-000000000000", "address": "198.18.10.150", "port_id": P1,
                      "fixed_ip": "10.10.0.11", "network_id": PROV}],
    "nodes": [{
        "name": "vm", "problems": [],
        "devices": {
            "brq8cc956e4-a1": {"kind": "bridge", "master": "", "mtu": 1450, "mac": "96:26:94:9e:84:d9", "state": "UP",
                               "addresses": []},
            "tap60ad2c85-f3": {"kind": "tun", "master": "brq8cc956e4-a1", "mtu": 1450, "mac": "fe:16:3e:00:00:01",
                               "state": "UNKNOWN", "addresses": []},
            "tap7e12aa90-1b": {"kind": "tun", "master": "brq8cc956e4-a1", "mtu": 1450, "mac": "fe:16:3e:00:00:02",
                               "state": "UNKNOWN", "addresses": []},
            "tapf0d879fd-08": {"kind": "veth", "master": "brq8cc956e4-a1", "mtu": 1450, "mac": "fe:14:96:79:97:dd",
                               "state": "UP", "addresses": [], "peer": "if2"},
            "tapbf33357a-03": {"kind": "veth", "master": "brq8cc956e4-a1", "mtu": 1450, "mac": "96:26:94:9e:84:d9",
                               "state": "UP", "addresses": [], "peer": "if2"},
            "vxlan-571": {"kind": "vxlan", "master": "brq8cc956e4-a1", "mtu": 1450, "mac": "aa:bb:cc:dd:ee:ff",
                          "state": "UNKNOWN", "addresses": [],
                          "vxlan": {"id": 571, "local": "198.51.100.1", "port": 8472, "dev": "oslab-tun0"}}},
        "namespaces": {f"qdhcp-{NET}": {"ns-bf33357a-03": {"kind": "veth", "master": "", "mtu": 1450,
                                                           "mac": "fa:16:3e:00:0f:62", "state": "UP",
                                                           "addresses": ["10.10.0.2/24", "169.254.169.254/32"]}}},
        "dhcp": {NET: {"host": [["fa:16:3e:00:00:01", "host-10-10-0-11.openstacklocal", "10.10.0.11"],
                                ["fa:16:3e:00:00:02", "host-10-10-0-12.openstacklocal", "10.10.0.12"]],
                       "addn_hosts": [["10.10.0.11", "host-10-10-0-11.openstacklocal host-10-10-0-11"],
                                      ["10.10.0.12", "host-10-10-0-12.openstacklocal host-10-10-0-12"]],
                       "leases": [["fa:16:3e:00:00:01", "10.10.0.11"], ["fa:16:3e:00:00:02", "10.10.0.12"]],
                       "interface": "ns-bf33357a-03"}},
        "ovs_tags": {},
        "chains": {P1: {"in": ["-A neutron-linuxbri-i60ad2c85-f -j RETURN"], "out": ["-A x -j RETURN"],
                        "spoof": ["-A y -j DROP"]}},
        "domains": {S1: [{"type": "bridge", "mac": "fa:16:3e:00:00:01", "target": "tap60ad2c85-f3",
                          "source": "brq8cc956e4-a1", "mtu": 1450, "model": "virtio"}]}}],
}


@pytest.fixture
def picture():
    """A fresh copy of the data plane above (tests change it)."""
    return copy.deepcopy(PICTURE)


@pytest.fixture
def snapshot_of():
    """``snapshot_of(picture, reach=None, mechanism=("linuxbridge",))`` -> a snapshot dict."""
    from pytest_oslab.report import snapshot

    def make(picture, reach=None, mechanism=("linuxbridge",), phase="pre"):
        reach = {"workload-1 (10.10.0.11) answers ping from its network's DHCP namespace": True,
                 "workload-1 pings workload-2 (10.10.0.12)": True} if reach is None else reach
        return snapshot.make(phase, "lab", "2501011200abcd", "2501011300beef", copy.deepcopy(picture), reach,
                             {"mechanism": list(mechanism), "firewall": "iptables"})
    return make


@pytest.fixture
def unreachable_cloud(tmp_path, monkeypatch):
    """A clouds.yaml naming cloud ``lab`` at a closed local port (authentication fails at once) whose password is
    SECRET; OS_* variables of the machine cleared. Returns the cloud's name."""
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    secure = tmp_path / "secure.yaml"
    secure.write_text("clouds: {}\n")
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"lab": {
        "auth": {"auth_url": "http://127.0.0.1:9/v3", "username": "u", "password": SECRET, "project_name": "p",
                 "user_domain_name": "Default", "project_domain_name": "Default"}, "region_name": "RegionOne"}}}))
    monkeypatch.setenv("OS_CLIENT_SECURE_FILE", str(secure))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    return "lab"
