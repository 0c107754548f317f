"""Networks and DHCP (N3-N11) and the DHCP entries of an instance (I2-I4): the DHCP agent's namespace, device,
addresses, routes, listeners, dnsmasq process and files, judged against the API's network, subnet and ports."""
from __future__ import annotations

import ipaddress
from typing import Optional, Sequence

from pytest_oslab.checks import names
from pytest_oslab.checks.core import Check, Where, short_id, wait_until
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.facts import dnsmasq, iproute, sockets


def check_dhcp_port(port, network, subnet, dhcp_hosts: Sequence[str]) -> None:
    """N4: the DHCP port is ``network:dhcp``, ACTIVE, bound to a DHCP agent's host, its IP from the pool."""
    with Check("the DHCP port is network:dhcp, ACTIVE, bound to a DHCP agent's host, with an IP from the pool",
               Where(port=port, network=network)) as c:
        c.expect("device_owner", "network:dhcp", port.device_owner)
        c.expect("status", "ACTIVE", port.status)
        host = getattr(port, "binding_host_id", None)
        c.require(host in dhcp_hosts, f"binding host: expected one of the DHCP agents' hosts "
                                      f"{', '.join(dhcp_hosts) or '(none)'}, actual {host or 'unbound'}")
        ip = names.fixed_ip_on(port, subnet)
        if c.require(ip, f"no IPv4 address on subnet {subnet.name or subnet.id} ({subnet.cidr})"):
            c.require(names.in_pools(ip, subnet), f"IP {ip}: expected inside the allocation pool "
                                                  f"{names.pools_text(subnet)} of subnet {subnet.cidr}")


def check_dhcp_port_on_each_node(served: Sequence, network, dhcp_ports: Sequence) -> None:
    """What the checks on each DHCP node start from: every node whose DHCP agent serves the network has one of the
    network's DHCP ports bound there (``served``: ``(node, port)`` pairs, ``port`` None where none is bound)."""
    missing = [on.node.name for on in served if on.port is None]
    with Check("each node whose DHCP agent serves the network has its DHCP port bound there",
               Where(network=network)) as c:
        bound = ", ".join(f"{short_id(p.id)} on {p.binding_host_id}" for p in dhcp_ports) or "none"
        c.require(not missing, f"no DHCP port bound to DHCP node(s) {', '.join(missing)} (DHCP ports: {bound})")


def check_dhcp_namespace(node: NodeFacts, network) -> None:
    """N5: ``qdhcp-<net>`` exists on a node whose DHCP agent serves the network."""
    namespace = names.qdhcp(network.id)
    with Check("the DHCP namespace exists", Where(network=network, namespace=namespace, node=node.name)) as c:
        present = node.namespaces()
        c.require(namespace in present, f"namespace {namespace}: expected in `ip netns`, actual absent "
                                        f"(namespaces: {', '.join(present) or 'none'})")


def dhcp_link(c: Check, node: NodeFacts, network, port, driver: str) -> Optional[iproute.Link]:
    """The DHCP port's device inside ``qdhcp-<net>`` (fails the check when the device is not there)."""
    device = names.dhcp_device(port.id, driver)
    links = node.links(names.qdhcp(network.id))
    if device not in links:
        c.fail(f"device {device}: expected in namespace {names.qdhcp(network.id)}, actual absent "
               f"(devices: {', '.join(sorted(links)) or 'none'})")
    return links[device]


def check_dhcp_device(node: NodeFacts, network, port, driver: str) -> None:
    """N6: the DHCP device (``ns-…`` on Linux bridge, ``tap…`` on OVS) is UP, MAC = DHCP port MAC, MTU = network MTU."""
    device = names.dhcp_device(port.id, driver)
    where = Where(port=port, network=network, device=device, namespace=names.qdhcp(network.id), node=node.name)
    with Check("the DHCP device is UP with the DHCP port's MAC and the network's MTU", where) as c:
        link = dhcp_link(c, node, network, port, driver)
        c.expect("state UP", True, link.up)
        c.expect("MAC", port.mac_address.lower(), (link.mac or "").lower(), "DHCP port MAC")
        c.expect("MTU", network.mtu, link.mtu, "network MTU")


def check_dhcp_addresses(node: NodeFacts, network, port, subnet, driver: str) -> None:
    """N7: the DHCP device holds the DHCP port's IP with the subnet's prefix, and 169.254.169.254 (metadata); and
    no other IPv4 address than the port's fixed IPs (an address of no port answers ARP for it on the network)."""
    device = names.dhcp_device(port.id, driver)
    where = Where(port=port, network=network, device=device, namespace=names.qdhcp(network.id), node=node.name)
    with Check("the DHCP device holds the port's IP with the subnet prefix and 169.254.169.254", where) as c:
        link = dhcp_link(c, node, network, port, driver)
        have = sorted(str(a) for a in link.ipv4())
        ip = names.fixed_ip_on(port, subnet)
        expected = f"{ip}/{names.prefixlen(subnet)}"
        c.require(expected in have, f"address: expected {expected} (DHCP port IP, subnet {subnet.cidr}), "
                                    f"actual {', '.join(have) or 'none'}")
        c.require(link.has_address(names.METADATA_IP), f"address: expected {names.METADATA_IP} (metadata), "
                                                       f"actual {', '.join(have) or 'none'}")
        own = {ip for ip, _ in names.ipv4_fixed_ips(port)} | {names.METADATA_IP}
        for address in have:
            c.require(address.split("/")[0] in own, f"address {address}: expected only the DHCP port's fixed IPs "
                                                    f"and {names.METADATA_IP}, actual {address} besides")


def check_dhcp_routes(node: NodeFacts, network, port, subnet, driver: str) -> None:
    """N8: inside ``qdhcp-<net>``: the default route via the subnet's gateway, and the connected subnet route."""
    device = names.dhcp_device(port.id, driver)
    where = Where(port=port, network=network, device=device, namespace=names.qdhcp(network.id), node=node.name)
    with Check("the DHCP namespace routes by default via the subnet gateway and has the subnet's route", where) as c:
        routes = node.routes(names.qdhcp(network.id))
        default = iproute.default_route(routes)
        if subnet.gateway_ip:
            c.expect("default route gateway", subnet.gateway_ip, default.gateway if default else None,
                     "subnet gateway")
            if default is not None:
                c.expect("default route device", device, default.dev)
        connected = iproute.connected_route(routes, subnet.cidr)
        if c.require(connected is not None, f"route to {subnet.cidr}: expected, actual absent "
                                            f"(routes: {', '.join(r.dst for r in routes) or 'none'})"):
            c.expect(f"route to {subnet.cidr} device", device, connected.dev)
            c.expect(f"route to {subnet.cidr} source", names.fixed_ip_on(port, subnet), connected.prefsrc,
                     "DHCP port IP")


def check_dhcp_listeners(node: NodeFacts, network, port, subnet) -> None:
    """N9: dnsmasq on UDP 67 and DNS 53 (UDP and TCP) at the port IP, the metadata proxy on TCP 80 at
    169.254.169.254, inside ``qdhcp-<net>``."""
    namespace = names.qdhcp(network.id)
    with Check("dnsmasq answers DHCP and DNS, the metadata proxy listens on 169.254.169.254:80",
               Where(port=port, network=network, namespace=namespace, node=node.name)) as c:
        found = node.sockets(namespace)
        ip = names.fixed_ip_on(port, subnet)
        for netid, number, address, who in (("udp", 67, None, "dnsmasq (DHCP)"), ("udp", 53, ip, "dnsmasq (DNS)"),
                                            ("tcp", 53, ip, "dnsmasq (DNS)"),
                                            ("tcp", 80, names.METADATA_IP, "metadata proxy")):
            at = f"{address}:{number}" if address else f"port {number}"
            c.require(sockets.listening(found, netid, number, address),
                      f"{netid.upper()} {at}: expected {who} listening, actual nothing")


def dnsmasq_command(c: Check, node: NodeFacts, network) -> dnsmasq.DnsmasqCommand:
    running = node.dnsmasq_of(network.id)
    if len(running) != 1:
        hint = "" if running else node.deployment_hint()
        c.fail(f"dnsmasq processes for {node.path(names.dhcp_dir(network.id))}/: expected 1, actual {len(running)}"
               + (f" (pids {', '.join(str(p.pid) for p in running)})" if running else "")
               + (f"; {hint}" if hint else ""))
    return node.dnsmasq_command(running[0])


def check_dnsmasq(node: NodeFacts, network, subnets, domain: Optional[str]) -> None:
    """N10: one dnsmasq for the network, its files under ``/var/lib/neutron/dhcp/<net>/``, a ``--dhcp-range`` for
    each DHCP subnet, ``--dhcp-option-force=option:mtu,<network MTU>``, ``--domain=<dns domain>`` (the state
    directory as the node's deployment names it: ``/var/lib/neutron/kolla/dhcp/<net>/`` on kolla-ansible)."""
    directory = node.path(names.dhcp_dir(network.id))
    with Check("one dnsmasq serves the network with its files, ranges, MTU and domain",
               Where(network=network, node=node.name)) as c:
        command = dnsmasq_command(c, node, network)
        for option, leaf in (("dhcp-hostsfile", "host"), ("addn-hosts", "addn_hosts"),
                             ("dhcp-optsfile", "opts"), ("dhcp-leasefile", "leases")):
            c.expect(f"--{option}", f"{directory}/{leaf}", _single(command, option))
        ranges = {r.tag: r for r in command.dhcp_ranges}
        for subnet in subnets:
            if not subnet.is_dhcp_enabled or subnet.ip_version != 4:
                continue
            tag = f"subnet-{subnet.id}"
            rng = ranges.get(tag)
            if c.require(rng is not None, f"--dhcp-range for {tag} ({subnet.cidr}): expected, actual "
                                          f"{', '.join(sorted(str(t) for t in ranges)) or 'none'}"):
                c.expect(f"--dhcp-range {tag} network", ipaddress.ip_network(subnet.cidr), rng.network,
                         "subnet CIDR")
        c.expect("--dhcp-option-force=option:mtu", network.mtu, command.mtu, "network MTU")
        if domain:
            c.expect("--domain", domain, _single(command, "domain"), "the DNS domain in the ports' dns_assignment")
        else:  # the API shows no DNS domain (no dns-integration): dnsmasq must still serve one
            c.require(_single(command, "domain"), "--domain: expected a DNS domain, actual none given")


def check_mtu_everywhere(node: NodeFacts, network) -> None:
    """N10: every MTU dnsmasq tells the network's guests is the network MTU: each MTU option of its command line
    (``--dhcp-option-force=option:mtu,<n>``) and each of the ``opts`` file (``option:mtu`` or option 26, whatever
    its tag: a subnet's tag wins over the command line's untagged option)."""
    files = node.dnsmasq(network)
    path = files.path("opts")
    with Check("every MTU dnsmasq gives the network's guests is the network MTU",
               Where(network=network, node=node.name)) as c:
        told = dnsmasq_command(c, node, network).mtu_options
        c.require(told, f"dnsmasq command line: expected --dhcp-option-force=option:mtu,{network.mtu}, actual no "
                        f"MTU option")
        opts = files.opts
        if opts is None:
            c.fail(f"{path}: expected, actual absent")
        told += [(f"{path} line {line}", mtu) for line, mtu in dnsmasq.mtu_options(opts)]
        for where, mtu in told:
            c.expect(f"{where}: MTU", network.mtu, mtu, "network MTU")


def _single(command: dnsmasq.DnsmasqCommand, option: str):
    values = command.all(option)
    return values[0] if len(values) == 1 else (values or None)


def check_interface_file(node: NodeFacts, network, port, driver: str) -> None:
    """N11: ``/var/lib/neutron/dhcp/<net>/interface`` names the DHCP device."""
    files = node.dnsmasq(network)
    path = files.path("interface")
    with Check("the DHCP interface file names the DHCP device", Where(port=port, network=network, node=node.name)) as c:
        device = files.interface
        if device is None:
            c.fail(f"{path}: expected, actual absent")
        c.expect(path, names.dhcp_device(port.id, driver), device)


def check_subnet_served(node: NodeFacts, network, subnet, port) -> None:
    """N3 (data plane): dnsmasq serves the subnet as the API describes it: DHCP enabled, its range is the CIDR,
    the router option is the gateway, the DNS servers are the subnet's (dnsmasq itself when it has none)."""
    files = node.dnsmasq(network)
    with Check("dnsmasq serves the subnet's CIDR, gateway and DNS servers",
               Where(network=network, node=node.name)) as c:
        c.expect("enable_dhcp", True, subnet.is_dhcp_enabled, "subnet")
        command = dnsmasq_command(c, node, network)
        tag = f"subnet-{subnet.id}"
        rng = next((r for r in command.dhcp_ranges if r.tag == tag), None)
        c.expect(f"--dhcp-range {tag} network", ipaddress.ip_network(subnet.cidr), rng.network if rng else None,
                 "subnet CIDR")
        opts = files.opts
        if opts is None:
            c.fail(f"{files.path('opts')}: expected, actual absent")
        options = [o for o in opts if f"tag:{tag}" in o.tags]
        by_name = {o.option: o.values for o in options}
        gateway = (subnet.gateway_ip,) if subnet.gateway_ip else None
        c.expect(f"opts {tag} router", gateway, by_name.get("router"), "subnet gateway")
        servers = tuple(subnet.dns_nameservers or ())
        if servers:
            c.expect(f"opts {tag} dns-server", servers, by_name.get("dns-server"), "subnet dns_nameservers")
        else:  # no servers on the subnet: dnsmasq offers itself (implicitly, or by naming the DHCP port's IP)
            itself = {names.fixed_ip_on(port, subnet)}
            offered = by_name.get("dns-server")
            c.require(offered is None or set(offered) <= itself,
                      f"opts {tag} dns-server: expected none or the DHCP port's own {names.fixed_ip_on(port, subnet)} "
                      f"(the subnet has no dns_nameservers), actual {', '.join(offered or ())}")


# --- an instance's entries (I2-I4) ---------------------------------------------------------------------------

def expected_names(c: Check, node: NodeFacts, network, port, domain: Optional[str]):
    """(fqdn, hostname) the DHCP files must give the port: from the API (the port's ``dns_assignment``, else
    ``host-a-b-c-d`` in the API's DNS domain); when the API shows no domain at all (no dns-integration), in the
    domain the network's dnsmasq serves (its ``--domain``). Without either the name is unknown: that fails ``c``
    naming why, rather than expecting a name without its domain."""
    if not domain and not getattr(port, "dns_assignment", None):
        running = node.dnsmasq_of(network.id)
        if len(running) != 1:
            c.fail(f"the DNS domain of the port's name is unknown: the API shows no dns_assignment and "
                   f"{len(running)} dnsmasq processes serve network {network.id} (expected 1, whose --domain "
                   f"gives it)")
        domain = node.dnsmasq_command(running[0]).get("domain")
    return names.dns_names(port, domain)


def check_host_entry(node: NodeFacts, network, port, domain: Optional[str]) -> None:
    """I2: dnsmasq ``host`` holds ``<mac>,host-<a-b-c-d>.<domain>,<ip>`` for the port."""
    files = node.dnsmasq(network)
    path = files.path("host")
    ip = names.ipv4_fixed_ips(port)[0][0]
    with Check("dnsmasq's host file holds the port's MAC, name and IP", Where(port=port, network=network,
                                                                             node=node.name)) as c:
        fqdn, _ = expected_names(c, node, network, port, domain)
        entries = files.hosts
        mac = port.mac_address.lower()
        expected = f"{mac},{fqdn},{ip}"
        actual = [f"{e.mac},{e.hostname},{e.ip}" for e in entries if e.ip == ip]
        elsewhere = [f"{e.mac},{e.hostname},{e.ip}" for e in entries if e.mac == mac and e.ip != ip]
        shown = " | ".join(actual) if actual else "no line"
        if elsewhere:
            shown += f" (the port's MAC is on {' | '.join(repr(line) for line in elsewhere)})"
        c.require(actual == [expected] and not elsewhere, f"{path} line for {ip}: expected {expected!r}, actual "
                                                          f"{shown}")


def check_addn_hosts_entry(node: NodeFacts, network, port, domain: Optional[str]) -> None:
    """I3: dnsmasq ``addn_hosts`` holds ``<ip>\\thost-<a-b-c-d>.<domain> host-<a-b-c-d>``."""
    files = node.dnsmasq(network)
    path = files.path("addn_hosts")
    ip = names.ipv4_fixed_ips(port)[0][0]
    with Check("dnsmasq's addn_hosts names the port's IP", Where(port=port, network=network, node=node.name)) as c:
        fqdn, host = expected_names(c, node, network, port, domain)
        mine = [a for a in files.addn_hosts if a.ip == ip]
        expected = (fqdn, host) if fqdn != host else (host,)
        actual = [a.names for a in mine]
        c.require(actual == [expected], f"{path} line for {ip}: expected {ip} {' '.join(expected)}, actual "
                                        f"{' | '.join(' '.join(n) for n in actual) if actual else 'no line'}")


def check_lease(node: NodeFacts, network, port, timeout: float = 0) -> None:
    """I4: dnsmasq ``leases`` holds the port's MAC and IP once the guest asked (waits up to ``timeout``)."""
    files = node.dnsmasq(network)
    path = files.path("leases")
    ip = names.ipv4_fixed_ips(port)[0][0]
    mac = port.mac_address.lower()

    def probe():
        with Check("dnsmasq leased the port's IP to its MAC", Where(port=port, network=network, node=node.name)) as c:
            leases = files.leases
            macs = sorted({lease.mac for lease in leases if lease.ip == ip})
            c.require(macs == [mac], f"{path} lease of {ip}: expected to {mac}, actual "
                                     f"{', '.join(macs) if macs else 'no lease'}")
    wait_until(probe, timeout)
