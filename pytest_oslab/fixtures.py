"""The fixtures of pytest-oslab, the one vocabulary for checks against a cloud (``pytest --fixtures`` documents each).

Session: ``oslab`` (the run's state), ``cloud``, ``admin_cloud``, ``capabilities``, ``image``, ``image_user``,
``flavor``, ``keypair``, ``security_group``, ``provider_network``, ``provider_subnet``, ``external_network``,
``selfservice_network``, ``selfservice_subnet``, ``router``; per test: ``floating_ip``, ``make_port``,
``make_server``; reaching what was built: ``node(server_or_name)`` (a testinfra host), ``node_facts(...)`` (the
same node through the facts parsers, its commands kept as evidence), ``dhcp_nodes(network)``, ``guest(server)``.
The suites add theirs on top (``pytest_oslab.suites``' conftest). Each fixture is thin: the work is in
``pytest_oslab.session`` and the packages it draws on; errors become skips or one-line failures
(``pytest_oslab.outcomes``).
"""
from __future__ import annotations

from typing import Optional

import pytest

from pytest_oslab.checks.nodes import NodeFacts
from pytest_oslab.outcomes import outcome
from pytest_oslab.provision import topology
from pytest_oslab.provision.resources import find_flavor, find_image, pick_provider_network
from pytest_oslab.provision.resources import image_user as image_user_of
from pytest_oslab.provision.servers import BootError, ServerFactory, ServerSpec
from pytest_oslab.session import OslabSession, Unavailable
from pytest_oslab.stash import session_of


@pytest.fixture(scope="session")
def oslab(request) -> OslabSession:
    """The run's state (pytest_oslab.session.OslabSession): settings, naming, connections, resource stack.

    Tests that need a cloud depend on it through the other fixtures; without ``--cloud`` it skips them with one
    line saying how to name a cloud.
    """
    return session_of(request.config)


@pytest.fixture(scope="session")
def cloud(oslab):
    """openstacksdk Connection to the cloud named by --cloud (member credentials), authenticated up front."""
    with outcome():
        return oslab.cloud


@pytest.fixture(scope="session")
def admin_cloud(oslab):
    """openstacksdk Connection with admin rights (--admin-cloud, else NAME-admin); skips when there is none."""
    with outcome():
        return oslab.admin_cloud


@pytest.fixture(scope="session")
def capabilities(oslab):
    """What the cloud is made of, found through the API (pytest_oslab.cloud.capabilities.Capabilities):
    mechanism drivers, network types, firewall driver, DNS domain, agents per host, hypervisors."""
    with outcome("discovering capabilities"):
        return oslab.capabilities


@pytest.fixture(scope="session")
def image(oslab, cloud):
    """The image to boot: clouds.yaml ``oslab: {image: NAME}``, else a cirros image, else the only one."""
    with outcome("finding the image"):
        return find_image(cloud, oslab.choice.oslab.image)


@pytest.fixture(scope="session")
def image_user(oslab, image) -> str:
    """Login user of ``image``: ``oslab: {image_user: ...}``, the image's os_admin_user, or known by name."""
    return image_user_of(image, oslab.choice.oslab.image_user)


@pytest.fixture(scope="session")
def flavor(oslab, cloud, image):
    """The flavor to boot: ``oslab: {flavor: NAME}``, else the smallest that fits the image, else a tagged one
    created with admin rights for this run."""
    with outcome("choosing a flavor"):
        found = find_flavor(cloud, image, oslab.choice.oslab.flavor)
        return found if found is not None else oslab.provisioner.flavor(oslab.stack, image)


@pytest.fixture(scope="session")
def keypair(oslab):
    """The run's keypair (pytest_oslab.provision.resources.Keypair: ``name``, ``pkey``): ed25519, generated for
    this run, private key in memory only, deleted at the end."""
    with outcome("creating the keypair"):
        return oslab.provisioner.keypair(oslab.stack)


@pytest.fixture(scope="session")
def security_group(oslab):
    """A tagged security group of this run allowing ICMP and SSH (TCP 22) in."""
    with outcome("creating the security group"):
        return oslab.provisioner.security_group(oslab.stack)


@pytest.fixture(scope="session")
def provider_network(oslab, cloud):
    """The cloud's existing flat/external network (``oslab: {provider_network: NAME}`` or discovered); never
    created. Skips when the cloud has none."""
    with outcome("finding the provider network"):
        return pick_provider_network(oslab.visible_networks(), oslab.choice.oslab.provider_network)


@pytest.fixture(scope="session")
def provider_subnet(cloud, provider_network):
    """The first IPv4 subnet of ``provider_network``."""
    with outcome():
        subnets = [s for s in cloud.network.subnets(network_id=provider_network.id) if s.ip_version == 4]
        if not subnets:
            raise Unavailable(f"provider network {provider_network.name} has no IPv4 subnet")
        return sorted(subnets, key=lambda s: s.name or "")[0]


@pytest.fixture(scope="session")
def external_network(oslab):
    """The cloud's external network (router gateways, floating IPs); skips when there is none."""
    with outcome():
        found = oslab.external_network()
        if found is None:
            raise Unavailable("the cloud has no external network")
        return found


@pytest.fixture(scope="session")
def selfservice_network(oslab):
    """A tagged self-service (tenant: vxlan, geneve, ...) network created for this run."""
    with outcome("creating the self-service network"):
        return topology.network(oslab.provisioner, oslab.stack)


@pytest.fixture(scope="session")
def selfservice_subnet(oslab, selfservice_network):
    """A tagged IPv4 /24 subnet with DHCP on ``selfservice_network``, from a range no visible subnet uses."""
    with outcome("creating the self-service subnet"):
        return topology.subnet(oslab.provisioner, oslab.stack, selfservice_network, oslab.free_cidr())


@pytest.fixture(scope="session")
def router(oslab, selfservice_subnet):
    """A tagged router of this run: an interface on ``selfservice_subnet``, the gateway on the external network
    when the cloud has one."""
    with outcome("creating the router"):
        return topology.router(oslab.provisioner, oslab.stack, selfservice_subnet, oslab.external_network())


@pytest.fixture()
def floating_ip(oslab, external_network, router):
    """A tagged floating IP on the external network (not yet associated), deleted after the test."""
    stack = oslab.new_stack()
    with outcome("creating a floating IP"):
        fip = oslab.provisioner.floating_ip(stack, external_network)
    yield fip
    _close(stack)


def _close(stack) -> None:
    problems = stack.close()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture()
def make_port(oslab, security_group):
    """Factory ``make_port(network, **attrs) -> Port``: a tagged port (with the run's security group unless
    ``security_group_ids`` is given), deleted after the test."""
    stack = oslab.new_stack()

    def make(network, what: str = "port", **attrs):
        attrs.setdefault("security_group_ids", [security_group.id])
        with outcome("creating a port"):
            return oslab.provisioner.port(stack, network, what, **attrs)
    yield make
    _close(stack)


@pytest.fixture()
def make_server(oslab, image, flavor, keypair, security_group):
    """Factory booting servers with the run's image, flavor, keypair and security group; waits for ACTIVE
    (bounded by --oslab-timeout, progress shown, the fault reported on ERROR); deleted after the test.

    ``make_server(network=net)`` or ``make_server(net)`` -> Server;
    ``make_server([{"network": a}, {"ports": [p]}, ...], **common)`` -> [Server, ...], booted concurrently.
    Spec keys: network, ports, name, image, flavor, security_groups, user_data, availability_zone, floating_ip
    (True: a floating IP on the external network once ACTIVE); other keys go to ``create_server``.
    """
    stack = oslab.new_stack()
    factory = ServerFactory(oslab.cloud, oslab.naming, image, flavor, keypair.name, [security_group],
                            oslab.settings.timeout, progress=oslab.progress)

    def make(specs=None, /, **common):
        many = isinstance(specs, (list, tuple))
        items = list(specs) if many else [specs if specs is not None else {}]
        merged = [item if isinstance(item, ServerSpec) else
                  ServerSpec.of({**common, **(item if isinstance(item, dict) else {"network": item})})
                  for item in items]
        with outcome("booting servers"):
            try:
                servers = factory.boot(stack, merged)
            except BootError as e:
                oslab.attach_compute_logs(e.failed)
                raise
            for i, (spec, server) in enumerate(zip(merged, servers)):
                if spec.floating_ip:
                    external = oslab.external_network()
                    if external is None:
                        raise Unavailable("the cloud has no external network for a floating IP")
                    port = next(iter(oslab.cloud.network.ports(device_id=server.id)))
                    oslab.provisioner.floating_ip(stack, external, port)
                    servers[i] = oslab.cloud.compute.get_server(server.id)
        return servers if many else servers[0]
    yield make
    _close(stack)


@pytest.fixture(scope="session")
def node(oslab):
    """``node(server_or_hostname) -> testinfra Host`` of the compute node running a server (or the node the API
    calls that name): one connection per node for the run, root commands through sudo."""
    def host_of(what):
        with outcome("finding the node"):
            target = oslab.node_named(what) if isinstance(what, str) else oslab.compute_node(what)
            return oslab.nodes.host(target)
    return host_of


@pytest.fixture(scope="session")
def node_facts(oslab):
    """``node_facts(server_or_hostname) -> NodeFacts``: the node of ``node`` seen through the facts parsers
    (``.links(namespace)``, ``.namespaces()``, ``.routes()``, ``.iptables()``, ``.domain(name)``, ``.read(path)``,
    ``.tap(port)``, ``.dnsmasq(network).hosts`` / ``.leases``...), each command it runs attached to the test as
    evidence; ``.host`` is the testinfra host."""
    def facts(what) -> NodeFacts:
        with outcome("finding the node"):
            target = oslab.node_named(what) if isinstance(what, str) else oslab.compute_node(what)
            return NodeFacts(oslab.nodes.host(target), target.name)
    return facts


@pytest.fixture(scope="session")
def dhcp_nodes(oslab):
    """``dhcp_nodes(network) -> [testinfra Host]``: the nodes whose DHCP agents serve ``network``."""
    def hosts_of(network):
        with outcome("finding the DHCP nodes"):
            return [oslab.nodes.host(n) for n in oslab.dhcp_node_list(network)]
    return hosts_of


@pytest.fixture(scope="session")
def guest(oslab, keypair, image_user):
    """``guest(server) -> Guest``: the run's SSH session into a server (``.run(cmd)`` -> rc/stdout/stderr), by
    floating IP where it has one, else through its network's DHCP namespace on a node. ``guest(server,
    floating_ip=address)``: a session of its own at that address, from outside the cloud (this machine, or the
    cloud's bastion). Waits until SSH answers (--oslab-ssh-timeout); when it does not, the test fails with the
    console log attached."""
    def session_of(server, user: Optional[str] = None, floating_ip: Optional[str] = None):
        with outcome("reaching the guest"):
            return oslab.guest(server, user or image_user, keypair.pkey, floating_ip)
    return session_of
