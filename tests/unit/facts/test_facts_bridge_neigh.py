from pytest_oslab.facts import bridge, iproute, neigh


def test_seed_002_brctl_show_n13(data):
    controller = bridge.parse_brctl_show(data("seeds/002-brctl-show-controller.txt"))["brq59fe11c2-21"]
    assert (controller.bridge_id, controller.stp, controller.interfaces) == (
        "8000.080027f6b8b3", False, ("eth2", "tap8e7ff5b5-3f"))
    compute = bridge.parse_brctl_show(data("seeds/002-brctl-show-compute.txt"))["brq59fe11c2-21"]
    assert compute.interfaces == ("eth2", "tap14d72434-b8")


def test_captured_brctl_and_bridge_link_agree(data):
    brctl = bridge.parse_brctl_show(data("captured/linuxbridge/lb-brctl-show.txt"))
    ports = bridge.parse_bridge_link(data("captured/linuxbridge/lb-bridge-link.json"))
    by_bridge = bridge.ports_by_bridge(ports)
    assert list(by_bridge) == ["brqc08e7dcd-4a"]
    assert by_bridge["brqc08e7dcd-4a"] == list(brctl["brqc08e7dcd-4a"].interfaces)
    states = {p.name: p.state for p in ports}
    assert states["vxlan-267"] == "forwarding" and states["tap7a8c0a54-75"] == "disabled"
    links = iproute.parse_links(data("captured/linuxbridge/lb-link.json"))
    assert set(iproute.slaves_of(links, "brqc08e7dcd-4a")) == set(by_bridge["brqc08e7dcd-4a"])


def test_captured_neighbours_in_dhcp_namespace(data):
    entries = {n.ip: n for n in neigh.parse_neigh(data("captured/linuxbridge/qdhcp-neigh.json"))}
    assert (entries["192.168.101.77"].mac, entries["192.168.101.77"].dev) == ("fa:16:3e:3c:5d:7e", "ns-5c2e9f1a-3b")
    assert entries["192.168.101.1"].state == ("REACHABLE",)
    (failed,) = neigh.parse_neigh('[{"dst":"10.0.0.9","dev":"ns-x","state":["FAILED"]}]')
    assert failed.mac is None


def test_seed_002_arp_tables(data):
    controller = {n.ip: n for n in neigh.parse_arp_n(data("seeds/002-arp-n-controller.txt"))}
    assert controller["169.254.169.254"].mac == controller["192.168.31.70"].mac == "fa:16:3e:19:f7:3b"
    assert controller["192.168.31.70"].dev == "brq59fe11c2-21" and controller["10.0.2.2"].state == ("C",)
    compute = {n.ip: n for n in neigh.parse_arp_n(data("seeds/002-arp-n-compute.txt"))}
    assert (compute["192.168.31.74"].mac, compute["192.168.31.74"].state) == (None, ("INCOMPLETE",))
    assert len(compute) == 7


def test_arping_iputils_and_busybox(data):
    node = neigh.parse_arping(data("seeds/002-qdhcp-arping.txt"))
    assert (node.target, node.source, node.interface) == ("192.168.31.1", "169.254.169.254", "ns-8e7ff5b5-3f")
    assert (node.sent, node.received, node.macs) == (3, 3, ("08:00:27:f6:b8:b3",))
    guest = neigh.parse_arping(data("seeds/002-guest-arping.txt"))
    assert (guest.target, guest.interface, guest.macs) == ("192.168.31.5", "eth0", ("08:00:27:5b:61:bc",))
    assert guest.replies[1].ms == 0.378
    captured = neigh.parse_arping(data("captured/linuxbridge/qdhcp-arping.txt"))
    assert (captured.macs, captured.received) == (("fa:16:3e:3c:5d:7e",), 3)


def test_arping_without_replies():
    result = neigh.parse_arping("ARPING 10.0.0.9 from 10.0.0.2 ns-x\nSent 3 probes (3 broadcast(s))\nReceived 0 response(s)")
    assert (result.replies, result.received) == ((), 0)
