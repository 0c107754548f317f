"""What the cloud under test is made of, found through its API (never configured by hand).

- mechanism drivers: from the network agents' types and binaries, and the ``binding:vif_type`` of bound ports;
- type drivers (the network types in use): from the networks' ``provider:network_type`` and the extension list;
- firewall driver: from the bound ports' ``binding:vif_details`` (``port_filter``, ``ovs_hybrid_plug``) and the agents;
- DNS domain: from a port's ``dns_assignment`` (``host-10-0-0-2.openstacklocal.`` -> ``openstacklocal``);
- which agents run where: agent type -> hosts, and the hypervisors (compute nodes) with their IPs.

Agents, bindings and hypervisors need admin rights: without an admin cloud those fields stay empty and
``admin`` is False, so the checks that need them skip with a reason instead of guessing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Set, Tuple

# neutron agent type / binary -> ML2 mechanism driver
AGENT_DRIVERS = {
    "Linux bridge agent": "linuxbridge",
    "neutron-linuxbridge-agent": "linuxbridge",
    "Open vSwitch agent": "openvswitch",
    "neutron-openvswitch-agent": "openvswitch",
    "OVN Controller agent": "ovn",
    "OVN Controller Gateway agent": "ovn",
    "ovn-controller": "ovn",
    "OVN Metadata agent": "ovn",
    "neutron-ovn-metadata-agent": "ovn",
    "NIC Switch agent": "sriovnicswitch",
    "neutron-sriov-nic-agent": "sriovnicswitch",
    "Macvtap agent": "macvtap",
    "neutron-macvtap-agent": "macvtap",
}
# binding:vif_type -> mechanism driver (ovs is shared by openvswitch and ovn: agents decide)
VIF_DRIVERS = {"bridge": "linuxbridge", "ovs": "openvswitch", "vhostuser": "openvswitch", "hw_veb": "sriovnicswitch",
               "macvtap": "macvtap"}
# the ML2 drivers the suites judge a cloud by, in order of precedence (a cloud may show several)
JUDGED_DRIVERS = ("ovn", "openvswitch", "linuxbridge")
DHCP_AGENT_DRIVERS = {"linuxbridge", "openvswitch"}  # neutron's DHCP agent (dnsmasq in qdhcp- namespaces)
IPTABLES_FIREWALLS = ("iptables", "iptables_hybrid")
DRIVER_MARKERS = ("linuxbridge", "openvswitch", "ovn")
DHCP_AGENT = "DHCP agent"
L3_AGENT = "L3 agent"
METADATA_AGENTS = ("Metadata agent", "OVN Metadata agent")


@dataclass
class Agent:
    id: str
    type: str
    binary: str
    host: str
    alive: bool
    admin_up: bool
    configurations: dict = field(default_factory=dict)


@dataclass
class Capabilities:
    """The cloud's makeup as discovered; empty fields mean 'not discoverable with these credentials'."""

    admin: bool = False
    extensions: Set[str] = field(default_factory=set)
    mechanism_drivers: Set[str] = field(default_factory=set)
    type_drivers: Set[str] = field(default_factory=set)
    firewall_driver: Optional[str] = None
    dns_domain: Optional[str] = None
    agents: List[Agent] = field(default_factory=list)
    hypervisors: Dict[str, Optional[str]] = field(default_factory=dict)  # hypervisor hostname -> host_ip
    driver_note: Optional[str] = None  # where the drivers came from when not (only) from discovery

    def hosts(self, agent_type: str) -> List[str]:
        """Hosts running an agent of this type (e.g. ``"DHCP agent"``), sorted."""
        return sorted({a.host for a in self.agents if a.type == agent_type})

    @property
    def agents_by_host(self) -> Dict[str, List[str]]:
        where: Dict[str, List[str]] = {}
        for a in self.agents:
            where.setdefault(a.host, []).append(a.type)
        return {h: sorted(t) for h, t in sorted(where.items())}

    @property
    def dhcp_hosts(self) -> List[str]:
        return self.hosts(DHCP_AGENT)

    @property
    def l3_hosts(self) -> List[str]:
        return self.hosts(L3_AGENT)

    @property
    def compute_hosts(self) -> List[str]:
        return sorted(self.hypervisors)

    def has_driver(self, name: str) -> bool:
        return name in self.mechanism_drivers

    @property
    def driver(self) -> Optional[str]:
        """The ML2 driver the checks judge by: ovn, openvswitch or linuxbridge, in that order of precedence (None:
        none of them shows)."""
        return next((d for d in JUDGED_DRIVERS if d in self.mechanism_drivers), None)

    @property
    def has_dhcp_agent(self) -> bool:
        return bool(self.mechanism_drivers & DHCP_AGENT_DRIVERS)

    @property
    def iptables_firewall(self) -> bool:
        return self.firewall_driver in IPTABLES_FIREWALLS

    def summary(self) -> str:
        """One line for the report header."""
        def join(values):
            return ",".join(sorted(values)) or "?"
        return (f"mechanism drivers {join(self.mechanism_drivers)}; network types {join(self.type_drivers)}; "
                f"firewall {self.firewall_driver or '?'}; dns domain {self.dns_domain or '?'}; "
                f"{len(self.agents)} agents on {len(self.agents_by_host)} hosts; "
                f"{len(self.hypervisors)} hypervisors{'' if self.admin else ' (no admin rights: partial)'}"
                + (f"; {self.driver_note}" if self.driver_note else ""))


def drivers_from_agents(agents: List[Agent]) -> Set[str]:
    found = set()
    for a in agents:
        driver = AGENT_DRIVERS.get(a.type) or AGENT_DRIVERS.get(a.binary)
        if driver:
            found.add(driver)
    return found


def decide_drivers(agents: List[Agent], declared: Optional[str]) -> Tuple[Set[str], Optional[str]]:
    """(mechanism drivers, note): the drivers of the alive agents (a dead one, such as an Open vSwitch agent left
    behind by a move to OVN, decides nothing); ``declared`` (clouds.yaml ``oslab: {driver: ...}``) stands in when
    there are none (no admin rights), and a disagreement with discovery is noted, never silently taken."""
    found = drivers_from_agents([a for a in agents if a.alive])
    if declared and not found:
        return {declared}, f"ML2/{declared} as clouds.yaml says (oslab.driver): not discoverable with these credentials"
    if declared and declared not in found:
        return found, f"clouds.yaml says ML2/{declared} (oslab.driver) but the alive agents are {', '.join(sorted(found))}"
    return found, None


def firewall_from_vif_details(driver_set: Set[str], vif_details: dict) -> Optional[str]:
    """The firewall driver a bound port's ``binding:vif_details`` reveals, given the mechanism drivers."""
    if not vif_details:
        return None
    if "ovn" in driver_set:
        return "ovn"
    if not vif_details.get("port_filter", False):
        return "noop"
    if "linuxbridge" in driver_set:
        return "iptables"
    if "openvswitch" in driver_set:
        return "iptables_hybrid" if vif_details.get("ovs_hybrid_plug") else "openvswitch"
    return None


def dns_domain_from_assignment(assignments) -> Optional[str]:
    for a in assignments or []:
        host, fqdn = a.get("hostname"), (a.get("fqdn") or "").rstrip(".")
        if host and fqdn.startswith(host + "."):
            return fqdn[len(host) + 1:]
    return None


def discover(conn, admin_conn=None, declared_driver: Optional[str] = None) -> Capabilities:
    """Read the cloud's makeup through the API; admin-only parts only with ``admin_conn``; ``declared_driver``
    (clouds.yaml ``oslab.driver``) as ``decide_drivers`` says."""
    caps = Capabilities(admin=admin_conn is not None)
    api = admin_conn or conn
    caps.extensions = {e.alias for e in api.network.extensions()}
    networks = list(api.network.networks())
    caps.type_drivers = {n.provider_network_type for n in networks if n.provider_network_type}
    if admin_conn is not None:
        caps.agents = [Agent(a.id, a.agent_type, a.binary, a.host, bool(a.is_alive), bool(a.is_admin_state_up),
                             dict(a.configuration or {})) for a in admin_conn.network.agents()]
        caps.mechanism_drivers, caps.driver_note = decide_drivers(caps.agents, declared_driver)
        for h in admin_conn.compute.hypervisors(details=True):
            caps.hypervisors[h.name] = getattr(h, "host_ip", None)
        for a in caps.agents:  # tunnel types an L2 agent announces are type drivers too
            caps.type_drivers.update(a.configurations.get("tunnel_types") or [])
    for port in api.network.ports(device_owner="network:dhcp"):
        vif_type = getattr(port, "binding_vif_type", None)
        if vif_type in VIF_DRIVERS and not caps.mechanism_drivers & {"ovn", VIF_DRIVERS[vif_type]}:
            caps.mechanism_drivers.add(VIF_DRIVERS[vif_type])
        if caps.firewall_driver is None:
            caps.firewall_driver = firewall_from_vif_details(caps.mechanism_drivers,
                                                             getattr(port, "binding_vif_details", None) or {})
        if caps.dns_domain is None:
            caps.dns_domain = dns_domain_from_assignment(getattr(port, "dns_assignment", None))
        if caps.firewall_driver and caps.dns_domain:
            break
    if admin_conn is None and declared_driver:
        caps.mechanism_drivers, caps.driver_note = decide_drivers([], declared_driver)
    if caps.firewall_driver is None and "ovn" in caps.mechanism_drivers:
        caps.firewall_driver = "ovn"
    return caps


def skip_reason(marks: Mapping[str, Mapping], caps: Capabilities) -> Optional[str]:
    """Why a test with these marks does not apply to a cloud of these capabilities (None: it applies). ``marks``
    maps a mark's name to its keyword arguments: the driver marks (linuxbridge, openvswitch, ovn), dhcp_agent,
    iptables_firewall, ovs_firewall, multinode (two compute nodes or more), and requires(driver=, extension=,
    network_type=, firewall=); ``judged_driver`` (no mark: what the suites' ``driver`` fixture needs) asks for any
    driver the checks judge by (``Capabilities.driver``)."""
    drivers = caps.mechanism_drivers
    if not drivers and any(name in marks for name in DRIVER_MARKERS + ("dhcp_agent", "iptables_firewall",
                                                                        "ovs_firewall")):
        return ("needs admin credentials to tell the ML2 driver (--admin-cloud), or say it in clouds.yaml: "
                "oslab: {driver: NAME}")
    if "judged_driver" in marks and caps.driver is None:
        return (f"needs ML2/{', '.join(DRIVER_MARKERS[:-1])} or {DRIVER_MARKERS[-1]}; this cloud runs "
                f"{', '.join(sorted(drivers)) or 'no driver the API shows (admin rights?)'}")
    for name in DRIVER_MARKERS:
        if name in marks and name not in drivers:
            return f"needs ML2/{name}; this cloud runs {', '.join(sorted(drivers)) or '?'}"
    if "dhcp_agent" in marks and not caps.has_dhcp_agent:
        return (f"needs neutron's DHCP agent (ML2/linuxbridge or openvswitch); this cloud runs ML2/"
                f"{', '.join(sorted(drivers)) or '?'}")
    if "iptables_firewall" in marks and not caps.iptables_firewall:
        return (f"needs the iptables firewall (ML2/linuxbridge, or openvswitch with iptables_hybrid); this cloud's "
                f"ports use the {caps.firewall_driver or 'unknown'} firewall")
    if "ovs_firewall" in marks and caps.firewall_driver != "openvswitch":
        return (f"needs Open vSwitch's native firewall (ML2/openvswitch, firewall_driver openvswitch); this "
                f"cloud's ports use the {caps.firewall_driver or 'unknown'} firewall")
    if "multinode" in marks and len(caps.compute_hosts) < 2:
        if not caps.hypervisors:
            return "needs admin credentials to count the compute nodes (facts between nodes)"
        return (f"needs two compute nodes or more (facts between nodes); this cloud has one: "
                f"{', '.join(caps.compute_hosts)}")
    needs = marks.get("requires") or {}
    for key, have in (("driver", drivers), ("extension", caps.extensions), ("network_type", caps.type_drivers),
                      ("firewall", {caps.firewall_driver})):
        want = needs.get(key)
        for value in ([want] if isinstance(want, str) else want or []):
            if value not in have:
                return (f"needs {key.replace('_', ' ')} {value}; this cloud has "
                        f"{', '.join(sorted(h for h in have if h)) or 'none'}")
    return None
