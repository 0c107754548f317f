"""Facts: plain parsers that turn node and guest command output into data (no I/O, no OpenStack calls).

One module per source; each public ``parse_*`` function takes the command's output as ``str`` (``bytes`` where
the source is binary, like ``/proc/<pid>/cmdline``) and returns dataclasses. Malformed output raises
``ParseError`` (a ``ValueError``) that names the command and the text it could not read.

    iproute      ip -j link/addr/route, ip netns; text ip addr/link/route (guests)   -> Link, Address, Route
    iptables     iptables-save, iptables -S, iptables -L                             -> Ruleset, Chain, Rule
    libvirt      virsh dumpxml / <interface> fragments, virsh list, domiflist       -> Domain, Interface
    dnsmasq      neutron's host, addn_hosts, leases, opts, interface; the command line
    ovs          ovs-vsctl --format=json list <Table>, ovs-vsctl show               -> Bridge, Port, Interface
    ovn          ovn-nbctl / ovn-sbctl --format=json list                           -> LogicalSwitchPort, ...
    sockets      ss -Htulpn                                                         -> Socket
    processes    ps -eo pid,args / ps -ef, /proc/<pid>/cmdline                      -> Process
    bridge       bridge -j link show, brctl show                                    -> BridgePort, BrctlBridge
    neigh        ip -j neigh, arp -n, arping                                        -> Neighbour, Arping
    nova_status  nova-status upgrade check                                          -> UpgradeCheck
"""
from ._parse import ParseError

__all__ = ["ParseError"]
