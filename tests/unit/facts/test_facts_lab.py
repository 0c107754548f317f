"""Outputs captured read-only from the running lab (Linux bridge, a flat and a vxlan network, one instance):
the parsers agree with each other the way the documented facts say the cloud's pieces do."""
import ipaddress

import pytest

from pytest_oslab.facts import bridge, dnsmasq, iproute, iptables, libvirt, sockets

LAB = "captured/lab/"
VXLAN_NET = "8cc956e4-a1ff-4298-9560-71420c7e13ca"
PORT = "c5c290cd-2e6a-49e4-9506-e265e94f479d"


@pytest.fixture
def node_links(data):
    return iproute.parse_links(data(LAB + "node-link.json"))


def test_instance_interface_tap_and_bridge_i6_i7_i9(data, node_links):
    domain = libvirt.parse_domain_xml(data(LAB + "virsh-dumpxml-instance-00000001.xml"))
    assert (domain.name, domain.nova_ports) == ("instance-00000001", (PORT,))
    iface = domain.interface(target="tap" + PORT[:11])
    assert (iface.type, iface.model, iface.mtu, iface.source_bridge) == ("bridge", "virtio", 1450, "brq" + VXLAN_NET[:11])
    tap = node_links[iface.target]
    assert (tap.kind, tap.mtu, tap.master, tap.up) == ("tun", 1450, iface.source_bridge, True)
    assert tap.mac == iproute.tap_mac_for(iface.mac)
    (vxlan,) = iproute.by_kind(node_links, "vxlan")
    assert (vxlan.name, vxlan.master, vxlan.mtu) == (f"vxlan-{vxlan.vxlan.id}", iface.source_bridge, 1450)
    assert (vxlan.vxlan.port, vxlan.vxlan.local) == (8472, "198.51.100.1")
    underlay = iproute.parse_links(data(LAB + "node-addr.json"))[vxlan.vxlan.dev]
    assert underlay.has_address(vxlan.vxlan.local, 24)


def test_host_and_addn_hosts_name_the_instance_i2_i3(data):
    hosts = {h.ip: h for h in dnsmasq.parse_hosts(data(LAB + "dhcp-8cc956e4-host"))}
    entry = hosts["10.10.0.76"]
    assert (entry.mac, entry.name, entry.domain) == ("fa:16:3e:b5:31:07", dnsmasq.neutron_hostname("10.10.0.76"), "openstacklocal")
    addn = {a.ip: a for a in dnsmasq.parse_addn_hosts(data(LAB + "dhcp-8cc956e4-addn_hosts"))}
    assert addn["10.10.0.76"].names == (entry.hostname, entry.name)
    assert dnsmasq.parse_leases(data(LAB + "dhcp-8cc956e4-leases")) == []   # captured before the guest asked


@pytest.mark.parametrize("short, mtu, cidr", [("8cc956e4", 1450, "10.10.0.0/24"), ("1d6b4d03", 1500, "198.18.10.0/24")])
def test_dhcp_namespace_and_dnsmasq_n6_to_n11(data, short, mtu, cidr):
    device = dnsmasq.parse_interface_file(data(LAB + f"dhcp-{short}-interface"))
    ns = iproute.parse_links(data(LAB + f"qdhcp-{short}-addr.json"))[device]
    assert device.startswith("ns-") and ns.up and ns.mtu == mtu and ns.mac.startswith("fa:16:3e:")
    (own,) = [a for a in ns.ipv4() if a.ip != "169.254.169.254"]
    assert own.network == ipaddress.ip_network(cidr) and ns.has_address("169.254.169.254", 32)
    routes = iproute.parse_routes(data(LAB + f"qdhcp-{short}-route.json"))
    assert iproute.default_route(routes).dev == device
    assert iproute.connected_route(routes, cidr).prefsrc == own.ip
    socks = sockets.parse_ss(data(LAB + f"qdhcp-{short}-ss.txt"))
    assert sockets.listening(socks, "udp", 67)[0].process_names == ("dnsmasq",)
    assert sockets.listening(socks, "udp", 53, own.ip) and sockets.listening(socks, "tcp", 53, own.ip)
    assert sockets.listening(socks, "tcp", 80, "169.254.169.254")[0].process_names == ("haproxy",)
    cmd = dnsmasq.parse_cmdline(data(LAB + f"dnsmasq-{short}-cmdline.bin", binary=True))
    directory = cmd.get("dhcp-hostsfile").rsplit("/", 1)[0]
    assert directory.startswith("/var/lib/neutron/dhcp/" + short)
    assert [cmd.get(o) for o in ("addn-hosts", "dhcp-optsfile", "dhcp-leasefile")] == \
        [f"{directory}/{f}" for f in ("addn_hosts", "opts", "leases")]
    assert cmd.mtu == mtu and cmd.get("domain") == "openstacklocal"
    assert [str(r.network) for r in cmd.dhcp_ranges] == [cidr]
    (router,) = [o for o in dnsmasq.parse_opts(data(LAB + f"dhcp-{short}-opts")) if o.option == "router"]
    assert router.tags == ("tag:" + cmd.dhcp_ranges[0].tag,)


def test_bridges_hold_their_ports_n13(data, node_links):
    ports = bridge.ports_by_bridge(bridge.parse_bridge_link(data(LAB + "node-bridge-link.json")))
    assert {"vxlan-571", "tap" + PORT[:11], "tapbf33357a-03"} <= set(ports["brq" + VXLAN_NET[:11]])
    assert set(ports) == {link.name for link in iproute.by_kind(node_links, "bridge")}
    assert iproute.parse_netns(data(LAB + "node-netns.txt")).count("qdhcp-" + VXLAN_NET) == 1


def test_security_group_chains_of_the_instance_s1_to_s4(data):
    ruleset = iptables.parse_iptables_save(data(LAB + "node-iptables-save.txt"))
    chains = iptables.port_chain_names(PORT)
    ingress = ruleset.chain("filter", chains["in"]).rules
    assert ingress[0].ctstate == {"RELATED", "ESTABLISHED"} and ingress[-1].target == "neutron-linuxbri-sg-fallback"
    assert any(r.destination == "10.10.0.76/32" and r.dport == "68" for r in ingress)
    (allow, drop) = ruleset.chain("filter", chains["spoof"]).rules
    assert (allow.source, allow.mac_source, drop.target) == ("10.10.0.76/32", "fa:16:3e:b5:31:07", "DROP")
    sg_jumps = {(r.target, r.physdev_in or r.physdev_out) for r in ruleset.chain("filter", "neutron-linuxbri-sg-chain").rules}
    assert {(chains["in"], "tap" + PORT[:11]), (chains["out"], "tap" + PORT[:11])} <= sg_jumps
    assert [r.chain for r in ruleset.jumps_to("neutron-linuxbri-sg-chain")] == ["neutron-linuxbri-FORWARD"] * 2
