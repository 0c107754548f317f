"""An OVN compute node: its daemons and their command lines, its chassis' external_ids (on its Open vSwitch and
in the southbound DB, read from real ovs-vsctl/ovn-sbctl outputs), and the controller's databases it reaches."""
import sys
from pathlib import Path

import pytest

from pytest_oslab.lab import compute_node, host, inifile, node as nodes, node_ovn, node_switch, services
from pytest_oslab.lab.context import DRIVERS, Lab
from pytest_oslab.lab.steps import LabError

DATA = Path(__file__).resolve().parents[2] / "data" / "captured" / "lab-ovn-chassis"
OVS_IDS = (DATA / "ovs-vsctl-list-Open_vSwitch-external_ids.json").read_text()
CHASSIS = (DATA / "ovn-sbctl-list-Chassis.json").read_text()


@pytest.fixture
def lab(tmp_path):
    return Lab(root=tmp_path / "lib", etc=tmp_path / "etc", logs=tmp_path / "log", hostname="vm", driver="ovn")


def _daemons(node):
    return {log.stem: (word, argv, namespaces, user)
            for word, argv, log, namespaces, user in compute_node.daemons(node)}


def test_an_ovn_compute_runs_its_switch_its_chassis_then_nova_compute_and_the_metadata_agent(lab):
    node = nodes.compute(1, lab)
    order = [log.stem for word, argv, log, namespaces, user in compute_node.daemons(node)]
    assert order == ["haproxy-machine", "haproxy-node", "ovsdb-server", "ovs-vswitchd", "tap-guard", "ovn-controller",
                     "os-vif-ovsdb-relay", "virtlogd", "libvirtd", "nova-compute", "neutron-ovn-metadata-agent"]
    words = [word for word, argv, log, namespaces, user in compute_node.daemons(node)]
    assert len(set(words)) == len(words)
    assert all(namespaces == "-m -u -n -p" for stem, (w, a, namespaces, u) in _daemons(node).items()
               if stem != "haproxy-machine")


def test_the_node_ovn_controller_uses_the_node_own_switch_and_logs_in_the_node_log_directory(lab):
    node = nodes.compute(2, lab)
    word, argv, namespaces, user = _daemons(node)["ovn-controller"]
    assert argv == ["/usr/bin/ovn-controller", "unix:/run/openvswitch/db.sock",
                    f"--log-file={lab.logs}/nodes/compute2/ovn-controller.log"]
    assert word == "/usr/bin/ovn-controller" and user == ""
    # no --unixctl: its control socket is /run/ovn/ovn-controller.<pid>.ctl in the node's own /run, where the
    # suite's OVN checks look (checks.ovn.OVN_RUNDIR)
    assert "/run/ovn" in nodes.init_script(node)


def test_the_node_os_vif_relay_fronts_the_node_own_ovsdb_and_keeps_br_int_on_netdev(lab):
    word, argv, namespaces, user = _daemons(nodes.compute(1, lab))["os-vif-ovsdb-relay"]
    assert argv == [sys.executable, "-m", "pytest_oslab.lab.ovsdb_filter", "6639", "6640", "netdev"]
    assert namespaces == "-m -u -n -p"  # in the node's network namespace: its 127.0.0.1, its ovsdb-server


def test_the_metadata_agent_replaces_the_l2_agent_and_reads_its_own_ini(lab):
    daemons = _daemons(nodes.compute(1, lab))
    assert not any(stem.endswith(("linuxbridge-agent", "openvswitch-agent")) for stem in daemons)
    word, argv, namespaces, user = daemons["neutron-ovn-metadata-agent"]
    assert argv == ["/usr/bin/neutron-ovn-metadata-agent", "--config-file", "/etc/neutron/neutron.conf",
                    "--config-file", "/etc/neutron/neutron_ovn_metadata_agent.ini",
                    "--log-file", "/var/log/neutron/neutron-ovn-metadata-agent.log"]
    assert compute_node.NETWORK_AGENTS["ovn"] == ("ovn-controller", "neutron-ovn-metadata-agent")


def test_the_node_metadata_agent_config_points_at_the_node_ovsdb_and_the_controller_southbound(lab, tmp_path):
    neutron = tmp_path / "node-etc-neutron"
    neutron.mkdir()
    ini = neutron / "neutron_ovn_metadata_agent.ini"
    inifile.edit(ini, {"DEFAULT": {"nova_metadata_host": "127.0.0.1", "metadata_workers": 1},
                       "ovs": {"ovsdb_connection": "tcp:127.0.0.1:6640"},
                       "ovn": {"ovn_sb_connection": "tcp:127.0.0.1:6642"}})  # the controller's, as configs writes it
    node_ovn.configure(neutron, nodes.compute(1, lab))
    text = ini.read_text()
    assert "ovn_sb_connection = tcp:198.51.100.1:6642" in text and "127.0.0.1:6642" not in text
    assert "ovsdb_connection = tcp:127.0.0.1:6640" in text
    assert "nova_metadata_host = 127.0.0.1" in text  # through the node's forwarder of 8775


def test_an_ovn_node_forwards_nova_metadata_and_the_others_do_not(lab):
    assert "listen p8775\n  bind 127.0.0.1:8775\n" in compute_node._forward_config(nodes.compute(1, lab), "node")
    lb = nodes.compute(1, Lab(root=lab.root, logs=lab.logs, driver="linuxbridge"))
    assert "8775" not in compute_node._forward_config(lb, "node")


def test_the_node_chassis_external_ids_name_the_node_its_address_and_the_controller_southbound(lab):
    assert node_ovn.external_ids(nodes.compute(1, lab)) == {
        "system-id": "compute1", "hostname": "compute1", "ovn-remote": "tcp:198.51.100.1:6642",
        "ovn-encap-type": "geneve", "ovn-encap-ip": "198.51.100.11", "ovn-bridge-datapath-type": "netdev",
        "ovn-bridge-mappings": "provider:br-provider"}  # no ovn-cms-options: the gateways stay on the controller


def test_after_its_database_the_node_switch_gets_the_ids_that_the_captured_listing_shows(lab):
    """The arguments given here, run by the real ovs-vsctl, made the captured listing (see its CAPTURED)."""
    node, calls = nodes.compute(1, lab), []
    assert node_ovn.after_database(node, lambda *args: calls.append(args) or "") == []
    assert calls == [("--no-wait", "set", "Open_vSwitch", ".", 'external_ids:system-id="compute1"',
                      'external_ids:hostname="compute1"', 'external_ids:ovn-remote="tcp:198.51.100.1:6642"',
                      'external_ids:ovn-encap-type="geneve"', 'external_ids:ovn-encap-ip="198.51.100.11"',
                      'external_ids:ovn-bridge-datapath-type="netdev"',
                      'external_ids:ovn-bridge-mappings="provider:br-provider"')]
    assert node_ovn.ids_missing(node, OVS_IDS) == []


def test_a_switch_with_another_node_ids_is_reported_key_by_key_with_expected_and_actual(lab):
    found = node_ovn.ids_missing(nodes.compute(2, lab), OVS_IDS)
    assert "Open vSwitch external_ids:system-id is 'compute1', expected 'compute2'" in found
    assert "Open vSwitch external_ids:ovn-encap-ip is '198.51.100.11', expected '198.51.100.12'" in found
    assert len(found) == 3  # system-id, hostname, encap IP: the remote and mappings are every node's
    assert node_ovn.ids_missing(nodes.compute(1, lab), "") == [
        "its Open vSwitch database does not answer (ovs-vsctl list Open_vSwitch)"]


def test_neutron_external_ids_on_each_chassis_gateway_only_on_the_controller():
    assert host.chassis_missing("vm", host.chassis_wanted(gateway=True), CHASSIS) == []
    assert host.chassis_missing("compute1", host.chassis_wanted(gateway=False), CHASSIS) == []
    assert host.chassis_missing("compute2", host.chassis_wanted(gateway=False), CHASSIS) == [
        "chassis compute2: external_ids:ovn-bridge-mappings is None, expected 'provider:br-provider'",
        "chassis compute2: external_ids:datapath-type is None, expected 'netdev'"]
    assert host.chassis_missing("compute3", {}, CHASSIS) == [
        "chassis compute3 is not in the southbound database (registered: ['compute1', 'compute2', 'vm'])"]
    assert "ovn-cms-options" not in host.chassis_wanted(gateway=False)


def test_the_node_missing_chassis_lines_name_the_node_and_its_ovn_controller_log(lab, monkeypatch):
    node = nodes.compute(2, lab)
    monkeypatch.setattr(node_ovn, "chassis_listing", lambda: CHASSIS)
    found = node_ovn.missing(node, lambda *args, check=True: OVS_IDS)
    log = f"(log: {lab.logs}/nodes/compute2/ovn-controller.log)"
    assert found[0] == f"node compute2: Open vSwitch external_ids:system-id is 'compute1', expected 'compute2' {log}"
    assert f"node compute2: chassis compute2: external_ids:datapath-type is None, expected 'netdev' {log}" in found


def test_the_controller_ovn_databases_listen_on_loopback_and_its_management_address_only(lab):
    argv = {d.name: d.argv for d in services.ovn_databases(lab)}
    for name, port in (("ovn-sbdb", 6642), ("ovn-nbdb", 6641)):
        remotes = [a for a in argv[name] if a.startswith("--remote=")]
        which = name[4:6]
        assert remotes == [f"--remote=punix:/run/ovn/ovn{which}_db.sock", f"--remote=ptcp:{port}:127.0.0.1",
                           f"--remote=ptcp:{port}:198.51.100.1"]
    assert services.ovn_remote(lab) == "tcp:198.51.100.1:6642"


def test_every_driver_may_have_compute_nodes_and_an_unknown_one_is_refused_by_name():
    assert set(compute_node.AGENTS) == set(DRIVERS)
    with pytest.raises(LabError, match="the lab's driver is bogus"):
        compute_node.scale(Lab(driver="bogus"), 3, conn=None)


def test_up_settles_the_chassis_after_ovn_controller_starts(lab):
    settle = compute_node.settling(nodes.compute(1, lab), pid=1)
    assert set(settle) == {node_switch.DB_SERVER, node_switch.SWITCH, node_ovn.CONTROLLER}


def test_a_chassis_never_registered_names_the_node_the_remote_and_both_logs(lab, monkeypatch):
    def unregistered(name, wanted, log, timeout=60.0):
        raise LabError(f"ovn-controller did not register chassis {name!r} in the southbound database in 60s",
                       log=str(log))
    monkeypatch.setattr(node_ovn, "copy_to_chassis", unregistered)
    with pytest.raises(LabError) as failed:
        node_ovn.after_controller(nodes.compute(1, lab))
    message = str(failed.value)
    assert message.startswith("node compute1: its ovn-controller, on tcp:198.51.100.1:6642, did not register")
    assert f"{lab.logs}/ovn-sbdb.log" in message
    assert message.count("(log: ") == 1 and message.endswith(f"(log: {lab.logs}/nodes/compute1/ovn-controller.log)")
