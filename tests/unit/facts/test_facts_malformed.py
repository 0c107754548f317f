"""Malformed output: every parser raises ParseError (a ValueError) naming the command and what it could not read."""
import pytest

from pytest_oslab.facts import (ParseError, bridge, dnsmasq, iproute, iptables, libvirt, neigh, nova_status,
                               ovn, ovs, processes, sockets)

CASES = [
    # bridge_neigh
    (bridge.parse_brctl_show, "brq0 8000.0 no eth0", "missing the 'bridge name' header"),
    (bridge.parse_brctl_show, "bridge name\tbridge id\tSTP enabled\tinterfaces\n\t\t\ttap0", "outside a bridge"),
    (bridge.parse_brctl_show, "bridge name\tbridge id\tSTP enabled\tinterfaces\nbrq0 8000.0 maybe", "expected 'name id"),
    (bridge.parse_bridge_link, '[{"ifname": "tap0"}]', "without ifname/master"),
    (neigh.parse_neigh, '[{"dst": "10.0.0.1"}]', "without dst/dev"),
    (neigh.parse_arp_n, "Address HWtype\n10.0.0.1   ether   zz:zz   C   eth0", "not a MAC"),
    (neigh.parse_arping, "Unicast reply from 10.0.0.1 [FA:16:3E:00:00:01]  0.5ms", "missing the 'ARPING"),
    (neigh.parse_arping, "ARPING 10.0.0.1 from 10.0.0.2 eth0\nsomething else", "unexpected line"),
    # dnsmasq
    (dnsmasq.parse_hosts, "fa:16:3e:00:00:01,host-x", "at least 3"),
    (dnsmasq.parse_hosts, "nomac,host-x,10.0.0.1", "not a MAC"),
    (dnsmasq.parse_hosts, "fa:16:3e:00:00:01,host-x,10.0.0", "not an IP address"),
    (dnsmasq.parse_addn_hosts, "10.0.0.1", "an address and a name"),
    (dnsmasq.parse_leases, "1700000000 fa:16:3e:00:00:01 10.0.0.1", "expiry mac ip"),
    (dnsmasq.parse_opts, "tag:a,tag:b", "without an option"),
    (dnsmasq.parse_interface_file, "tap1\ntap2", "one interface name"),
    (dnsmasq.parse_cmdline, "haproxy -f x.conf", "no dnsmasq"),
    (dnsmasq.parse_cmdline, "dnsmasq -k", "not a --long option"),
    (dnsmasq.parse_cmdline, "dnsmasq --a\ndnsmasq --b", "more than one line"),
    # iproute
    (iproute.parse_links, "{not json", "ip -j link: not JSON"),
    (iproute.parse_links, '{"ifname": "x"}', "expected a JSON array"),
    (iproute.parse_links, '[{"mtu": 1500}]', "without ifname/ifindex"),
    (iproute.parse_links, '[{"ifname": "a", "ifindex": 1, "addr_info": [{"local": "1.2.3.4"}]}]', "address entry"),
    (iproute.parse_links_text, "    link/ether fa:16:3e:00:00:01", "line outside a link block"),
    (iproute.parse_links_text, "2: eth0: <UP> qdisc noop", "without mtu"),
    (iproute.parse_links_text, "2: eth0: <UP> mtu 1500\n    inet banana/24 scope global", "cannot read the address"),
    (iproute.parse_links_text, "2: eth0: <UP> mtu 1500\n    vxlan local 1.2.3.4", "vxlan line without an id"),
    (iproute.parse_routes, '[{"dev": "eth0"}]', "route without dst"),
    (iproute.parse_routes_text, "via 10.0.0.1 dev eth0", "route without a destination"),
    (iproute.parse_routes_text, "default via", "'via' has no value"),
    (iproute.parse_netns, "qdhcp-a (id: 0) extra", "not a namespace line"),
    # iptables
    (iptables.parse_iptables_save, "-A INPUT -j ACCEPT", "outside a \\*table"),
    (iptables.parse_iptables_save, "*filter\n:INPUT\nCOMMIT", "chain line without a policy"),
    (iptables.parse_iptables_save, "*filter\n-A NOPE -j ACCEPT\nCOMMIT", "undeclared chain 'NOPE'"),
    (iptables.parse_iptables_save, '*filter\n:X - [0:0]\n-A X -m comment --comment "open -j A\nCOMMIT', "unbalanced"),
    (iptables.parse_iptables_save, "*filter\n:X - [0:0]\n-A X -s\nCOMMIT", "-s has no value"),
    (iptables.parse_iptables_save, "*filter\n:X - [0:0]\n-A X -z 1\nCOMMIT", "unexpected '-z'"),
    (iptables.parse_iptables_S, "-X FOO", "expected -P, -N or -A"),
    (iptables.parse_iptables_L, "RETURN all -- anywhere anywhere", "before any 'Chain' line"),
    (iptables.parse_iptables_L, "Chain X (1 references)\nRETURN all -- anywhere anywhere frob 1", "unknown match"),
    # libvirt
    (libvirt.parse_domain_xml, "<domain><name>x</name>", "not XML"),
    (libvirt.parse_domain_xml, "<interface type='bridge'/>", "not <domain>"),
    (libvirt.parse_domain_xml, "<domain type='kvm'/>", "without a <name>"),
    (libvirt.parse_interfaces_xml, "<mac address='fa:16:3e:00:00:01'/>", "no <interface>"),
    (libvirt.parse_interfaces_xml, "<interface type='bridge'><address type='pci' slot='zz'/></interface>", "bad PCI"),
    (libvirt.parse_virsh_list, " Id Name State\n---\n x    dom   running", "bad domain id"),
    (libvirt.parse_virsh_list, " Id Name State\n---\n 1    dom", "expected 3 columns"),
    (libvirt.parse_domiflist, "Interface Type Source Model MAC\n---\ntap0 bridge brq0", "expected Interface"),
    # nova_status
    (nova_status.parse_upgrade_check, "Check: Cells v2", "not a table row"),
    (nova_status.parse_upgrade_check, "| Result: Success |", "Result before any Check"),
    (nova_status.parse_upgrade_check, "| Check: Cells v2 |", "has no Result"),
    (nova_status.parse_upgrade_check, "| Check: A |\n| Result: Success |\n| surprise |", "unexpected cell"),
    # ovs_ovn
    (ovs.parse_records, "[]", "expected an object with 'headings'"),
    (ovs.parse_records, '{"headings": ["a", "b"], "data": [[1]]}', "row has 1 values for 2 headings"),
    (ovs.parse_records, '{"headings": ["a"], "data": [[["bogus", 1, 2]]]}', "unknown value encoding"),
    (ovs.parse_bridges, '{"headings": ["_uuid"], "data": [[["uuid", "u"]]]}', "lack columns \\['name'\\]"),
    (ovn.parse_port_bindings, '{"headings": ["_uuid"], "data": [[["uuid", "u"]]]}', "logical_port"),
    (ovs.parse_vsctl_show, "    Bridge br-int", "first line is not the database uuid"),
    (ovs.parse_vsctl_show, "uuid\nBridge br-int", "unexpected line"),
    (ovs.parse_vsctl_show, "u\n    Bridge b\n        Port p\n            Interface p\n                options: peer", "options"),
    # processes_sockets
    (processes.parse_ps, "PID COMMAND\nabc dnsmasq", "expected 'PID ARGS'"),
    (processes.parse_ps, "nobody 12", "expected 'UID PID"),
    (processes.parse_proc_cmdline, b"", "empty"),
    (sockets.parse_ss, "udp UNCONN 0 0 0.0.0.0:67", "expected 'Netid State"),
    (sockets.parse_ss, "udp UNCONN 0 0 nonsense 0.0.0.0:*", "cannot read the address"),
]


@pytest.mark.parametrize("parse, text, message", CASES)
def test_malformed_output_names_what_failed(parse, text, message):
    with pytest.raises(ParseError, match=message):
        parse(text)
