import ipaddress

import pytest

from pytest_oslab.facts import ParseError, iproute


# ------------------------------------------------------------------------------------------ helpers

def test_tap_mac_replaces_the_first_octet_with_fe():
    # seed 000: port fa:16:3e:e9:6a:38 -> tap60ad2c85-f3 link/ether fe:16:3e:e9:6a:38
    assert iproute.tap_mac_for("fa:16:3e:e9:6a:38") == "fe:16:3e:e9:6a:38"
    assert iproute.tap_mac_for("FA:16:3E:BE:71:21") == "fe:16:3e:be:71:21"


def test_tap_mac_rejects_a_non_mac():
    with pytest.raises(ValueError, match="port MAC"):
        iproute.tap_mac_for("fa:16:3e")


# ------------------------------------------------------------------------ text: ip -d link (nodes, seeds)

def test_seed_000_ovs_tap_is_a_tun_under_ovs_system(data):
    tap = iproute.parse_links_text(data("seeds/000-ip-d-link.txt"))["tap60ad2c85-f3"]
    assert (tap.ifindex, tap.mtu, tap.mac) == (7, 1500, "fe:16:3e:e9:6a:38")
    assert tap.up and tap.lower_up and tap.operstate == "UNKNOWN"
    assert (tap.master, tap.kind, tap.slave_kind, tap.info) == ("ovs-system", "tun", "openvswitch", {"type": "tap"})
    assert tap.mac == iproute.tap_mac_for("fa:16:3e:e9:6a:38")


def test_seed_001_linuxbridge_vxlan_devices(data):
    links = iproute.parse_links_text(data("seeds/001-ip-d-link.txt"))
    assert list(links) == ["brqc08e7dcd-4a", "vxlan-267", "tap7a8c0a54-75"]
    brq, vxlan, tap = links.values()
    assert (brq.kind, brq.mtu, brq.operstate, brq.master) == ("bridge", 1450, "UP", None)
    assert vxlan.vxlan == iproute.Vxlan(id=267, local="172.16.0.31", port=8472, dev="eth0", learning=None)
    assert (vxlan.master, vxlan.mtu, vxlan.slave_kind) == ("brqc08e7dcd-4a", 1450, "bridge")
    assert vxlan.bridge_slave == iproute.BridgeSlave(state="forwarding", priority=32, cost=2)
    assert (tap.mac, tap.mtu, tap.master, tap.kind) == ("fe:16:3e:be:71:21", 1450, "brqc08e7dcd-4a", "tun")
    assert tap.bridge_slave.cost == 100
    assert iproute.slaves_of(links, "brqc08e7dcd-4a").keys() == {"vxlan-267", "tap7a8c0a54-75"}
    assert iproute.by_kind(links, "vxlan") == [vxlan]


def test_seed_003_ovs_controller_devices(data):
    links = iproute.parse_links_text(data("seeds/003-ip-d-link.txt"))
    assert list(links) == ["lo", "eth0", "eth1", "ovs-system", "br-int", "br-provider"]
    assert (links["eth0"].master, links["eth0"].slave_kind, links["eth0"].kind) == ("ovs-system", "openvswitch", None)
    assert links["br-int"].kind == "openvswitch" and not links["br-int"].up
    assert links["br-provider"].mac == links["eth0"].mac == "00:15:5d:bf:ba:43"
    dhcp = iproute.parse_links_text(data("seeds/003-qdhcp-ip-d-link.txt"))["tap43bf8dcc-08"]
    assert (dhcp.mac, dhcp.mtu, dhcp.kind, dhcp.up) == ("fa:16:3e:4a:1e:19", 1500, "openvswitch", True)


def test_seed_002_veth_peer_and_netnsid(data):
    tap = iproute.parse_links_text(data("seeds/002-ip-a-show-tap.txt"))["tap8e7ff5b5-3f"]
    assert (tap.peer, tap.link_netnsid, tap.master, tap.addresses) == ("if2", 0, "brq59fe11c2-21", ())
    ns = iproute.parse_links_text(data("seeds/002-qdhcp-ip-a.txt"))["ns-8e7ff5b5-3f"]
    assert (ns.peer, ns.mac, ns.mtu) == ("if12", "fa:16:3e:19:f7:3b", 1500)
    assert [str(a) for a in ns.ipv4()] == ["169.254.169.254/16", "192.168.31.70/27"]


# --------------------------------------------------------------------------- text: ip addr (DHCP namespace)

def test_seed_003_dhcp_namespace_addresses(data):
    links = iproute.parse_links_text(data("seeds/003-qdhcp-ip-addr.txt"))
    tap = links["tap43bf8dcc-08"]
    first = tap.addresses[0]
    assert (first.ip, first.prefixlen, first.family, first.scope) == ("172.17.0.0", 12, "inet", "global")
    assert (first.broadcast, first.label) == ("172.31.255.255", "tap43bf8dcc-08")
    assert first.network == ipaddress.ip_network("172.16.0.0/12")
    assert tap.has_address("169.254.169.254", 32)
    assert tap.ipv6()[0].scope == "link" and tap.ipv6()[0].label is None
    assert links["lo"].addresses[0].interface == ipaddress.ip_interface("127.0.0.1/8")


# ------------------------------------------------------------------------------- text: guests (G1, H3, H6)

def test_seed_000_cirros_guest(data):
    eth0 = iproute.parse_links_text(data("seeds/000-guest-ip-addr.txt"))["eth0"]
    assert (eth0.mac, eth0.mtu, eth0.up, eth0.operstate) == ("fa:16:3e:e9:6a:38", 1500, True, None)
    assert [str(a) for a in eth0.ipv4()] == ["172.17.0.153/12"]


def test_seed_002_old_cirros_without_ipv4(data):
    links = iproute.parse_links_text(data("seeds/002-guest-ip-a.txt"))
    assert links["lo"].mtu == 16436
    assert links["eth0"].ipv4() == [] and links["eth0"].mac == "fa:16:3e:cd:96:47"


def test_seed_004_hotplugged_nic_down_without_address_then_configured(data):
    before = iproute.parse_links_text(data("seeds/004-server1-ip-addr-before.txt"))["ens6"]
    assert (before.mac, before.up, before.operstate, before.addresses) == ("fa:16:3e:b3:33:ae", False, "DOWN", ())
    after = iproute.parse_links_text(data("seeds/004-server1-ip-addr-after.txt"))["ens6"]
    assert after.up and after.has_address("172.16.0.11", 24) and after.addresses[0].broadcast is None


def test_seed_004_reattached_nic_keeps_its_mac_but_not_its_name(data):
    links = iproute.parse_links_text(data("seeds/004-server1-ip-addr-reattached.txt"))
    assert "ens6" not in links
    assert (links["ens7"].mac, links["ens7"].ifindex, links["ens7"].addresses) == ("fa:16:3e:b3:33:ae", 4, ())


def test_seed_004_busybox_guest_before_and_after(data):
    before = iproute.parse_links_text(data("seeds/004-server2-ip-addr-before.txt"))
    after = iproute.parse_links_text(data("seeds/004-server2-ip-addr-after.txt"))
    assert before["eth1"].flags == ("BROADCAST", "MULTICAST") and before["eth1"].ipv4() == []
    assert str(after["eth1"].ipv4()[0]) == "172.16.0.12/24" and after["eth1"].lower_up


def test_captured_busybox_guest_after_udhcpc(data):
    eth0 = iproute.parse_links_text(data("captured/linuxbridge/guest-ip-addr.txt"))["eth0"]
    assert eth0.peer == "if9" and "M-DOWN" in eth0.flags
    assert (eth0.mac, eth0.mtu, str(eth0.ipv4()[0])) == ("fa:16:3e:3c:5d:7e", 1450, "192.168.101.77/24")


# ------------------------------------------------------------------------------------------------- JSON

def test_captured_json_linuxbridge_node(data):
    links = iproute.parse_links(data("captured/linuxbridge/lb-link.json"))
    vxlan = links["vxlan-267"]
    assert vxlan.vxlan == iproute.Vxlan(id=267, local="198.51.100.31", port=8472, dev="eth1", learning=False)
    assert (vxlan.master, vxlan.mtu, vxlan.bridge_slave.state) == ("brqc08e7dcd-4a", 1450, "forwarding")
    tap = links["tap7a8c0a54-75"]
    assert (tap.kind, tap.info["type"], tap.mac, tap.operstate) == ("tun", "tap", "fe:16:3e:be:71:21", "DOWN")
    assert "NO-CARRIER" in tap.flags and tap.up and not tap.lower_up
    dhcp_tap = links["tap5c2e9f1a-3b"]
    assert (dhcp_tap.kind, dhcp_tap.peer, dhcp_tap.link_netnsid) == ("veth", "if2", 0)
    assert links["brqc08e7dcd-4a"].kind == "bridge" and links["brqc08e7dcd-4a"].info["stp_state"] == 0


def test_captured_json_and_text_agree(data):
    as_json = iproute.parse_links(data("captured/linuxbridge/lb-link.json"))
    as_text = iproute.parse_links_text(data("captured/linuxbridge/lb-link.txt"))
    assert as_json.keys() == as_text.keys()
    for name in as_json:
        j, t = as_json[name], as_text[name]
        assert (j.mtu, j.master, j.kind, j.slave_kind, j.operstate, j.vxlan) == \
               (t.mtu, t.master, t.kind, t.slave_kind, t.operstate, t.vxlan), name


def test_captured_json_dhcp_namespace_addresses(data):
    links = iproute.parse_links(data("captured/linuxbridge/qdhcp-addr.json"))
    ns = links["ns-5c2e9f1a-3b"]
    assert (ns.mac, ns.mtu, ns.up, ns.kind) == ("fa:16:3e:0d:6a:2f", 1450, True, "veth")
    assert [str(a) for a in ns.ipv4()] == ["192.168.101.2/24", "169.254.169.254/32"]
    assert ns.ipv4()[0].label == "ns-5c2e9f1a-3b"
    text = iproute.parse_links_text(data("captured/linuxbridge/qdhcp-addr.txt"))["ns-5c2e9f1a-3b"]
    assert text.addresses == ns.addresses


def test_captured_json_host_links(data):
    links = iproute.parse_links(data("captured/host/addr.json"))
    assert links["lo"].has_address("127.0.0.1", 8)
    assert all(link.mtu > 0 for link in links.values())


def test_empty_json_is_no_links():
    assert iproute.parse_links("") == {} and iproute.parse_links("[]") == {}


# ----------------------------------------------------------------------------------------------- routes

def test_seed_003_dhcp_namespace_routes(data):
    routes = iproute.parse_routes_text(data("seeds/003-qdhcp-ip-route.txt"))
    default = iproute.default_route(routes)
    assert (default.gateway, default.dev, default.protocol) == ("172.16.0.1", "tap43bf8dcc-08", "static")
    connected = iproute.connected_route(routes, "172.16.0.0/12")
    assert (connected.scope, connected.prefsrc, connected.protocol) == ("link", "172.17.0.0", "kernel")


def test_seed_002_routes_with_metrics_and_host_route(data):
    routes = iproute.parse_routes_text(data("seeds/002-ip-r-controller.txt"))
    assert routes[0].is_default and routes[0].metric == 100 and routes[0].gateway == "10.0.2.2"
    host = iproute.parse_routes_text(data("seeds/002-qdhcp-ip-r.txt"))[2]
    assert (host.dst, host.scope, host.gateway) == ("192.168.31.1", "link", None)


def test_captured_routes_json_text_and_busybox(data):
    as_json = iproute.parse_routes(data("captured/linuxbridge/qdhcp-route.json"))
    as_text = iproute.parse_routes_text(data("captured/linuxbridge/qdhcp-route.txt"))
    assert [(r.dst, r.gateway, r.dev, r.prefsrc) for r in as_json] == [(r.dst, r.gateway, r.dev, r.prefsrc) for r in as_text]
    assert iproute.default_route(as_json).gateway == "192.168.101.1"
    guest = iproute.parse_routes_text(data("captured/linuxbridge/guest-ip-route.txt"))
    assert iproute.connected_route(guest, "192.168.101.0/24").prefsrc == "192.168.101.77"
    assert iproute.connected_route(guest, "10.0.0.0/8") is None


# ------------------------------------------------------------------------------------------- namespaces

def test_netns_lists(data):
    assert iproute.parse_netns(data("seeds/003-ip-netns.txt")) == ["qdhcp-85f372ef-f39a-42bb-a06b-9f9ed8e4e58e"]
    assert "qdhcp-c08e7dcd-4acb-4cd0-ad08-ebd3b48467ee" in iproute.parse_netns(data("captured/linuxbridge/lb-netns.txt"))
    assert iproute.parse_netns('[{"name":"qdhcp-x","id":0}]') == ["qdhcp-x"]


# ------------------------------------------------------------------------------------------- malformed


def test_parse_error_is_a_value_error():
    assert issubclass(ParseError, ValueError)


def test_captured_host_routes(data):
    routes = iproute.parse_routes(data("captured/host/route.json"))
    assert iproute.default_route(routes).gateway and all(r.dev for r in routes)
