"""What the suites share: fact markers and their per-fact count, the driver and firewall, the servers the run boots
(all at once, on first use, only the ones the collected tests need), nodes seen through the facts parsers, and
guests reached with D1 triage attached when they cannot be.

Markers (filter with ``-m``; registered by the plugin, so ``pytest --markers`` lists them anywhere):
    fact(ID)        the documented fact a check proves (C1..D1, X1..X7 of documented-facts.md); counted at the end
    multinode       needs two compute nodes or more (the facts between nodes, X1..X7)
    dhcp_agent      needs neutron's DHCP agent (dnsmasq in qdhcp- namespaces): ML2/Linux bridge or Open vSwitch
    iptables_firewall  needs the iptables firewall (Linux bridge, or OVS with the hybrid iptables driver)
    ovs_firewall    needs Open vSwitch's native firewall (OpenFlow rules in br-int)
and the plugin's own: linuxbridge, openvswitch, ovn, admin, requires(...). A test the cloud does not meet them for is
skipped before its fixtures run (``pytest_oslab.applicability``).
"""
from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict
from typing import Dict, List, NamedTuple, Optional

import pytest

from pytest_oslab import applicability, evidence
from pytest_oslab.booted import Booted, Net, admin_view, read_booted
from pytest_oslab.checks import core, guests, triage
from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.cloud.capabilities import skip_reason
from pytest_oslab.facts import neigh
from pytest_oslab.outcomes import outcome
from pytest_oslab.provision.resources import attach_refusal
from pytest_oslab.provision.servers import ServerFactory, ServerSpec
from pytest_oslab.stash import NO_CLOUD

FACT_IDS = (["C1", "C2", "C3", "C4"] + [f"N{i}" for i in range(1, 14)] + [f"I{i}" for i in range(1, 11)]
            + [f"S{i}" for i in range(1, 6)] + ["G1", "G2", "G3"] + [f"H{i}" for i in range(1, 7)] + ["D1"]
            + [f"X{i}" for i in range(1, 8)])
_COUNTS: Dict[str, dict] = {}  # this run's outcomes per fact: {"outcomes": {fact: Counter}, "seen": {nodeid: outcome}}


# --- markers and the per-fact count --------------------------------------------------------------------------

def pytest_configure(config):
    _COUNTS.clear()
    _COUNTS.update({"outcomes": defaultdict(Counter), "seen": {}})


def fact_ids(item) -> List[str]:
    ids = []
    for mark in item.iter_markers("fact"):
        ids.extend(mark.args)
    return ids


def pytest_collection_modifyitems(config, items):
    for item in items:
        ids = fact_ids(item)
        unknown = [i for i in ids if i not in FACT_IDS]
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown fact id(s) {', '.join(unknown)}")
        for fid in ids:
            item.user_properties.append(("fact", fid))  # travels with the reports (xdist, JUnit properties)


def pytest_runtest_logreport(report):
    facts = [v for k, v in report.user_properties if k == "fact"]
    if not facts:
        return
    state = _COUNTS
    if not state:
        return
    result = None
    if report.when == "setup" and not report.passed:
        result = "skipped" if report.skipped else "failed"
    elif report.when == "call":
        result = "skipped" if report.skipped else ("passed" if report.passed else "failed")
    elif report.when == "teardown" and report.failed and state["seen"].get(report.nodeid) == "passed":
        result = "failed"
    if result is None:
        return
    previous = state["seen"].get(report.nodeid)
    for fid in facts:
        if previous:
            state["outcomes"][fid][previous] -= 1
        state["outcomes"][fid][result] += 1
    state["seen"][report.nodeid] = result


def pytest_terminal_summary(terminalreporter, config):
    state = _COUNTS
    if not state or not state["outcomes"]:
        return
    tr = terminalreporter
    tr.section("oslab: checks per documented fact")
    tr.write_line(f"{'fact':<6}{'run':>5}{'passed':>8}{'failed':>8}{'skipped':>9}")
    totals = Counter()
    for fid in FACT_IDS:
        counts = state["outcomes"].get(fid)
        if not counts:
            continue
        run = counts["passed"] + counts["failed"]
        totals.update({"run": run, **counts})
        tr.write_line(f"{fid:<6}{run:>5}{counts['passed']:>8}{counts['failed']:>8}{counts['skipped']:>9}")
    tr.write_line(f"{'all':<6}{totals['run']:>5}{totals['passed']:>8}{totals['failed']:>8}{totals['skipped']:>9}")
    missing = [fid for fid in FACT_IDS if not state["outcomes"].get(fid)]
    if missing:
        tr.write_line(f"facts with no check in this run: {', '.join(missing)}")


# --- applicability -------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def driver(capabilities) -> str:
    """The ML2 mechanism driver the suite judges by: ovn, openvswitch or linuxbridge (in that order of precedence)."""
    reason = skip_reason({"judged_driver": {}}, capabilities)
    if reason:
        pytest.skip(reason)
    return capabilities.driver


@pytest.fixture(scope="session")
def firewall(capabilities) -> Optional[str]:
    """The firewall driver the ports' bindings show: iptables, iptables_hybrid, openvswitch, ovn, noop."""
    return capabilities.firewall_driver


# --- networks as the suite uses them -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def provider(admin_cloud, provider_network, provider_subnet) -> Net:
    """The cloud's flat provider network (never created: found), seen with admin rights."""
    with outcome("reading the provider network"):
        net = admin_view(admin_cloud, provider_network, provider_subnet)
    net.role = "provider"
    return net


@pytest.fixture(scope="session")
def selfservice(admin_cloud, selfservice_network, selfservice_subnet, router) -> Net:
    """The run's own self-service network (vxlan on the reference lab), its subnet behind the run's router."""
    def dhcp_ready():
        net = admin_view(admin_cloud, selfservice_network, selfservice_subnet)
        with core.Check("the new self-service network's DHCP port is bound and ACTIVE", core.Where(network=net.network)) as c:
            c.require(net.dhcp_ports and all(p.status == "ACTIVE" for p in net.dhcp_ports) or
                      not selfservice_subnet.is_dhcp_enabled,
                      f"DHCP ports: {', '.join(f'{p.id[:8]} {p.status}' for p in net.dhcp_ports) or 'none yet'}")
        return net
    with outcome("reading the self-service network"):
        try:
            net = core.wait_until(dhcp_ready, 60, 1)
        except core.CheckFailed:  # the checks will say what is wrong
            net = admin_view(admin_cloud, selfservice_network, selfservice_subnet)
    net.role = "selfservice"
    return net


@pytest.fixture(scope="session", params=["provider", "selfservice"])
def net(request) -> Net:
    """Each network the suite checks: the provider network and the run's self-service network."""
    return request.getfixturevalue(request.param)


# --- DHCP nodes (a node of a server is the plugin's node_facts) ----------------------------------------------

class Served(NamedTuple):
    """A node whose DHCP agent serves a network, and the network's DHCP port bound there (None: none is)."""

    node: NodeFacts
    port: object


@pytest.fixture(scope="session")
def dhcp_facts(oslab):
    """``dhcp_facts(net: Net) -> [Served(node, port)]``: each node whose DHCP agent serves the network (NodeFacts),
    with the DHCP port bound there."""
    def facts(net: Net) -> List[Served]:
        with outcome("finding the DHCP nodes"):
            nodes = oslab.dhcp_node_list(net.network)
            out = [Served(oslab.facts_of(n), net.dhcp_port_on(n.name)) for n in nodes]
        if not out:
            pytest.fail(f"no DHCP agent serves network {net.network.name} ({net.network.id})", pytrace=False)
        return out
    return facts


# --- the servers the run boots -------------------------------------------------------------------------------

# role -> (network role, count); a test asks for a role by fixture name, the fleet boots every role asked for
ROLES = OrderedDict([
    ("server_a", ("selfservice", 1)),
    ("server_b", ("selfservice", 1)),
    ("provider_server", ("provider", 1)),
    ("hotplug_servers", ("selfservice", 2)),
    ("guarded_server", ("selfservice", 1)),
    ("mover", ("selfservice", 1)),
])


def _wanted_roles(session, oslab=None) -> List[str]:
    """The roles the collected tests use, directly or through the parametrized ``instance`` fixture; tests that do
    not apply to the cloud (of the run's session ``oslab``) need none."""
    wanted = set()
    for item in session.items:
        if oslab is not None and applicability.skip_of(item, oslab, oslab.capabilities):
            continue
        names = set(getattr(item, "fixturenames", ()))
        used = names & set(ROLES) | ({"server_a", "server_b"} if "far_servers" in names else set())
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "instance" in params:
            used.add(params["instance"])
        wanted |= used
    return [r for r in ROLES if r in wanted]


def failed_roles(owners: List[str], servers: List[object], failures: Dict[str, str]) -> Dict[str, List[str]]:
    """The roles with a server that failed to boot, each with its failed servers' lines (``owners[i]`` owns
    ``servers[i]``; ``failures`` maps a failed server's id to its line)."""
    found: Dict[str, List[str]] = {}
    for role, server in zip(owners, servers):
        if server.id in failures:
            found.setdefault(role, []).append(failures[server.id])
    return found


class Fleet:
    """Every server the collected tests ask for, created together when the suites' first test starts (the cloud
    boots them while the tests that need none run) and waited for the first time any of them is needed."""

    def __init__(self, request, oslab):
        self.request = request
        self.oslab = oslab
        self.booted: Dict[str, List[Booted]] = {}
        self.failed: Dict[str, str] = {}
        self.skipped: Dict[str, str] = {}  # a role whose boot could not be tried here, with the reason
        self.failed_logs: Dict[str, List[tuple]] = {}  # a failed role's nova-compute log excerpts
        self.stack = oslab.new_stack()
        self.guarded_group = None
        self.far_group = None
        self.spread_group = None
        self.started = None  # (factory, roles, owners, networks by role, what the factory started)

    def wanted(self, role: Optional[str] = None) -> List[str]:
        """The roles the run needs (``role`` too when given) and has not tried yet."""
        roles = [r for r in _wanted_roles(self.request.session, self.oslab) if self.untried(r)]
        return roles if role is None or role in roles or not self.untried(role) else roles + [role]

    def untried(self, role: str) -> bool:
        started = self.started[1] if self.started else ()
        return not (role in self.booted or role in self.failed or role in self.skipped or role in started)

    def get(self, role: str) -> List[Booted]:
        """The servers of ``role``; the first call waits for every server started (starting them if need be). A
        role whose server failed to boot fails each call for it with that server's line (no second attempt); the
        other roles are unaffected."""
        if self.untried(role):
            self.settle()  # what was started before for other roles
            self.start(self.wanted(role))
        self.settle()
        if role in self.skipped:
            pytest.skip(self.skipped[role])
        if role in self.failed:
            for title, text in self.failed_logs.get(role, []):
                evidence.attach(title, text)
            pytest.fail(self.failed[role], pytrace=False)
        return self.booted[role]

    def start(self, roles: List[str]) -> None:
        """Create the servers of ``roles`` (and what they need: networks, image, keypair...); a failure is kept
        for the roles' tests, each told it when it asks."""
        if not roles:
            return
        try:
            self.started = self._create(roles)
        except pytest.fail.Exception as failure:  # no server was booted (a network or key could not be made)
            self.failed.update({r: str(failure) for r in roles})
        except pytest.skip.Exception as skip:  # something the servers need is not there (no provider network)
            self.skipped.update({r: str(skip) for r in roles})

    def _create(self, roles: List[str]):
        rq = self.request
        nets = {r: rq.getfixturevalue(ROLES[r][0]) for r in roles}
        image, flavor = rq.getfixturevalue("image"), rq.getfixturevalue("flavor")
        keypair, group = rq.getfixturevalue("keypair"), rq.getfixturevalue("security_group")
        specs, owners = [], []
        project = self.oslab.cloud.current_project_id
        with outcome("booting the suite's servers"):
            for role in roles:
                refusal = attach_refusal(nets[role].network, project)
                if refusal:  # booting there would be refused (403): not this cloud's fault, not this user's place
                    self.skipped[role] = f"{refusal}; a {role.replace('_', ' ')} needs a network it may use"
                    continue
                groups, placement = None, None
                if role in ("server_a", "server_b"):  # on two different computes when the cloud has several
                    placement = self.apart()
                if role == "guarded_server":
                    # its own group: SSH only, so that S5 can add and remove ICMP without touching other servers
                    self.guarded_group = self.oslab.provisioner.security_group(self.stack, "guarded-sg",
                                                                               rules=(("tcp", 22),))
                    groups = [self.guarded_group]
                for i in range(ROLES[role][1]):
                    specs.append(ServerSpec(network=nets[role].network, name=f"{role}-{i + 1}" if ROLES[role][1] > 1
                                            else role, security_groups=groups, group=placement or self.spread()))
                    owners.append(role)
            factory = ServerFactory(self.oslab.cloud, self.oslab.naming, image, flavor, keypair.name, [group],
                                    self.oslab.settings.timeout, progress=self.oslab.progress, poll=1.0)
            return factory, roles, owners, nets, factory.start(self.stack, specs)

    def settle(self) -> None:
        """Wait for the servers started, if any: each role booted or failed with its servers' lines."""
        if self.started is None:
            return
        factory, roles, owners, nets, started = self.started
        try:
            admin = self.request.getfixturevalue("admin_cloud")
            with outcome("booting the suite's servers"):
                servers, failures = factory.settle(started)
                for role, lines in failed_roles(owners, servers, failures).items():
                    self.failed[role] = "oslab: " + "; ".join(lines)
                for role, server in zip(owners, servers):
                    if role in self.failed:
                        if server.id in failures:
                            self.failed_logs.setdefault(role, []).extend(self.oslab.compute_logs(server))
                        continue
                    self.booted.setdefault(role, []).append(read_booted(admin, server, nets[role], role))
        except pytest.fail.Exception as failure:
            self.failed.update({r: str(failure) for r in roles if r not in self.booted})
        except pytest.skip.Exception as skip:
            self.skipped.update({r: str(skip) for r in roles if r not in self.booted})
        finally:
            self.started = None

    def apart(self):
        """The anti-affinity server group of ``server_a`` and ``server_b`` when the cloud has several computes (made
        once): a hard rule, so that they are the pair on two different computes (``far_servers``); None on one."""
        return self._group_once("far_group", "far", "anti-affinity")

    def spread(self):
        """The fleet's soft-anti-affinity server group when the cloud has several computes (made once), so that its
        servers land on as many of them as there are; None on one compute."""
        return self._group_once("spread_group", "fleet-spread")

    def _group_once(self, attribute: str, name: str, *policy: str):
        """The server group kept in ``attribute``, made the first time it is asked for on a cloud of several
        computes; None on one."""
        if getattr(self, attribute) is None and len(self.oslab.capabilities.compute_hosts) > 1:
            setattr(self, attribute, self.oslab.provisioner.server_group(self.stack, name, *policy))
        return getattr(self, attribute)

    def close(self) -> List[str]:
        return self.stack.close()


@pytest.fixture(scope="session")
def fleet(request, oslab):
    """The servers of the run (see ROLES), deleted at the end of the session."""
    fleet = Fleet(request, oslab)
    yield fleet
    problems = fleet.close()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _servers_boot_from_the_start(request):
    """The servers the run needs are created when the suites' first test starts, not when the first test that
    uses one does: they boot while the tests that need none run (nothing is created when no test needs one)."""
    if request.config.stash.get(NO_CLOUD, "") or not _wanted_roles(request.session):
        return
    fleet = request.getfixturevalue("fleet")
    fleet.start(fleet.wanted())


@pytest.fixture(scope="session")
def server_a(fleet) -> Booted:
    """A server on the run's self-service network (read-only checks share it)."""
    return fleet.get("server_a")[0]


@pytest.fixture(scope="session")
def server_b(fleet) -> Booted:
    """A second server on the self-service network: server_a's peer."""
    return fleet.get("server_b")[0]


@pytest.fixture(scope="session")
def provider_server(fleet) -> Booted:
    """A server on the flat provider network."""
    return fleet.get("provider_server")[0]


@pytest.fixture(scope="session", params=["provider_server", "server_a"], ids=["provider", "selfservice"])
def instance(request) -> Booted:
    """Each read-only server: the one on the provider network and one on the self-service network."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def hotplug_servers(fleet) -> List[Booted]:
    """Two servers of the hot-plug scenario (seed 004): their NICs change, so they are theirs alone."""
    return fleet.get("hotplug_servers")


@pytest.fixture(scope="session")
def guarded_server(fleet) -> Booted:
    """A server whose security group is its own (SSH only), for adding and removing rules (S5)."""
    return fleet.get("guarded_server")[0]


@pytest.fixture(scope="session")
def far_servers(fleet) -> List[Booted]:
    """``server_a`` and ``server_b`` on two different computes (on a cloud of several, they are in an anti-affinity
    server group: nova places them apart or fails the boot)."""
    servers = fleet.get("server_a") + fleet.get("server_b")
    hosts = [b.host for b in servers]
    if len(set(hosts)) < 2:
        pytest.fail(f"the anti-affinity group placed both servers on {hosts[0]}", pytrace=False)
    return servers


@pytest.fixture(scope="session")
def mover(fleet) -> Booted:
    """A server of its own that X7 migrates to another compute: cold, then live from where that left it."""
    return fleet.get("mover")[0]


@pytest.fixture(scope="session")
def guarded_group(fleet, guarded_server):
    """``guarded_server``'s own security group (SSH only): S5 adds a rule to it and removes it."""
    return fleet.guarded_group


# --- guests, with D1 triage when they cannot be reached ------------------------------------------------------

@pytest.fixture(scope="session")
def triage_of(oslab, node_facts, dhcp_facts, capabilities):
    """``triage_of(booted) -> [(title, text)]``: attach D1's evidence for a server (console log, DHCP leases, ARP from
    the DHCP namespace, the tap's counters, the port's chains); best effort, never raises."""
    def gather(booted: Booted):
        driver = capabilities.driver or "linuxbridge"
        try:
            compute = node_facts(booted.server)
        except (Exception, pytest.fail.Exception, pytest.skip.Exception):  # evidence only: leave its pieces out
            compute = None
        try:
            dhcp = [served.node for served in dhcp_facts(booted.net)] if capabilities.has_dhcp_agent else []
        except (Exception, pytest.fail.Exception, pytest.skip.Exception):
            dhcp = []

        def console():
            return oslab.cloud.compute.get_server_console_output(booted.server, length=80).get("output", "")
        return triage.gather(booted.server, booted.port, booted.network, compute, dhcp, console, driver)
    return gather


@pytest.fixture(scope="session")
def network_views(oslab):
    """``network_views(booted) -> {"<namespace> on <node>": NetworkView}``: how each namespace serving the server's
    network (``qdhcp-``, or ``ovnmeta-`` on OVN) sees the guest: a fresh arping of its port's address and the
    neighbour table; best effort (a namespace that cannot be read is left out)."""
    def views(booted: Booted):
        found = {}
        try:
            namespace = oslab.namespace_of(booted.network.id)
            for node in oslab.dhcp_node_list(booted.network):
                facts = oslab.facts_of(node)
                device = triage.namespace_device(facts, namespace)
                found[f"{namespace} on {node.name}"] = guests.NetworkView(
                    neigh.parse_arping(facts.arping(namespace, device, booted.ip)), facts.neighbours(namespace))
        except (Exception, pytest.fail.Exception, pytest.skip.Exception):  # evidence only
            pass
        return found
    return views


@pytest.fixture(scope="session")
def reach(guest, triage_of):
    """``reach(booted) -> Guest``: SSH into a booted server (``reach(booted, floating_ip=address)``: at that
    address, from outside the cloud); when it cannot be reached, the D1 triage (console log, DHCP leases, ARP from
    the DHCP namespace, the tap's counters, the port's chains) is attached to the failure."""
    def session_of(booted: Booted, floating_ip: Optional[str] = None):
        try:
            return guest(booted.server, floating_ip=floating_ip)
        except pytest.fail.Exception:
            triage_of(booted)
            raise
    return session_of
