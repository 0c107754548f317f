"""A lab node's names, addresses and the files it is started from (its namespaces are proven in tests/lab)."""
import pytest

from pytest_oslab.lab import node as nodes
from pytest_oslab.lab.context import Lab
from pytest_oslab.lab.steps import LabError


@pytest.fixture
def lab(tmp_path):
    return Lab(root=tmp_path / "lib", etc=tmp_path / "etc", logs=tmp_path / "log", hostname="vm")


def test_compute_nodes_are_numbered_after_the_controller_in_the_tunnel_range(lab):
    first, second = nodes.compute(1, lab), nodes.compute(2, lab)
    assert (first.name, first.cidr, first.veth, first.ssh_spec) == (
        "compute1", "198.51.100.11/24", "oslab-m11", "ssh://oslab@198.51.100.11")
    assert second.address == "198.51.100.12" and second.mac == "02:00:c6:33:64:0c"
    assert nodes.named("compute2", lab=lab).number == 12


def test_a_node_of_another_name_needs_its_number(lab):
    with pytest.raises(LabError, match="give its number"):
        nodes.named("db1", lab=lab)
    with pytest.raises(LabError, match="not in 2..254"):
        nodes.named("db1", 1, lab)
    assert nodes.named("db1", 40, lab).address == "198.51.100.40"


def test_sshd_listens_on_the_management_address_with_the_node_host_key(lab):
    config = nodes.sshd_config(nodes.compute(1, lab)).splitlines()
    assert "ListenAddress 198.51.100.11:22" in config
    assert f"HostKey {lab.root}/nodes/compute1/ssh/ssh_host_ed25519_key" in config
    assert {"PermitRootLogin no", "PasswordAuthentication no", "PidFile /run/sshd.pid"} <= set(config)


def test_the_init_names_the_node_mounts_its_own_run_sys_hosts_and_state_then_reaps(lab, monkeypatch):
    monkeypatch.setattr(nodes, "STATE_DIRS", ("/tmp", "/nonexistent-oslab-dir"))  # only those that exist are bound
    text = nodes.init_script(nodes.compute(1, lab))
    script = text.splitlines()
    assert script[:2] == ["set -e", "hostname compute1"]
    assert "mount -t sysfs sysfs /sys" in script
    assert script.index("mount -t sysfs sysfs /sys") < next(i for i, l in enumerate(script)
                                                            if l.startswith("mount --rbind /tmp/.oslab-cg"))
    assert "mount -t tmpfs -o mode=0755,size=64m tmpfs /run" in script
    assert f"mount --bind {lab.root}/nodes/compute1/hosts /etc/hosts" in script
    assert f"mount --bind {lab.root}/nodes/compute1/state/tmp /tmp" in script
    assert not [l for l in script if "nonexistent-oslab-dir" in l]
    assert text.rsplit("\nexec ", 1)[1].startswith("/usr/bin/python3 -c '")
    assert text.endswith(f"{lab.root}/nodes/compute1/init.ready oslab-node compute1")


def test_a_recorded_pid_counts_only_while_it_is_that_node_init(lab, tmp_path):
    node = nodes.compute(1, lab)
    node.root.mkdir(parents=True)
    assert nodes.init_pid(node) is None
    node.pid_file.write_text("1 0\n")  # PID 1 is this machine's init, not the node's
    assert nodes.init_pid(node) is None
