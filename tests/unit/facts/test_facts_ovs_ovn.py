import pytest

from pytest_oslab.facts import ovn, ovs

OVS = "captured/ovs-ovn/"


def test_decode_ovsdb_values():
    assert ovs.decode(["uuid", "u1"]) == "u1"
    assert ovs.decode(["set", [["uuid", "a"], ["uuid", "b"]]]) == ["a", "b"]
    assert ovs.decode(["map", [["peer", "int-br-provider"]]]) == {"peer": "int-br-provider"}
    assert ovs.decode(["set", []]) == [] and ovs.decode(7) == 7 and ovs.decode("x") == "x"
    assert ovs.as_list("only") == ["only"] and ovs.as_optional([]) is None and ovs.as_optional([3]) == 3
    with pytest.raises(ValueError):
        ovs.as_optional([1, 2])


def test_bridges_fail_mode_and_controllers_n12(data):
    bridges = {b.name: b for b in ovs.parse_bridges(data(OVS + "ovs-list-Bridge.json"))}
    assert set(bridges) == {"br-int", "br-provider"}
    assert all(b.fail_mode == "secure" and len(b.controllers) == 1 for b in bridges.values())
    assert bridges["br-int"].protocols == ("OpenFlow10", "OpenFlow13", "OpenFlow14") and len(bridges["br-int"].ports) == 4
    controllers = ovs.parse_targets(data(OVS + "ovs-list-Controller.json"))
    assert {c.uuid for c in controllers} == {b.controllers[0] for b in bridges.values()}
    assert all(c.is_connected and c.target == "tcp:127.0.0.1:6633" for c in controllers)
    (manager,) = ovs.parse_targets(data(OVS + "ovs-list-Manager.json"))
    assert (manager.target, manager.is_connected) == ("ptcp:6640:127.0.0.1", False)


def test_ports_tags_and_bridge_membership_i8(data):
    bridges = ovs.parse_bridges(data(OVS + "ovs-list-Bridge.json"))
    ports = {p.name: p for p in ovs.parse_ports(data(OVS + "ovs-list-Port.json"))}
    assert ports["tap60ad2c85-f3"].tag == ports["tap43bf8dcc-08"].tag == 1
    assert ports["tap60ad2c85-f3"].other_config["net_uuid"] == "85f372ef-f39a-42bb-a06b-9f9ed8e4e58e"
    assert ports["int-br-provider"].tag is None and ports["eth0"].trunks == ()
    assert ovs.bridge_of_port("tap60ad2c85-f3", bridges, ports.values()).name == "br-int"
    assert ovs.bridge_of_port("eth0", bridges, ports.values()).name == "br-provider"
    assert ovs.bridge_of_port("nope", bridges, ports.values()) is None
    assert ovs.by_uuid(ports.values())[ports["eth0"].uuid].name == "eth0"


def test_interfaces_patch_peers_and_iface_ids(data):
    ifaces = {i.name: i for i in ovs.parse_interfaces(data(OVS + "ovs-list-Interface.json"))}
    assert (ifaces["int-br-provider"].type, ifaces["int-br-provider"].options) == ("patch", {"peer": "phy-br-provider"})
    assert ifaces["phy-br-provider"].options["peer"] == "int-br-provider"
    tap = ifaces["tap60ad2c85-f3"]
    assert (tap.type, tap.iface_id, tap.attached_mac) == ("", "60ad2c85-f31e-4b2a-8c7d-9e0f1a2b3c4d", "fa:16:3e:e9:6a:38")
    assert tap.external_ids["vm-uuid"] == "5aa817f3-b106-42b0-95d6-f2a8d1b6bea0" and tap.mtu == 1500
    assert ifaces["tap43bf8dcc-08"].type == "internal" and ifaces["br-int"].ofport == 65534


def test_open_vswitch_record(data):
    (root,) = ovs.parse_records(data(OVS + "ovs-list-Open_vSwitch.json"))
    assert root["ovs_version"] == "3.1.0" and root["other_config"] == {"userspace-tso-enable": "true"}
    assert len(root["bridges"]) == 2 and "patch" in root["iface_types"]


@pytest.mark.parametrize("name, version, datapath", [("seeds/000-ovs-vsctl-show.txt", "3.1.4", "system"),
                                                     ("seeds/003-ovs-vsctl-show.txt", "3.1.4", "system"),
                                                     (OVS + "ovs-vsctl-show.txt", "3.1.0", "netdev")])
def test_vsctl_show_n12(data, name, version, datapath):
    show = ovs.parse_vsctl_show(data(name))
    assert show.ovs_version == version and [m.target for m in show.managers] == ["ptcp:6640:127.0.0.1"]
    assert set(show.bridges) == {"br-int", "br-provider"}
    for bridge in show.bridges.values():
        assert (bridge.fail_mode, bridge.datapath_type) == ("secure", datapath)
        assert [(c.target, c.is_connected) for c in bridge.controllers] == [("tcp:127.0.0.1:6633", True)]
    peer = show.bridges["br-int"].ports["int-br-provider"].interfaces["int-br-provider"]
    assert (peer.type, peer.options) == ("patch", {"peer": "phy-br-provider"})
    assert show.bridge_of_port("eth0").name == "br-provider"


def test_seed_000_vsctl_show_tap_tag_i8(data):
    show = ovs.parse_vsctl_show(data("seeds/000-ovs-vsctl-show.txt"))
    assert show.uuid == "9ab7209e-d2af-4403-9ddb-416bc283b632" and show.managers[0].is_connected
    tap = show.bridges["br-int"].ports["tap60ad2c85-f3"]
    assert tap.tag == 1 and tap.interfaces["tap60ad2c85-f3"].type == ""
    assert show.bridges["br-provider"].ports["eth0"].interfaces["eth0"].type == "system"
    assert show.bridge_of_port("tap60ad2c85-f3").name == "br-int"


def test_seed_003_dhcp_tap_is_internal_with_tag(data):
    port = ovs.parse_vsctl_show(data("seeds/003-ovs-vsctl-show.txt")).bridges["br-int"].ports["tap43bf8dcc-08"]
    assert port.tag == 1 and port.interfaces["tap43bf8dcc-08"].type == "internal"


def test_ovn_logical_switch_and_ports(data):
    (switch,) = ovn.parse_logical_switches(data(OVS + "ovn-nb-list-Logical_Switch.json"))
    assert switch.network_id == "85f372ef-f39a-42bb-a06b-9f9ed8e4e58e" and switch.external_ids["neutron:mtu"] == "1500"
    ports = {p.name: p for p in ovn.parse_logical_switch_ports(data(OVS + "ovn-nb-list-Logical_Switch_Port.json"))}
    assert {p.uuid for p in ports.values()} == set(switch.ports)
    vm = ports["60ad2c85-f31e-4b2a-8c7d-9e0f1a2b3c4d"]
    assert (vm.type, vm.mac, vm.ips, vm.up) == ("", "fa:16:3e:e9:6a:38", ("172.17.0.153",), True)
    assert vm.port_security == ("fa:16:3e:e9:6a:38 172.17.0.153",)
    assert vm.external_ids["neutron:device_owner"] == "compute:nova"
    meta = ports["43bf8dcc-083a-4c61-8d5f-bd6c7e763e5b"]
    assert (meta.type, meta.mac, meta.up) == ("localport", "fa:16:3e:4a:1e:19", False)
    localnet = ports["provnet-85f372ef"]
    assert (localnet.type, localnet.mac, localnet.ips, localnet.options) == ("localnet", None, (), {"network_name": "provider"})


def test_ovn_port_binding_on_a_chassis(data):
    bindings = {b.logical_port: b for b in ovn.parse_port_bindings(data(OVS + "ovn-sb-list-Port_Binding.json"))}
    (chassis,) = ovn.parse_chassis(data(OVS + "ovn-sb-list-Chassis.json"))
    vm = bindings["60ad2c85-f31e-4b2a-8c7d-9e0f1a2b3c4d"]
    assert (vm.chassis, vm.up, vm.tunnel_key) == (chassis.uuid, True, 1)
    assert bindings["43bf8dcc-083a-4c61-8d5f-bd6c7e763e5b"].chassis is None
    assert (chassis.hostname, chassis.name) == ("compute", "0d7c6a1e-3f2b-4c5d-9e8f-7a6b5c4d3e2f")
    assert chassis.bridge_mappings == {"provider": "br-provider"} and len(chassis.encaps) == 1


LAB_OVN = "captured/lab-ovn/"


def test_ovn_dhcp_options_of_the_labs_subnets(data):
    options = {o.cidr: o for o in ovn.parse_dhcp_options(data(LAB_OVN + "ovn-nb-list-DHCP_Options.json"))}
    assert set(options) == {"198.18.10.0/24", "10.10.0.0/24"}
    selfservice = options["10.10.0.0/24"]
    assert (selfservice.options["mtu"], selfservice.options["router"], selfservice.options["lease_time"]) == \
        ("1442", "10.10.0.1", "43200")
    assert selfservice.subnet_id and options["198.18.10.0/24"].options["mtu"] == "1500"
    ports = ovn.parse_logical_switch_ports(data(LAB_OVN + "ovn-nb-list-Logical_Switch_Port.json"))
    assert {p.dhcpv4_options for p in ports} - {None} <= {o.uuid for o in options.values()}


def test_ovn_port_groups_and_acls_of_the_labs_groups(data):
    groups = {g.name: g for g in ovn.parse_port_groups(data(LAB_OVN + "ovn-nb-list-Port_Group.json"))}
    acls = {a.uuid: a for a in ovn.parse_acls(data(LAB_OVN + "ovn-nb-list-ACL.json"))}
    assert set().union(*(g.acls for g in groups.values())) == set(acls)
    drop = [acls[u] for u in groups["neutron_pg_drop"].acls]
    assert sorted((a.direction, a.priority, a.action, a.rule_id) for a in drop) == [
        ("from-lport", 1001, "drop", None), ("to-lport", 1001, "drop", None)]
    ssh = [a for a in acls.values() if "tcp.dst == 22" in a.match]
    assert len(ssh) == 1 and (ssh[0].direction, ssh[0].action, ssh[0].priority) == ("to-lport", "allow-related", 1002)
    assert ssh[0].rule_id and ssh[0].match.startswith("outport == @pg_")
    assert all(a.rule_id for g, group in groups.items() if g.startswith("pg_") for a in map(acls.get, group.acls))
