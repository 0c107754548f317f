"""Deliberate breakages, offline: the outputs a real suite run read on the lab, changed the way a broken cloud
would show them, make the matching check fail with a message that names the object and shows expected against
actual (tests/lab/test_breakages.py does the same to the live lab)."""
import json

import pytest

import recording
from pytest_oslab.checks.core import CheckFailed

NODE = "vm"  # the lab's one node, as the API names it


def body(call, index):
    """The API body of the check's ``index``-th argument (a recorded openstacksdk resource)."""
    return call["args"][index]["body"]


def broken(lab, check, test, edit):
    call = lab.call(check, test)
    world = lab.world(call)
    assert lab.replay(call, lab.world(call)) is None, f"{check} did not pass on its recorded outputs"
    edit(world, call)
    failure = lab.replay(call, world)
    assert isinstance(failure, CheckFailed), f"{check} passed despite the breakage"
    return str(failure), call


def link(name, change):
    def edit(data):
        found = [entry for entry in data if entry["ifname"] == name]
        assert found, f"no link {name} in the recorded output"
        change(found[0])
    return edit


def drop_link(name):
    def edit(data):
        data[:] = [entry for entry in data if entry["ifname"] != name]
    return edit


# --- instances ------------------------------------------------------------------------------------------------

def test_a_tap_mtu_changed_fails_i7_naming_the_tap_port_server_and_node(lab):
    def edit(world, call):
        world.edit_json("node", NODE, "ip -j -d addr show", link(tap, lambda e: e.update(mtu=1400)))
    call = lab.call("instances.check_tap", "[selfservice]")
    tap = "tap" + body(call, 2)["id"][:11]
    message, call = broken(lab, "instances.check_tap", "[selfservice]", edit)
    assert f"device {tap}" in message and f"node {NODE}" in message and body(call, 1)["name"] in message
    assert "MTU: expected 1450 (network MTU), actual 1400" in message


def test_a_tap_out_of_its_bridge_fails_i7_with_the_expected_brq(lab):
    call = lab.call("instances.check_tap", "[selfservice]")
    tap, brq = "tap" + body(call, 2)["id"][:11], "brq" + body(call, 3)["id"][:11]
    message, _ = broken(lab, "instances.check_tap", "[selfservice]", lambda w, c: w.edit_json(
        "node", NODE, "ip -j -d addr show", link(tap, lambda e: e.pop("master"))))
    assert f"master: expected {brq} (ML2/linuxbridge, firewall iptables), actual nothing" in message


def test_a_domain_shut_off_fails_i5(lab):
    call = lab.call("instances.check_domain_running", "[provider]")
    name = call["args"][2]
    message, _ = broken(lab, "instances.check_domain_running", "[provider]", lambda w, c: w.set_result(
        "node", NODE, f"virsh domstate {name}", 0, "shut off\n"))
    assert f"domain {name} state: expected running, actual 'shut off'" in message


def _domain_with_its_ports(lab, test):
    """I5's recorded call given the server's port (I6's) and the domain's XML as I6 read it on the lab."""
    call = lab.call("instances.check_domain_running", test)
    i6 = lab.call("instances.check_domain_interface", test)
    name = call["args"][2]
    call["args"].append([i6["args"][3]])
    call["events"] += [e for e in i6["events"] if e["command"] == f"virsh dumpxml {name}"]
    return call, name, body(i6, 3)


def test_a_domain_with_an_interface_per_port_passes_i5(lab):
    call, _, _ = _domain_with_its_ports(lab, "[provider]")
    assert lab.replay(call) is None


def test_an_interface_detached_behind_novas_back_fails_i5_naming_server_port_and_mac(lab):
    call, name, port = _domain_with_its_ports(lab, "[provider]")
    world = lab.world(call)
    text = world.outputs[world.queues[("node", NODE, f"virsh dumpxml {name}")][0]["stdout"]]
    start, end = text.index("<interface"), text.index("</interface>") + len("</interface>")
    world.set_result("node", NODE, f"virsh dumpxml {name}", 0, text[:start] + text[end:])
    failure = lab.replay(call, world)
    assert isinstance(failure, CheckFailed), "I5 passed with the port's interface detached"
    message = str(failure)
    assert f"port {port['id']} (MAC {port['mac_address']}): expected an <interface> with its MAC in domain {name}, " \
           f"actual none (its interfaces: none)" in message
    assert call["args"][1]["body"]["name"] in message and f"node {NODE}" in message


def test_an_interface_of_no_port_fails_i5_naming_its_mac(lab):
    call, name, port = _domain_with_its_ports(lab, "[provider]")
    world = lab.world(call)
    world.replace("node", NODE, f"virsh dumpxml {name}", port["mac_address"], "fa:16:3e:00:00:01")
    message = str(lab.replay(call, world))
    assert "<interface> MAC fa:16:3e:00:00:01 (target tap" in message
    assert f"expected one of the server's ports, actual none of them has it (ports: {port['id'][:8]} " in message


def test_a_libvirt_interface_at_another_mtu_fails_i6(lab):
    call = lab.call("instances.check_domain_interface", "[selfservice]")
    name = call["args"][2]
    message, _ = broken(lab, "instances.check_domain_interface", "[selfservice]", lambda w, c: w.replace(
        "node", NODE, f"virsh dumpxml {name}", "<mtu size='1450'/>", "<mtu size='1500'/>"))
    assert "mtu size: expected 1450 (network MTU), actual 1500" in message and name in message


def test_a_vxlan_device_removed_fails_i9(lab):
    call = lab.call("linuxbridge.check_vxlan_device")
    vxlan = f"vxlan-{body(call, 1)['provider_segmentation_id']}"
    message, _ = broken(lab, "linuxbridge.check_vxlan_device", "", lambda w, c: w.edit_json(
        "node", NODE, "ip -j -d addr show", drop_link(vxlan)))
    assert f"device {vxlan}: expected, actual absent" in message and body(call, 1)["id"][:8] in message


def test_a_vxlan_device_on_another_tunnel_address_fails_i9(lab):
    call = lab.call("linuxbridge.check_vxlan_device")
    vxlan, local = f"vxlan-{body(call, 1)['provider_segmentation_id']}", call["args"][2]

    def move(entry):
        entry["linkinfo"]["info_data"]["local"] = "192.0.2.99"
    message, _ = broken(lab, "linuxbridge.check_vxlan_device", "", lambda w, c: w.edit_json(
        "node", NODE, "ip -j -d addr show", link(vxlan, move)))
    assert f"{vxlan} local: expected {local} (the L2 agent's tunneling_ip), actual 192.0.2.99" in message


def test_an_instance_namespace_fails_i10(lab):
    call = lab.call("instances.check_no_instance_namespace", "[selfservice]")
    port = body(call, 2)["id"]
    message, _ = broken(lab, "instances.check_no_instance_namespace", "[selfservice]", lambda w, c: w.replace(
        "node", NODE, "ip netns list", "qdhcp-", f"qinstance-{port[:11]} (id: 9)\nqdhcp-", 1))
    assert f"qinstance-{port[:11]}" in message


# --- DHCP ----------------------------------------------------------------------------------------------------

def _dhcp_file(call, leaf):
    return f"/var/lib/neutron/dhcp/{body(call, 1)['id']}/{leaf}"


def test_a_host_file_line_removed_fails_i2_naming_the_file_ip_and_port(lab):
    call = lab.call("dhcp.check_host_entry", "[selfservice]")
    port = body(call, 2)
    ip = port["fixed_ips"][0]["ip_address"]
    path = _dhcp_file(call, "host")

    def edit(world, call):
        world.replace("node", NODE, f"cat {path}", f"{port['mac_address']},host-{ip.replace('.', '-')}"
                      f".openstacklocal,{ip}\n", "")
    message, _ = broken(lab, "dhcp.check_host_entry", "[selfservice]", edit)
    assert f"{path} line for {ip}: expected '{port['mac_address']},host-{ip.replace('.', '-')}.openstacklocal," \
           f"{ip}', actual no line" in message
    assert f"port {port['id']}" in message


def test_no_dnsmasq_and_no_dns_assignment_fails_i2_saying_the_domain_is_unknown(lab):
    """As a DHCP agent resyncing after a restart: the name's domain cannot be known, and the check says so
    instead of expecting a name without it (CI, session 1)."""
    message, call = broken(lab, "dhcp.check_host_entry", "[selfservice]", lambda w, c: w.set_result(
        "node", NODE, "ps -ww -C dnsmasq -o pid,args", 1, "    PID COMMAND\n"))
    assert "the DNS domain of the port's name is unknown" in message
    assert f"0 dnsmasq processes serve network {body(call, 1)['id']}" in message


def test_an_addn_hosts_line_removed_fails_i3(lab):
    call = lab.call("dhcp.check_addn_hosts_entry", "[provider]")
    ip = body(call, 2)["fixed_ips"][0]["ip_address"]
    host = "host-" + ip.replace(".", "-")
    message, _ = broken(lab, "dhcp.check_addn_hosts_entry", "[provider]", lambda w, c: w.replace(
        "node", NODE, f"cat {_dhcp_file(c, 'addn_hosts')}", f"{ip}\t{host}.openstacklocal {host}\n", ""))
    assert f"line for {ip}: expected {ip} {host}.openstacklocal {host}, actual no line" in message


def test_a_lease_missing_fails_i4_after_its_wait(lab):
    call = lab.call("dhcp.check_lease", "[selfservice]")
    mac = body(call, 2)["mac_address"]
    message, _ = broken(lab, "dhcp.check_lease", "[selfservice]", lambda w, c: w.set_result(
        "node", NODE, f"cat {_dhcp_file(c, 'leases')}", 0, ""))
    assert f"expected to {mac}, actual no lease" in message and "still so after" in message


def test_dnsmasq_stopped_fails_n10(lab):
    call = lab.call("dhcp.check_dnsmasq", "[selfservice]")
    message, _ = broken(lab, "dhcp.check_dnsmasq", "[selfservice]", lambda w, c: w.set_result(
        "node", NODE, "ps -ww -C dnsmasq -o pid,args", 1, "  PID COMMAND\n"))
    assert f"dnsmasq processes for {_dhcp_file(call, '')}: expected 1, actual 0" in message


def test_a_dnsmasq_without_the_mtu_option_fails_n10(lab):
    message, _ = broken(lab, "dhcp.check_dnsmasq", "[selfservice]", lambda w, c: w.replace(
        "node", NODE, "ps -ww -C dnsmasq -o pid,args", "--dhcp-option-force=option:mtu,1450 ", ""))
    assert "--dhcp-option-force=option:mtu: expected 1450 (network MTU), actual nothing" in message


def test_a_dhcp_device_mtu_changed_fails_n6(lab):
    call = lab.call("dhcp.check_dhcp_device", "[selfservice]")
    device, ns = "ns-" + body(call, 2)["id"][:11], "qdhcp-" + body(call, 1)["id"]
    message, _ = broken(lab, "dhcp.check_dhcp_device", "[selfservice]", lambda w, c: w.edit_json(
        "node", NODE, f"ip -n {ns} -j -d addr show", link(device, lambda e: e.update(mtu=1500))))
    assert f"device {device}" in message and f"namespace {ns}" in message
    assert "MTU: expected 1450 (network MTU), actual 1500" in message


def test_the_metadata_address_removed_fails_n7(lab):
    call = lab.call("dhcp.check_dhcp_addresses", "[provider]")
    device, ns = "ns-" + body(call, 2)["id"][:11], "qdhcp-" + body(call, 1)["id"]

    def drop(entry):
        entry["addr_info"] = [a for a in entry["addr_info"] if a["local"] != "169.254.169.254"]
    message, _ = broken(lab, "dhcp.check_dhcp_addresses", "[provider]", lambda w, c: w.edit_json(
        "node", NODE, f"ip -n {ns} -j -d addr show", link(device, drop)))
    assert "address: expected 169.254.169.254 (metadata)" in message


def test_the_default_route_removed_fails_n8(lab):
    call = lab.call("dhcp.check_dhcp_routes", "[selfservice]")
    ns, gateway = "qdhcp-" + body(call, 1)["id"], body(call, 3)["gateway_ip"]
    message, _ = broken(lab, "dhcp.check_dhcp_routes", "[selfservice]", lambda w, c: w.edit_json(
        "node", NODE, f"ip -n {ns} -j route show", lambda data: data.__setitem__(
            slice(None), [r for r in data if r["dst"] != "default"])))
    assert f"default route gateway: expected {gateway} (subnet gateway), actual nothing" in message


def test_the_metadata_proxy_not_listening_fails_n9(lab):
    call = lab.call("dhcp.check_dhcp_listeners", "[selfservice]")
    ns = "qdhcp-" + body(call, 1)["id"]

    def edit(world, call):
        command = f"ip netns exec {ns} ss -Htulpn"
        text = world.outputs[world.queues[("node", NODE, command)][0]["stdout"]]
        kept = "\n".join(line for line in text.splitlines() if "haproxy" not in line) + "\n"
        world.set_result("node", NODE, command, 0, kept)
    message, _ = broken(lab, "dhcp.check_dhcp_listeners", "[selfservice]", edit)
    assert "TCP 169.254.169.254:80: expected metadata proxy listening, actual nothing" in message


def test_a_missing_namespace_fails_n5(lab):
    call = lab.call("dhcp.check_dhcp_namespace", "[selfservice]")
    ns = "qdhcp-" + body(call, 1)["id"]
    message, _ = broken(lab, "dhcp.check_dhcp_namespace", "[selfservice]", lambda w, c: w.replace(
        "node", NODE, "ip netns list", ns, "qdhcp-gone"))
    assert f"namespace {ns}: expected in `ip netns`, actual absent" in message


def test_an_interface_file_naming_another_device_fails_n11(lab):
    call = lab.call("dhcp.check_interface_file", "[provider]")
    device = "ns-" + body(call, 2)["id"][:11]
    message, _ = broken(lab, "dhcp.check_interface_file", "[provider]", lambda w, c: w.set_result(
        "node", NODE, f"cat {_dhcp_file(c, 'interface')}", 0, "tapdeadbeef-00\n"))
    assert f"expected {device}, actual tapdeadbeef-00" in message


def test_a_bridge_without_its_vxlan_fails_n13(lab):
    call = lab.call("linuxbridge.check_bridge_members", "[selfservice]")
    network = body(call, 1)
    vxlan = f"vxlan-{network['provider_segmentation_id']}"
    message, _ = broken(lab, "linuxbridge.check_bridge_members", "[selfservice]", lambda w, c: w.edit_json(
        "node", NODE, "ip -j -d addr show", link(vxlan, lambda e: e.pop("master"))))
    assert f"member {vxlan} (vxlan uplink): expected" in message and "brq" + network["id"][:11] in message


# --- security groups -------------------------------------------------------------------------------------------

def _chain_rule_removed(fragment):
    def edit(world, call):
        command = "iptables-save -t filter"
        text = world.outputs[world.queues[("node", NODE, command)][0]["stdout"]]
        chain = "neutron-linuxbri-i" + body(call, 2)["id"][:10]
        lines = [line for line in text.splitlines() if not (line.startswith(f"-A {chain} ") and fragment in line)]
        assert len(lines) == len(text.splitlines()) - 1, f"no single rule with {fragment!r} in {chain}"
        world.set_result("node", NODE, command, 0, "\n".join(lines) + "\n")
    return edit


def test_an_ingress_rule_deleted_fails_s1_naming_the_chain_and_the_rule(lab):
    message, call = broken(lab, "firewall.check_ingress_chain", "[selfservice]", _chain_rule_removed("--dport 22"))
    chain = "neutron-linuxbri-i" + body(call, 2)["id"][:10]
    assert f"{chain}: expected a RETURN for rule" in message and "(ingress IPv4 tcp 22 from 0.0.0.0/0)" in message
    assert f"chain {chain}" in message and f"node {NODE}" in message


def test_an_invalid_drop_deleted_fails_s1(lab):
    message, _ = broken(lab, "firewall.check_ingress_chain", "[provider]", _chain_rule_removed("INVALID"))
    assert "expected a rule INVALID DROP, actual none" in message


def _rule_inserted(kind, rule, after=None, prefix="neutron-linuxbri-"):
    """Put ``-A <chain> <rule>`` into the port's ``kind`` chain (i, o, s): first, or after the line ending with
    ``after``."""
    def edit(world, call):
        command = "iptables-save -t filter"
        text = world.outputs[world.queues[("node", NODE, command)][0]["stdout"]]
        chain = prefix + kind + body(call, 2)["id"][:10]
        lines = text.splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith(f"-A {chain} ")
                  and (after is None or line.endswith(after))) + (after is not None)
        lines.insert(at, f"-A {chain} {rule}")
        world.set_result("node", NODE, command, 0, "\n".join(lines) + "\n")
    return edit


def test_an_extra_return_among_the_group_rules_fails_s1(lab):
    message, _ = broken(lab, "firewall.check_ingress_chain", "[provider]", _rule_inserted(
        "i", "-p tcp -m tcp --dport 80 -j RETURN", after="-p icmp -j RETURN"))
    assert "lets traffic through: -A neutron-linuxbri-i" in message and "--dport 80 -j RETURN" in message


def test_an_allow_all_return_first_in_the_ingress_chain_fails_s1_naming_the_rule(lab):
    """The fault an operator's bad day plants: ``iptables -I <ingress chain> 1 -j RETURN`` (issue 14)."""
    message, call = broken(lab, "firewall.check_ingress_chain", "[selfservice]", _rule_inserted("i", "-j RETURN"))
    chain = "neutron-linuxbri-i" + body(call, 2)["id"][:10]
    assert f"{chain}: expected only RETURNs that the port's security-group rules or the documented fixed rules " \
           f"imply, actual rule #1 lets traffic through: -A {chain} -j RETURN" in message
    assert f"port {body(call, 2)['id']}" in message


def test_a_new_connection_slipped_into_the_established_return_fails_s1(lab):
    message, _ = broken(lab, "firewall.check_ingress_chain", "[selfservice]", _rule_inserted(
        "i", "-m state --state RELATED,ESTABLISHED,NEW -j RETURN"))
    assert "rule #1 lets traffic through" in message and "RELATED,ESTABLISHED,NEW" in message


def test_a_jump_to_an_undocumented_chain_fails_s1(lab):
    def edit(world, call):
        command = "iptables-save -t filter"
        text = world.outputs[world.queues[("node", NODE, command)][0]["stdout"]]
        text = text.replace(":neutron-linuxbri-sg-chain", ":operator-allow - [0:0]\n:neutron-linuxbri-sg-chain")
        text = text.replace("COMMIT", "-A operator-allow -j ACCEPT\nCOMMIT")
        world.set_result("node", NODE, command, 0, text)
        _rule_inserted("i", "-p tcp -j operator-allow")(world, call)
    message, _ = broken(lab, "firewall.check_ingress_chain", "[provider]", edit)
    assert "rule #1 lets traffic through" in message and "-j operator-allow" in message


def test_an_accept_before_the_spoofing_jump_fails_s2(lab):
    message, call = broken(lab, "firewall.check_egress_chain", "[selfservice]", _rule_inserted(
        "o", "-s 10.66.0.0/16 -j ACCEPT"))
    assert "neutron-linuxbri-o" + body(call, 2)["id"][:10] in message and "-s 10.66.0.0/16 -j ACCEPT" in message


def test_an_accept_in_the_spoofing_chain_fails_s3(lab):
    message, _ = broken(lab, "firewall.check_spoofing_chain", "[selfservice]", _rule_inserted(
        "s", "-m mac --mac-source fa:16:3e:00:00:01 -j ACCEPT"))
    assert "rule #1 lets traffic through" in message and "--mac-source fa:16:3e:00:00:01 -j ACCEPT" in message


@pytest.fixture(scope="module")
def hybrid_lab():
    return recording.Lab(recording.load(recording.HERE / "data" / "lab-openvswitch-hybrid.json.gz"))


def test_an_allow_all_return_first_in_a_hybrid_ingress_chain_fails_s1(hybrid_lab):
    message, call = broken(hybrid_lab, "firewall.check_ingress_chain", "[selfservice]",
                           _rule_inserted("i", "-j RETURN", prefix="neutron-openvswi-"))
    chain = "neutron-openvswi-i" + body(call, 2)["id"][:10]
    assert f"actual rule #1 lets traffic through: -A {chain} -j RETURN" in message


def test_a_spoofing_return_deleted_fails_s3(lab):
    call = lab.call("firewall.check_spoofing_chain", "[selfservice]")
    port = body(call, 2)
    chain = "neutron-linuxbri-s" + port["id"][:10]

    def edit(world, call):
        command = "iptables-save -t filter"
        text = world.outputs[world.queues[("node", NODE, command)][0]["stdout"]]
        text = "\n".join(line for line in text.splitlines() if not line.startswith(f"-A {chain} -s ")) + "\n"
        world.set_result("node", NODE, command, 0, text)
    message, _ = broken(lab, "firewall.check_spoofing_chain", "[selfservice]", edit)
    ip = port["fixed_ips"][0]["ip_address"]
    assert f"{chain}: expected RETURN for {ip} with MAC {port['mac_address']}, actual no RETURN" in message


def test_a_sg_chain_jump_deleted_fails_s4(lab):
    call = lab.call("firewall.check_sg_chain_jumps", "[selfservice]")
    tap = "tap" + body(call, 2)["id"][:11]

    def edit(world, call):
        command = "iptables-save -t filter"
        text = world.outputs[world.queues[("node", NODE, command)][0]["stdout"]]
        text = "\n".join(line for line in text.splitlines()
                         if not (line.startswith("-A neutron-linuxbri-sg-chain") and f"--physdev-out {tap}" in line))
        world.set_result("node", NODE, command, 0, text + "\n")
    message, _ = broken(lab, "firewall.check_sg_chain_jumps", "[selfservice]", edit)
    assert f"neutron-linuxbri-sg-chain: expected a jump to neutron-linuxbri-i{body(call, 2)['id'][:10]} for " \
           f"--physdev-out {tap} --physdev-is-bridged, actual none" in message


# --- control plane ---------------------------------------------------------------------------------------------

def test_an_agent_dead_fails_c3_naming_it(lab):
    def edit(world, call):
        for agent in call["args"][0]:
            if agent["body"]["agent_type"] == "Metadata agent":
                agent["body"]["is_alive"] = False
    message, _ = broken(lab, "control_plane.check_network_agents", "", edit)
    assert f"Metadata agent on {NODE} (neutron-metadata-agent) alive: expected True, actual False" in message


def test_a_compute_service_down_fails_c1(lab):
    def edit(world, call):
        for service in call["args"][0]:
            if service["body"]["binary"] == "nova-scheduler":
                service["body"]["state"] = "down"
    message, _ = broken(lab, "control_plane.check_compute_services", "", edit)
    assert f"nova-scheduler on {NODE} state: expected up, actual down" in message


def test_an_upgrade_check_failure_fails_c2(lab):
    message, _ = broken(lab, "control_plane.check_upgrade_check", "", lambda w, c: w.replace(
        "node", NODE, "nova-status upgrade check", "| Result: Success", "| Result: Failure", 1))
    assert "expected Success, actual Failure" in message and f"node {NODE}" in message


def test_a_disabled_compute_service_fails_c2_naming_host_binary_and_reason(lab):
    """nova-status reads no service's status: the API's services, as C1 recorded them, are judged with its table."""
    services = lab.call("control_plane.check_compute_services")["args"][0]

    def edit(world, call):
        call["args"].append(services)
        for service in services:
            if service["body"]["binary"] == "nova-compute":
                service["body"].update(status="disabled", disabled_reason="oslab breakage")
    call = lab.call("control_plane.check_upgrade_check")
    call["args"].append(json.loads(json.dumps(services)))
    assert lab.replay(call) is None, "C2 failed on the recorded, enabled services"
    message, _ = broken(lab, "control_plane.check_upgrade_check", "", edit)
    assert f"nova-compute on {NODE} status: expected enabled, actual disabled (disabled reason: oslab breakage)" \
        in message and f"node {NODE}" in message


def test_a_default_group_without_egress_fails_c4(lab):
    def edit(world, call):
        call["args"][1] = [r for r in call["args"][1] if r["body"]["direction"] != "egress"]
    message, _ = broken(lab, "control_plane.check_default_group", "", edit)
    assert "rule egress IPv4 any protocol to anywhere: expected, actual absent" in message


# --- guests and ports ------------------------------------------------------------------------------------------

def test_a_guest_nic_at_another_mtu_fails_g1(lab):
    call = lab.call("guests.check_guest_nic", "[selfservice]")
    server = call["args"][0]["$guest"]["body"]
    message, _ = broken(lab, "guests.check_guest_nic", "[selfservice]", lambda w, c: w.replace(
        "guest", server["id"], "ip addr", "mtu 1450", "mtu 1500"))
    assert "MTU: expected 1450 (network MTU), actual 1500" in message and server["name"] in message


def test_a_peer_that_does_not_answer_fails_g2(lab):
    call = lab.call("guests.check_ping", "test_two_guests")
    server, target = call["args"][0]["$guest"]["body"], call["args"][1]
    message, _ = broken(lab, "guests.check_ping", "test_two_guests", lambda w, c: w.set_result(
        "guest", server["id"], f"ping -c 3 -W 2 {target}", 1,
        "3 packets transmitted, 0 packets received, 100% packet loss\n"))
    assert f"ping {target}: expected replies, actual none" in message and "still so after 30s" in message


def test_a_port_left_down_after_attach_fails_h2(lab):
    def edit(world, call):
        for event in call["events"]:
            if event["command"] == "get_port":
                event["result"]["body"]["status"] = "DOWN"
    message, call = broken(lab, "ports.check_port_attached", "", edit)
    assert "status: expected ACTIVE, actual DOWN" in message and call["args"][2] in message


@pytest.mark.parametrize("check", ["instances.check_tap", "dhcp.check_dhcp_device", "firewall.check_ingress_chain"])
def test_a_failure_carries_the_command_output_it_judged(lab, check):
    call = lab.call(check)
    world = lab.world(call)
    for key in list(world.queues):
        world.set_result(*key, 0, "[]" if "-j" in key[2] else "")
    failure = lab.replay(call, world)
    assert isinstance(failure, CheckFailed)
    assert failure.evidence and all(title.startswith(f"{NODE}: ") for title, _ in failure.evidence)


# --- issue 14: what is there too much or in the wrong state --------------------------------------------------

def test_the_ports_mac_on_a_line_with_another_ip_fails_i2_showing_that_line(lab):
    call = lab.call("dhcp.check_host_entry", "[selfservice]")
    port = body(call, 2)
    ip = port["fixed_ips"][0]["ip_address"]
    path = _dhcp_file(call, "host")
    name = f"host-{ip.replace('.', '-')}.openstacklocal"
    message, _ = broken(lab, "dhcp.check_host_entry", "[selfservice]", lambda w, c: w.replace(
        "node", NODE, f"cat {path}", f"{port['mac_address']},{name},{ip}\n",
        f"{port['mac_address']},{name},10.99.99.99\n"))
    assert f"{path} line for {ip}: expected '{port['mac_address']},{name},{ip}', actual no line (the port's MAC " \
           f"is on '{port['mac_address']},{name},10.99.99.99')" in message


def test_a_dhcp_tap_below_the_network_mtu_fails_n13_naming_the_member(lab):
    call = lab.call("linuxbridge.check_bridge_members", "[selfservice]")
    tap = "tap" + body(call, 3)["id"][:11]
    message, _ = broken(lab, "linuxbridge.check_bridge_members", "[selfservice]", lambda w, c: w.edit_json(
        "node", NODE, "ip -j -d addr show", link(tap, lambda e: e.update(mtu=1400))))
    assert f"member {tap} (DHCP port {body(call, 3)['id'][:8]}) MTU: expected 1450 (network MTU), actual 1400" \
        in message


def test_a_vxlan_member_down_and_not_forwarding_fails_n13(lab):
    call = lab.call("linuxbridge.check_bridge_members", "[selfservice]")
    vxlan = f"vxlan-{body(call, 1)['provider_segmentation_id']}"

    def down(entry):
        entry["flags"] = [f for f in entry["flags"] if f not in ("UP", "LOWER_UP")]
        entry["operstate"] = "DOWN"
        entry["linkinfo"]["info_slave_data"]["state"] = "disabled"
    message, _ = broken(lab, "linuxbridge.check_bridge_members", "[selfservice]", lambda w, c: w.edit_json(
        "node", NODE, "ip -j -d addr show", link(vxlan, down)))
    assert f"member {vxlan} (vxlan uplink) state UP: expected True, actual False" in message
    assert f"member {vxlan} (vxlan uplink) bridge port state: expected forwarding, actual disabled" in message


def _network_ports(lab, network_id):
    """The recorded ports (API bodies) of the network, as every check of the run was given them."""
    found = {}

    def visit(value):
        if isinstance(value, list):
            for v in value:
                visit(v)
        elif isinstance(value, dict):
            if value.get("$resource", "").endswith(".Port") and value["body"].get("network_id") == network_id:
                found[value["body"]["id"]] = value
            for v in value.values():
                visit(v)
    for call in lab.data["calls"]:
        visit(call["args"])
    return list(found.values())


def _members_judged_whole(lab):
    """N13's recorded call given the network's ports that the run's checks were given, and a world where the
    bridge holds the taps of those only (the taps of the run's other servers, whose ports no check was given,
    left out of ``ip addr`` as if those servers were elsewhere)."""
    call = lab.call("linuxbridge.check_bridge_members", "[selfservice]")
    ports = _network_ports(lab, body(call, 1)["id"])
    call["args"].append(ports)
    taps = {"tap" + p["body"]["id"][:11] for p in ports}
    world = lab.world(call)
    world.edit_json("node", NODE, "ip -j -d addr show", lambda data: data.__setitem__(slice(None), [
        e for e in data if not (e["ifname"].startswith("tap") and e.get("master") == "brq" + body(call, 1)["id"][:11]
                                and e["ifname"] not in taps)]))
    return call, world


def test_the_network_bridge_of_only_the_networks_taps_passes_n13(lab):
    call, world = _members_judged_whole(lab)
    assert lab.replay(call, world) is None


def test_a_device_of_another_network_in_the_bridge_fails_n13_naming_it(lab):
    call, world = _members_judged_whole(lab)
    bridge = "brq" + body(call, 1)["id"][:11]
    provider = lab.call("linuxbridge.check_bridge_members", "[provider]")
    foreign = "tap" + body(provider, 3)["id"][:11]  # the provider network's DHCP tap
    world.edit_json("node", NODE, "ip -j -d addr show", link(foreign, lambda e: e.update(master=bridge)))
    failure = lab.replay(call, world)
    assert isinstance(failure, CheckFailed), "N13 passed with another network's tap in the bridge"
    assert f"member {foreign}: expected only {bridge}'s uplink and taps of network" in str(failure)
    assert f"actual {foreign} is neither" in str(failure)


def test_an_address_of_no_port_on_the_dhcp_device_fails_n7(lab):
    call = lab.call("dhcp.check_dhcp_addresses", "[provider]")
    device, ns = "ns-" + body(call, 2)["id"][:11], "qdhcp-" + body(call, 1)["id"]

    def add(entry):
        entry["addr_info"].append(dict(entry["addr_info"][0], local="10.99.0.1", prefixlen=24))
    message, _ = broken(lab, "dhcp.check_dhcp_addresses", "[provider]", lambda w, c: w.edit_json(
        "node", NODE, f"ip -n {ns} -j -d addr show", link(device, add)))
    assert "address 10.99.0.1/24: expected only the DHCP port's fixed IPs and 169.254.169.254, actual 10.99.0.1/24 " \
           "besides" in message and f"device {device}" in message


def test_a_physical_uplink_above_the_network_mtu_passes_n13(lab):
    call = lab.call("linuxbridge.check_bridge_members", "[provider]")
    uplink = call["args"][2]
    world = lab.world(call)
    world.edit_json("node", NODE, "ip -j -d addr show", link(uplink, lambda e: e.update(mtu=9000)))
    assert lab.replay(call, world) is None


@pytest.fixture(scope="module")
def ovs_labs():
    return {name: recording.Lab(recording.load(recording.HERE / "data" / f"lab-{name}.json.gz"))
            for name in ("openvswitch", "openvswitch-hybrid")}


@pytest.mark.parametrize("run", ["openvswitch", "openvswitch-hybrid"])
def test_a_dhcp_tap_on_another_local_vlan_than_its_networks_ports_fails_n12(ovs_labs, run):
    lab = ovs_labs[run]
    call = lab.call("openvswitch.check_dhcp_port_tagged", "[selfservice]")
    tap = "tap" + body(call, 2)["id"][:11]

    def edit(world, call):
        def retag(data):
            headings = data["headings"]
            row = next(r for r in data["data"] if dict(zip(headings, r))["name"] == tap)
            row[headings.index("tag")] = 99
        world.edit_json("node", NODE, "ovs-vsctl --format=json list Port", retag)
    message, _ = broken(lab, "openvswitch.check_dhcp_port_tagged", "[selfservice]", edit)
    assert f"{tap} tag: expected the tag of the network's other br-int ports, actual 99 where " in message
    assert body(call, 1)["id"][:8] in message


@pytest.mark.parametrize("run", ["openvswitch", "openvswitch-hybrid"])
def test_a_port_of_the_network_parked_on_the_dead_vlan_is_not_the_dhcp_taps_fault_n12(ovs_labs, run):
    """The agent isolates a port it is deleting (or an admin-down one) on VLAN 4095: N12 compares the DHCP tap
    with the network's live ports only; the tap itself on the dead VLAN still fails."""
    lab = ovs_labs[run]
    call = lab.call("openvswitch.check_dhcp_port_tagged", "[selfservice]")
    network, tap = body(call, 1)["id"], "tap" + body(call, 2)["id"][:11]

    parked = []

    def park(which):
        def change(data):
            headings = data["headings"]
            for row in data["data"]:
                fields = dict(zip(headings, row))
                other = dict(fields["other_config"][1])
                if which(fields["name"]) and other.get("net_uuid") == network:
                    row[headings.index("tag")] = 4095
                    parked.append(fields["name"])
        return change
    world = lab.world(call)
    world.edit_json("node", NODE, "ovs-vsctl --format=json list Port", park(lambda name: name != tap))
    assert parked and lab.replay(call, world) is None, parked
    message, _ = broken(lab, "openvswitch.check_dhcp_port_tagged", "[selfservice]", lambda w, c: w.edit_json(
        "node", NODE, "ovs-vsctl --format=json list Port", park(lambda name: name == tap)))
    assert f"{tap} tag: expected a local VLAN, actual 4095 (dead)" in message


def test_a_qvb_released_from_its_qbr_fails_i7(ovs_labs):
    lab = ovs_labs["openvswitch-hybrid"]
    call = lab.call("instances.check_tap", "[selfservice]")
    port = body(call, 2)["id"]
    qvb, qbr = "qvb" + port[:11], "qbr" + port[:11]
    message, _ = broken(lab, "instances.check_tap", "[selfservice]", lambda w, c: w.edit_json(
        "node", NODE, "ip -j -d addr show", link(qvb, lambda e: e.pop("master"))))
    assert f"{qvb} master: expected {qbr} (OVS hybrid plugging), actual nothing" in message and port in message


def test_another_device_in_the_ports_qbr_fails_i7_naming_it(ovs_labs):
    """Judged whole: qbr<port> holds the tap and qvb<port> only (here another port's qvb moved into it)."""
    lab = ovs_labs["openvswitch-hybrid"]
    call = lab.call("instances.check_tap", "[selfservice]")
    other = body(lab.call("instances.check_tap", "[provider]"), 2)["id"]
    qbr, stray = "qbr" + body(call, 2)["id"][:11], "qvb" + other[:11]
    message, _ = broken(lab, "instances.check_tap", "[selfservice]", lambda w, c: w.edit_json(
        "node", NODE, "ip -j -d addr show", link(stray, lambda e: e.update(master=qbr))))
    assert f"{qbr} member {stray}: expected only tap{body(call, 2)['id'][:11]} and qvb{body(call, 2)['id'][:11]}, " \
           f"actual {stray} too" in message


def test_an_accept_before_the_ports_jumps_in_the_sg_chain_fails_s4(lab):
    def edit(world, call):
        command = "iptables-save -t filter"
        text = world.outputs[world.queues[("node", NODE, command)][0]["stdout"]]
        first = next(line for line in text.splitlines() if line.startswith("-A neutron-linuxbri-sg-chain "))
        world.set_result("node", NODE, command, 0, text.replace(
            first, "-A neutron-linuxbri-sg-chain -p tcp -j ACCEPT\n" + first, 1))
    message, _ = broken(lab, "firewall.check_sg_chain_jumps", "[selfservice]", edit)
    assert "neutron-linuxbri-sg-chain: expected only the ports' bridged jumps before the final ACCEPT, actual rule " \
           "#1: -A neutron-linuxbri-sg-chain -p tcp -j ACCEPT" in message
