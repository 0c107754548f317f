"""A compute node's forwarders to the controller's loopback services and its daemons (OVN: test_node_ovn)."""
import pytest

from pytest_oslab.lab import compute_node, node as nodes
from pytest_oslab.lab.context import Lab
from pytest_oslab.lab.steps import LabError


@pytest.fixture
def compute1(tmp_path):
    return nodes.compute(1, Lab(root=tmp_path / "lib", etc=tmp_path / "etc", logs=tmp_path / "log", hostname="vm"))


def test_the_machine_side_forwards_each_socket_to_the_controller_loopback_port(compute1):
    config = compute_node._forward_config(compute1, "machine")
    for port in (5672, 5000, 8778, 9292, 9696):
        assert (f"listen p{port}\n  bind unix@{compute1.root}/forward/{port}.sock mode 600\n"
                f"  server controller 127.0.0.1:{port}\n") in config
    assert "  mode tcp\n" in config and "3306" not in config and "8774" not in config


def test_the_node_side_listens_on_the_node_loopback_and_goes_through_the_socket(compute1):
    config = compute_node._forward_config(compute1, "node")
    assert f"listen p5672\n  bind 127.0.0.1:5672\n  server controller unix@{compute1.root}/forward/5672.sock\n" in config


def test_an_openvswitch_compute_runs_its_own_switch_before_nova_compute_and_the_ovs_agent(tmp_path):
    lab = Lab(root=tmp_path / "lib", etc=tmp_path / "etc", logs=tmp_path / "log", hostname="vm", driver="openvswitch")
    order = [log.stem for word, argv, log, namespaces, user in compute_node.daemons(nodes.compute(1, lab))]
    assert order.index("ovsdb-server") < order.index("ovs-vswitchd") < order.index("nova-compute")
    assert order[-1] == "neutron-openvswitch-agent" and "neutron-linuxbridge-agent" not in order
    argv = dict((log.stem, argv) for word, argv, log, namespaces, user in compute_node.daemons(nodes.compute(1, lab)))
    assert "/etc/neutron/plugins/ml2/openvswitch_agent.ini" in argv["neutron-openvswitch-agent"]
    assert argv["ovsdb-server"][1] == "/etc/openvswitch/conf.db"  # the node's own, bound over the machine's
    assert "--remote=punix:/run/openvswitch/db.sock" in argv["ovsdb-server"]  # the node's private /run


def test_every_daemon_of_a_compute_node_is_known_by_a_word_only_it_has(compute1):
    words = [word for word, argv, log, namespaces, user in compute_node.daemons(compute1)]
    assert len(set(words)) == len(words)
    users = {log.stem: user for word, argv, log, namespaces, user in compute_node.daemons(compute1)}
    assert users["nova-compute"] == "nova" and users["neutron-linuxbridge-agent"] == ""
    spaces = {log.stem: namespaces for word, argv, log, namespaces, user in compute_node.daemons(compute1)}
    assert spaces["haproxy-machine"] == "-m -p"  # the machine's network: it reaches the controller's loopback


def test_the_node_etc_is_updated_in_place_so_a_bound_directory_stays_the_one_the_node_sees(tmp_path):
    src, own = tmp_path / "etc-nova", tmp_path / "node-etc-nova"
    (src / "sub").mkdir(parents=True)
    (src / "rootwrap.conf").write_text("[DEFAULT]\nfilters_path=/etc/nova/rootwrap.d\n")
    (src / "sub" / "a.ini").write_text("a\n")
    (src / "link").symlink_to("rootwrap.conf")
    compute_node._copy_into(src, own)
    inode = own.stat().st_ino
    (own / "stale").write_text("left by an older copy\n")
    (src / "rootwrap.conf").write_text("[DEFAULT]\nfilters_path=/etc/nova/rootwrap.d,/usr/share/nova/rootwrap\n")
    compute_node._copy_into(src, own)
    assert own.stat().st_ino == inode  # the same directory: a node's bind mount of it sees the new files
    assert sorted(p.name for p in own.iterdir()) == ["link", "rootwrap.conf", "sub"]
    assert (own / "rootwrap.conf").read_text().endswith("/usr/share/nova/rootwrap\n")
    assert (own / "link").readlink().name == "rootwrap.conf" and (own / "sub" / "a.ini").read_text() == "a\n"
