"""How the lab's nodes are logged into: the clouds.yaml node entries over SSH, each sshd's configuration, the lab's
known_hosts lines (the nodes' sshds themselves are proven in tests/lab)."""
import pytest

from pytest_oslab.access.inventory import Inventory
from pytest_oslab.access.nodes import host_spec
from pytest_oslab.lab import identity, node as nodes, services, sshd
from pytest_oslab.lab.context import Lab

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIKq0m7oPb3v7Q4l2JmM8bK3JcGZ0qMxQ3zqAqTjv8s1y"


@pytest.fixture
def lab(tmp_path):
    made = Lab(root=tmp_path / "lib", etc=tmp_path / "etc", logs=tmp_path / "log", hostname="vm")
    made.state.mkdir(parents=True)
    return made


def test_one_node_lab_names_the_controller_over_ssh_on_its_management_address(lab):
    assert identity.node_entries(lab) == [{"name": "vm", "host": "ssh://oslab@198.51.100.1",
                                           "roles": ["controller", "network", "compute"],
                                           "key": f"{lab.etc}/node_key"}]


def test_three_node_lab_adds_each_compute_as_the_access_layer_reaches_it(lab):
    nodes.count_file(lab).write_text("3\n")
    entries = identity.node_entries(lab)
    assert [(e["name"], e["host"], e["roles"]) for e in entries] == [
        ("vm", "ssh://oslab@198.51.100.1", ["controller", "network", "compute"]),
        ("compute1", "ssh://oslab@198.51.100.11", ["compute"]),
        ("compute2", "ssh://oslab@198.51.100.12", ["compute"])]
    inventory = Inventory.build(entries)
    assert [n.name for n in inventory.with_role("compute")] == ["vm", "compute1", "compute2"]
    spec, kwargs, sudo = host_spec(inventory.with_role("compute")[2], None, None, 10)
    assert (spec, kwargs["ssh_identity_file"], sudo) == ("paramiko://oslab@198.51.100.12", f"{lab.etc}/node_key", True)


def test_the_controller_sshd_listens_on_the_tunnel_address_only_with_its_own_pid_file(lab):
    config = sshd.config("vm", lab.tunnel_ip, sshd.controller_dir(lab), "/run/oslab-sshd.pid").splitlines()
    assert {"ListenAddress 198.51.100.1:22", f"HostKey {lab.etc}/ssh/ssh_host_ed25519_key",
            "PidFile /run/oslab-sshd.pid", "PermitRootLogin no", "PasswordAuthentication no"} <= set(config)
    daemon, = services.node_access(lab)
    assert daemon.argv == ["/usr/sbin/sshd", "-D", "-f", f"{lab.etc}/ssh/sshd_config", "-E", f"{lab.logs}/sshd.log"]
    assert "sshd" in [d.name for d in services.all_daemons(lab)]  # status lists it, down stops it


def test_known_hosts_lines_of_the_lab_addresses_are_replaced_and_others_kept(tmp_path):
    pub = tmp_path / "k.pub"
    pub.write_text(f"ssh-ed25519 {KEY} root@compute1\n")
    current = ("# the operator's\nbastion.example ssh-rsa AAAAB3Nza\n"
               "198.51.100.11 ssh-ed25519 AAAAold\n198.51.100.11,compute1 ssh-ed25519 AAAAolder\n")
    text = sshd.known_hosts_text(current, {"198.51.100.11": pub})
    assert text.splitlines() == ["# the operator's", "bastion.example ssh-rsa AAAAB3Nza",
                                 f"198.51.100.11 ssh-ed25519 {KEY}"]
    assert sshd.known_hosts_text(text, {"198.51.100.11": pub}) == text  # written once
