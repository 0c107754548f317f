"""G1 when SSH does not answer (what the guest holds, from its network's neighbour tables), C3 on ML2/OVN (each
chassis' ovn-controller asked on its node) and S4 by traffic (busybox ``nc`` and ``ping`` from a peer guest), on
outputs captured on the lab and on this project's machine."""
import pytest
from openstack.compute.v2.server import Server
from openstack.network.v2.agent import Agent
from openstack.network.v2.port import Port
from openstack.network.v2.subnet import Subnet

from recording import Exited, Replay, Text, read
from pytest_oslab.checks import control_plane, guests, ovn
from pytest_oslab.checks.core import CheckFailed
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.facts import neigh

# the guest of captured/linuxbridge/qdhcp-neigh.json (MAC fa:16:3e:3c:5d:7e, seen at 192.168.101.77)
SUBNET = Subnet(id="4b9f8e35-0d2c-4c31-9a6d-0c0d4f0a1b2c", name="selfservice", cidr="192.168.101.0/24")
SERVER = Server(id="0b3c6a1e-5d4f-4e8a-9c2b-7f1e2d3c4b5a", name="oslab-vm1")
VIEW = "qdhcp-c08e7dcd-4acb-4cd0-ad08-ebd3b48467ee on vm"


def port(ip):
    return Port(id="7a8c0a54-7585-4d0e-9a43-1f2b3c4d5e6f", mac_address="fa:16:3e:3c:5d:7e",
                fixed_ips=[{"ip_address": ip, "subnet_id": SUBNET.id}])


def views(arping="captured/linuxbridge/qdhcp-arping.txt"):
    return {VIEW: guests.NetworkView(neigh.parse_arping(read(arping)),
                                     neigh.parse_neigh(read("captured/linuxbridge/qdhcp-neigh.json")))}


NO_ANSWER = "captured/linuxbridge/qdhcp-arping-no-answer.txt"


def test_a_guest_that_no_longer_holds_its_address_is_said_with_the_port_and_where_its_mac_was_seen():
    with pytest.raises(CheckFailed) as failure:
        guests.check_guest_holds_its_address(SERVER, port("192.168.101.5"), SUBNET, views(NO_ANSWER),
                                             "guest oslab-vm1: the SSH session died mid-run")
    message = str(failure.value)
    assert "port 7a8c0a54-7585-4d0e-9a43-1f2b3c4d5e6f address 192.168.101.5 (MAC fa:16:3e:3c:5d:7e): expected " \
           f"held by the guest, actual no ARP answer for 192.168.101.5 from {VIEW} (the guest does not hold it, or " \
           "its traffic does not get through); its MAC was seen at 192.168.101.77 (neighbour entries); SSH: guest " \
           "oslab-vm1: the SSH session died mid-run" in message
    assert "server oslab-vm1" in message


def test_a_guest_answering_arp_for_its_address_says_ssh_itself_does_not_answer():
    with pytest.raises(CheckFailed, match=r"address 192.168.101.77 \(MAC fa:16:3e:3c:5d:7e\): held by the guest "
                                          r"\(it answers ARP for it from qdhcp-.* on vm\), but SSH there does not "
                                          r"answer: no SSH"):
        guests.check_guest_holds_its_address(SERVER, port("192.168.101.77"), SUBNET, views(), "no SSH")


def test_another_device_answering_for_the_address_is_named():
    with pytest.raises(CheckFailed, match=r"actual ARP for 192.168.101.77 from qdhcp-\S+ on vm answered by "
                                          r"fa:16:3e:3c:5d:7e \(another device holds it\)"):
        guests.check_guest_holds_its_address(SERVER, Port(id="7a8c0a54-7585-4d0e-9a43-1f2b3c4d5e6f",
                                                          mac_address="fa:16:3e:00:00:01", fixed_ips=[
                                                              {"ip_address": "192.168.101.77",
                                                               "subnet_id": SUBNET.id}]),
                                             SUBNET, views(), "no SSH")


# --- C3 on ML2/OVN: each chassis' ovn-controller asked on its node ----------------------------------------------

LAB = "captured/lab-ovn-controller/"   # the lab's own ovn-controller, in its OVN mode
OVNC = "captured/ovn-controller/"      # one started by hand with no southbound DB ("not connected")
THREE = "captured/lab-ovn-3-nodes-controller/"  # the three-node lab's controller: its own and both computes'
AGENTS = [Agent(agent_type="OVN Controller Gateway agent", host="vm", binary="ovn-controller"),
          Agent(agent_type="OVN Metadata agent", host="vm", binary="neutron-ovn-metadata-agent")]


def chassis(stat, appctl, data=LAB):
    pid = int(read(data + "ps-C-ovn-controller.txt").split()[2])
    node = NodeFacts(Replay({
        "ps -ww -C ovn-controller -o pid,args": data + "ps-C-ovn-controller.txt",
        # the hand-started one has no listing of the rundir: no socket listed, every process is judged
        "ls /var/run/ovn": data + "ls-var-run-ovn.txt" if data != OVNC else Text(""),
        f"ps -o stat= -p {pid}": data + stat,
        f"ovn-appctl --timeout=5 -t /var/run/ovn/ovn-controller.{pid}.ctl connection-status": appctl}), "vm")
    return pid, {"vm": ovn.controller_states(node)}


def test_the_labs_live_ovn_controller_passes_c3():
    _, states = chassis("ps-stat-running.txt", LAB + "appctl-connection-status.txt")
    control_plane.check_ovn_controllers_answer(AGENTS, states)
    assert f"ovn-controller.{read(LAB + 'ps-C-ovn-controller.txt').split()[2]}.ctl" in read(LAB + "ls-var-run-ovn.txt")


def test_a_frozen_ovn_controller_fails_c3_naming_the_host_the_process_and_its_state():
    pid, states = chassis("ps-stat-stopped.txt", Exited(142, stderr=LAB + "appctl-connection-status-stopped.stderr"))
    with pytest.raises(CheckFailed) as failure:
        control_plane.check_ovn_controllers_answer(AGENTS, states)
    assert f"ovn-controller on vm (OVN Controller Gateway agent): expected to answer `ovn-appctl connection-status` " \
           f"within 5s, actual no answer (none within 5s; process {pid} state Tsl: stopped)" in str(failure.value)


def test_an_ovn_controller_not_connected_to_the_southbound_db_fails_c3():
    pid, states = chassis("ps-stat-running.txt", OVNC + "appctl-connection-status-not-connected.txt", OVNC)
    with pytest.raises(CheckFailed, match=r"ovn-controller on vm \(OVN Controller Gateway agent\) connection-status: "
                                          rf"expected connected \(process {pid} state Ssl\), actual 'not connected'"):
        control_plane.check_ovn_controllers_answer(AGENTS, states)


def test_on_the_three_node_lab_the_controller_judges_its_own_ovn_controller_not_the_computes_it_sees():
    # the controller's PID namespace holds the computes' (the lab's nodes): three ovn-controllers, one socket
    pid, states = chassis("ps-stat-running.txt", THREE + "appctl-connection-status.txt", THREE)
    assert len(read(THREE + "ps-C-ovn-controller.txt").splitlines()) == 4
    assert [s.pid for s in states["vm"]] == [pid] and states["vm"][0].answer == "connected"
    control_plane.check_ovn_controllers_answer(AGENTS, states)


def test_a_chassis_without_ovn_controller_fails_c3():
    node = NodeFacts(Replay({"ps -ww -C ovn-controller -o pid,args": Text("  PID COMMAND\n"),
                             "ls /var/run/ovn": Text("ovn-northd.ctl\n")}), "vm")
    with pytest.raises(CheckFailed, match=r"ovn-controller on vm \(OVN Controller Gateway agent\): expected a "
                                          r"running process, actual none"):
        control_plane.check_ovn_controllers_answer(AGENTS, {"vm": ovn.controller_states(node)})


# --- S4 by traffic: what a peer guest meets ----------------------------------------------------------------------

TRAFFIC = "captured/guest-traffic/"
GUARDED = "192.168.101.5"
ANSWERED = Exited(0, stdout=TRAFFIC + "nc-22-answered.stdout")
REFUSED = Exited(1, stderr=TRAFFIC + "nc-8080-refused.stderr")
DROPPED = Exited(1, stderr=TRAFFIC + "nc-8081-dropped.stderr")
REPLIES, NO_REPLY = TRAFFIC + "ping-replies.txt", Exited(1, stdout=TRAFFIC + "ping-no-reply.txt")


def peer(on_22, on_8080, ping):
    return Replay({f"echo | nc -w 3 {GUARDED} 22": on_22, f"echo | nc -w 3 {GUARDED} 8080": on_8080,
                   f"ping -c 2 -W 2 {GUARDED}": ping}, server=SERVER)


def test_a_firewall_in_the_path_passes_s4_by_traffic():
    guests.check_traffic_follows_the_groups(peer(ANSWERED, DROPPED, NO_REPLY), GUARDED, opened=[22], closed=[8080])


def test_a_firewall_out_of_the_path_fails_s4_by_traffic_naming_each_port():
    with pytest.raises(CheckFailed) as failure:
        guests.check_traffic_follows_the_groups(peer(ANSWERED, REFUSED, REPLIES), GUARDED, opened=[22],
                                                closed=[8080], target="server oslab-guarded")
    message = str(failure.value)
    assert "traffic to 192.168.101.5 (server oslab-guarded) follows its security groups" in message
    assert "TCP 192.168.101.5:8080 (opened by no rule): expected no answer (dropped), actual refused (a reset: the " \
           "packet reached the guest)" in message
    assert "ping 192.168.101.5 (ICMP opened by no rule): expected no reply, actual replies" in message
    assert "server oslab-vm1" in message  # the peer the traffic came from


def test_an_opened_port_dropped_fails_s4_by_traffic():
    with pytest.raises(CheckFailed, match=r"TCP 192.168.101.5:22 \(opened by a rule\): expected answered, actual no "
                                          r"answer \(dropped\)"):
        guests.check_traffic_follows_the_groups(peer(DROPPED, DROPPED, NO_REPLY), GUARDED, opened=[22],
                                                closed=[8080])


def test_the_lab_guest_that_moved_itself_fails_g1_with_no_arp_answer_and_no_guess():
    """The outputs G1 read on the lab while the guest-address-changed breakage held (captured/lab-g1)."""
    moved = Port(id="afbe50e9-5669-4536-b428-6ffed102d461", mac_address="fa:16:3e:00:37:52",
                 fixed_ips=[{"ip_address": "10.199.210.95", "subnet_id": SUBNET.id}])
    view = "qdhcp-96636259-90ce-487b-aea7-5268adb335ea on vm"
    seen = {view: guests.NetworkView(neigh.parse_arping(read("captured/lab-g1/qdhcp-arping-no-answer.txt")),
                                     neigh.parse_neigh(read("captured/lab-g1/qdhcp-neigh.json")))}
    with pytest.raises(CheckFailed) as failure:
        guests.check_guest_holds_its_address(SERVER, moved, SUBNET, seen, "the SSH session died mid-run")
    message = str(failure.value)
    assert "port afbe50e9-5669-4536-b428-6ffed102d461 address 10.199.210.95 (MAC fa:16:3e:00:37:52): expected held " \
           f"by the guest, actual no ARP answer for 10.199.210.95 from {view} (the guest does not hold it, or its " \
           "traffic does not get through); SSH: the SSH session died mid-run" in message
    assert "was seen at" not in message  # a FAILED entry of its old address is no sighting
