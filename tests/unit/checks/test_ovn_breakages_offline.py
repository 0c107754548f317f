"""ML2/OVN breakages, offline: the northbound DB a passing suite run read on the lab's OVN mode (the recording
``data/lab-ovn.json.gz``), changed the way a broken cloud would show it, makes the OVN check fail naming the object
and showing expected against actual."""
import json

import pytest
from openstack.network.v2.network import Network

import recording
from pytest_oslab.checks import ovn
from pytest_oslab.checks.core import CheckFailed
from pytest_oslab.checks.nodes import NodeFacts

NODE = "vm"
NB = "ovn-nbctl --db=tcp:127.0.0.1:6641 --format=json list "
OVN = recording.HERE / "data" / "lab-ovn.json.gz"


@pytest.fixture(scope="module")
def ovn_lab():
    return recording.Lab(recording.load(OVN))


def broken(lab, check, test, edit):
    call = lab.call(check, test)
    assert lab.replay(call) is None, f"{check} did not pass on its recorded outputs"
    world = lab.world(call)
    edit(world, call)
    failure = lab.replay(call, world)
    assert isinstance(failure, CheckFailed), f"{check} passed despite the breakage"
    return str(failure), call


def rows(change):
    """Edit an OVSDB JSON table through ``change(list of row dicts)``; the rows are written back in place."""
    def edit(data):
        headings = data["headings"]
        table = [dict(zip(headings, row)) for row in data["data"]]
        change(table)
        data["data"] = [[row[h] for h in headings] for row in table]
    return edit


def body(call, index):
    return call["args"][index]["body"]


def test_an_acl_whose_port_is_not_the_rules_fails_s1_naming_the_rule(ovn_lab):
    def edit(world, call):
        def change(table):
            ssh = [r for r in table if "tcp.dst == 22" in r["match"]]
            assert ssh, "no ACL of the SSH rule in the recording"
            ssh[0]["match"] = ssh[0]["match"].replace("tcp.dst == 22", "tcp.dst == 2222")
        world.edit_json("node", NODE, NB + "ACL", rows(change))
    message, call = broken(ovn_lab, "ovn_acls.check_port_groups", "[selfservice]", edit)
    assert "ingress IPv4 tcp 22" in message and "tcp.dst == 2222" in message
    assert "missing tcp.dst == 22" in message and body(call, 2)["id"] in message


def test_a_port_left_out_of_its_port_group_fails_s4(ovn_lab):
    call = ovn_lab.call("ovn_acls.check_port_groups", "[provider]")
    group = "pg_" + body(call, 2)["security_group_ids"][0].replace("-", "_")

    def edit(world, call):
        def change(table):
            row = next(r for r in table if r["name"] == group)
            row["ports"] = ["set", []]
        world.edit_json("node", NODE, NB + "Port_Group", rows(change))
    message, _ = broken(ovn_lab, "ovn_acls.check_port_groups", "[provider]", edit)
    assert f"port group {group}: expected to hold the port's logical switch port" in message


def test_a_port_in_another_groups_port_group_fails_s1_naming_the_group(ovn_lab):
    """Judged whole: the port's logical switch port also in a port group of a security group it is not in (that
    group's ACLs apply to it)."""
    call = ovn_lab.call("ovn_acls.check_port_groups", "[provider]")
    port = body(call, 2)
    own = {"pg_" + g.replace("-", "_") for g in port["security_group_ids"]} | {"neutron_pg_drop"}
    world = ovn_lab.world(call)
    lsps = json.loads(world.text(world.queues[("node", NODE, NB + "Logical_Switch_Port")][0]["stdout"]))
    uuid = next(dict(zip(lsps["headings"], r))["_uuid"] for r in lsps["data"]
                if dict(zip(lsps["headings"], r))["name"] == port["id"])
    groups = json.loads(world.text(world.queues[("node", NODE, NB + "Port_Group")][0]["stdout"]))
    other = next(name for name in (dict(zip(groups["headings"], r))["name"] for r in groups["data"])
                 if name not in own)

    def change(table):
        row = next(r for r in table if r["name"] == other)
        members = row["ports"][1] if row["ports"][0] == "set" else [row["ports"]]
        row["ports"] = ["set", members + [uuid]]
    world.edit_json("node", NODE, NB + "Port_Group", rows(change))
    failure = ovn_lab.replay(call, world)
    assert isinstance(failure, CheckFailed), "S1 passed with the port in another group's port group"
    assert f"port group {other}: expected the port only in its groups' port groups and neutron_pg_drop, actual in " \
           f"{other} too (its ACLs apply to the port)" in str(failure) and port["id"] in str(failure)


def test_an_acl_of_a_rule_the_api_does_not_show_fails_s1(ovn_lab):
    def edit(world, call):
        def change(table):
            ssh = next(r for r in table if "tcp.dst == 22" in r["match"])
            stray = dict(ssh, _uuid=["uuid", "00000000-0000-4000-8000-000000000001"],
                         external_ids=["map", [["neutron:security_group_rule_id",
                                                "11111111-2222-4333-8444-555555555555"]]])
            stray["match"] = ssh["match"].replace("tcp.dst == 22", "tcp.dst == 23")
            table.append(stray)

        def group_change(table):
            for row in table:
                if row["name"].startswith("pg_"):
                    acls = row["acls"][1] if row["acls"][0] == "set" else [row["acls"]]
                    row["acls"] = ["set", acls + [["uuid", "00000000-0000-4000-8000-000000000001"]]]
        world.edit_json("node", NODE, NB + "ACL", rows(change))
        world.edit_json("node", NODE, NB + "Port_Group", rows(group_change))
    message, _ = broken(ovn_lab, "ovn_acls.check_port_groups", "[selfservice]", edit)
    assert "expected only ACLs of the group's rules, actual an ACL of rule 11111111, which the API does not show: " \
           "to-lport allow-related" in message and "tcp.dst == 23" in message


def test_an_acl_of_no_rule_in_the_ports_port_group_fails_s1_naming_it(ovn_lab):
    """Issue 14: an ACL added to the port's port group without a security-group rule id (ACLs without one were
    skipped) that lets TCP 8080 in."""
    call = ovn_lab.call("ovn_acls.check_port_groups", "[selfservice]")
    group = "pg_" + body(call, 2)["security_group_ids"][0].replace("-", "_")
    uuid = "00000000-0000-4000-8000-000000000002"

    def edit(world, call):
        def change(table):
            ssh = next(r for r in table if "tcp.dst == 22" in r["match"])
            table.append(dict(ssh, _uuid=["uuid", uuid], external_ids=["map", []],
                              match=ssh["match"].replace("tcp.dst == 22", "tcp.dst == 8080")))

        def group_change(table):
            row = next(r for r in table if r["name"] == group)
            acls = row["acls"][1] if row["acls"][0] == "set" else [row["acls"]]
            row["acls"] = ["set", acls + [["uuid", uuid]]]
        world.edit_json("node", NODE, NB + "ACL", rows(change))
        world.edit_json("node", NODE, NB + "Port_Group", rows(group_change))
    message, _ = broken(ovn_lab, "ovn_acls.check_port_groups", "[selfservice]", edit)
    assert f"{group}: expected only ACLs of the group's rules, actual an ACL of no rule: to-lport allow-related " \
           in message and "tcp.dst == 8080" in message and body(call, 2)["id"] in message


def test_port_security_with_another_ip_fails_s3(ovn_lab):
    call = ovn_lab.call("ovn_acls.check_port_security", "[selfservice]")
    port = body(call, 2)
    ip = port["fixed_ips"][0]["ip_address"]

    def edit(world, call):
        def change(table):
            row = next(r for r in table if r["name"] == port["id"])
            row["port_security"] = f"{port['mac_address']} 10.9.9.9"
        world.edit_json("node", NODE, NB + "Logical_Switch_Port", rows(change))
    message, _ = broken(ovn_lab, "ovn_acls.check_port_security", "[selfservice]", edit)
    assert "port_security: expected" in message and ip in message and "10.9.9.9" in message
    assert port["id"] in message


def test_dhcp_options_at_another_mtu_fail_n10(ovn_lab):
    call = ovn_lab.call("ovn.check_dhcp_options", "[selfservice]")
    network, subnet = body(call, 1), body(call, 2)

    def edit(world, call):
        def change(table):
            row = next(r for r in table if ["subnet_id", subnet["id"]] in r["external_ids"][1])
            row["options"] = ["map", [[k, "1500" if k == "mtu" else v] for k, v in row["options"][1]]]
        world.edit_json("node", NODE, NB + "DHCP_Options", rows(change))
    message, _ = broken(ovn_lab, "ovn.check_dhcp_options", "[selfservice]", edit)
    assert f"DHCP_Options mtu: expected {network['mtu']} (network MTU), actual 1500" in message


def test_a_port_without_dhcp_options_fails_i2(ovn_lab):
    call = ovn_lab.call("ovn.check_dhcp_options", "[provider]")
    port = body(call, 3)

    def edit(world, call):
        def change(table):
            next(r for r in table if r["name"] == port["id"])["dhcpv4_options"] = ["set", []]
        world.edit_json("node", NODE, NB + "Logical_Switch_Port", rows(change))
    message, _ = broken(ovn_lab, "ovn.check_dhcp_options", "[provider]", edit)
    assert "logical switch port dhcpv4_options: expected" in message and "(subnet provider), actual nothing" in message


def test_the_acl_of_a_deleted_rule_left_behind_fails_s5(ovn_lab):
    calls = ovn_lab.calls("ovn_acls.check_acl_applied")
    removed = json.loads(json.dumps(next(c for c in calls if c["args"][4] is False or
                                         c["kwargs"].get("present") is False)))
    rule = removed["args"][3]["body"]
    added = next(c for c in calls if c is not removed and c["args"][4] is not False)
    assert ovn_lab.replay(removed) is None
    world = ovn_lab.world(removed)
    acl_output = next(e["stdout"] for e in added["events"] if e["command"] == NB + "ACL")
    group_output = next(e["stdout"] for e in added["events"] if e["command"] == NB + "Port_Group")
    for event in world.queues[("node", NODE, NB + "ACL")]:
        event["stdout"] = acl_output
    for event in world.queues[("node", NODE, NB + "Port_Group")]:
        event["stdout"] = group_output
    failure = ovn_lab.replay(removed, world)
    assert isinstance(failure, CheckFailed)
    assert "expected no ACL of the deleted rule, actual" in str(failure) and rule["id"][:8] in str(failure)


# --- N9 on OVN: the metadata proxy in ovnmeta-<net> (captured on the lab's OVN mode) ----------------------------

META_NS = "ovnmeta-f94dc69a-7e86-4178-9475-70f5ca6ea26d"
META_SS = "captured/lab-ovn/ovnmeta-ss-Htulpn.txt"


def metadata_node(ss):
    return NodeFacts(recording.Replay({"ip netns list": recording.Text(f"{META_NS} (id: 1)\n"),
                             f"ip netns exec {META_NS} ss -Htulpn": ss}), NODE)


def test_the_captured_metadata_proxy_passes_n9():
    ovn.check_metadata_proxy(metadata_node(META_SS), Network(id=META_NS[len("ovnmeta-"):], name="selfservice"))


def test_no_metadata_proxy_fails_n9_naming_the_namespace():
    with pytest.raises(CheckFailed) as failed:
        ovn.check_metadata_proxy(metadata_node(recording.Text("")), Network(id=META_NS[len("ovnmeta-"):],
                                                                             name="selfservice"))
    assert f"TCP 169.254.169.254:80: expected the metadata proxy listening in {META_NS}, actual nothing" \
        in str(failed.value)
