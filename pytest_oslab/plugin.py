"""pytest-oslab's pytest plugin: options, markers and fixtures that test an OpenStack cloud named in clouds.yaml.

Run ``pytest --cloud NAME``. Without a cloud, every test that needs one is skipped with one line saying how to
name one; everything else (the project's own unit tests) runs as usual. The fixtures here are thin: the work is
in ``pytest_oslab.session`` (the run's state) and the packages it draws on (config, cloud, provision, access).
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import List, Optional

import pytest

from pytest_oslab import config as oslab_config
from pytest_oslab.access.guests import GuestError
from pytest_oslab.access.inventory import InventoryError
from pytest_oslab.access.nodes import NodeError
from pytest_oslab.cloud.errors import CloudError, describe
from pytest_oslab.provision.naming import new_run_id
from pytest_oslab.provision.resources import NotFound
from pytest_oslab.provision.servers import BootError, ServerFactory, ServerSpec
from pytest_oslab.report import evidence
from pytest_oslab.secrets import install_log_redaction
from pytest_oslab.session import OslabSession, Settings, Unavailable

log = logging.getLogger("pytest_oslab")
# default reports, cloud summary, topology, --oslab-phase; the history of the runs and its index.html
pytest_plugins = ["pytest_oslab.report.plugin", "pytest_oslab.report.recorder"]
SESSION = pytest.StashKey[OslabSession]()
NO_CLOUD = pytest.StashKey[str]()

# (option, ini key, help, kind) -- kind: "str", "float", "bool"
OPTIONS = [
    ("--cloud", "oslab_cloud", "cloud in clouds.yaml to test (default: $OS_CLOUD)", "str"),
    ("--admin-cloud", "oslab_admin_cloud", "admin cloud for discovery (default: NAME-admin when clouds.yaml has it)",
     "str"),
    ("--oslab-inventory", "oslab_inventory",
     "node inventory: a YAML 'nodes:' file or an Ansible inventory (INI or YAML)", "str"),
    ("--oslab-keep", "oslab_keep", "leave the resources this run creates in place (remove later: oslab cleanup)",
     "bool"),
    ("--oslab-timeout", "oslab_timeout", "seconds to wait for a resource (server boot, deletion); default 300",
     "float"),
    ("--oslab-ssh-timeout", "oslab_ssh_timeout", "seconds to wait for a node or guest to answer SSH; default 120",
     "float"),
    ("--oslab-api-timeout", "oslab_api_timeout", "seconds for any one API call; default 60", "float"),
    ("--oslab-node-user", "oslab_node_user", "SSH user for nodes without one in the inventory (default: yours)",
     "str"),
    ("--oslab-node-key", "oslab_node_key", "SSH private key file for nodes without one in the inventory", "str"),
]
DEFAULTS = {"oslab_timeout": 300.0, "oslab_ssh_timeout": 120.0, "oslab_api_timeout": 60.0}
MARKERS = [
    "oslab: the test runs against the cloud named by --cloud",
    "admin: the test needs admin credentials (skipped with the reason when there are none)",
    "linuxbridge: applies to ML2/Linux bridge clouds only (skipped elsewhere)",
    "openvswitch: applies to ML2/Open vSwitch clouds only (skipped elsewhere)",
    "ovn: applies to ML2/OVN clouds only (skipped elsewhere)",
    "requires(driver=None, extension=None, network_type=None, firewall=None): skip unless the cloud has these",
]
DRIVER_MARKERS = ("linuxbridge", "openvswitch", "ovn")


def pytest_addoption(parser):
    group = parser.getgroup("oslab", "pytest-oslab: test an OpenStack cloud (options; ini keys beside them)")
    for option, ini, text, kind in OPTIONS:
        dest = ini
        if kind == "bool":
            group.addoption(option, action="store_true", default=None, dest=dest, help=f"{text} [ini: {ini}]")
            parser.addini(ini, text, type="bool", default=False)
        else:
            group.addoption(option, action="store", default=None, dest=dest, metavar=option.split("-")[-1].upper(),
                            help=f"{text} [ini: {ini}]")
            parser.addini(ini, text, type="string", default="")


def _value(config, ini: str, kind: str):
    value = config.getoption(ini)
    if value is None:
        value = config.getini(ini)
        if value == "":
            value = None
    if ini == "oslab_cloud" and value is None:
        value = os.environ.get("OS_CLOUD") or None
    if kind == "float":
        if value is None:
            return DEFAULTS[ini]
        try:
            number = float(value)
        except ValueError:
            raise pytest.UsageError(f"oslab: {ini}: {value!r} is not a number of seconds") from None
        if number <= 0:
            raise pytest.UsageError(f"oslab: {ini}: must be more than 0 seconds")
        return number
    if kind == "bool":
        return bool(value)
    return value


def settings_from(config) -> Settings:
    values = {ini: _value(config, ini, kind) for _, ini, _, kind in OPTIONS}
    workerinput = getattr(config, "workerinput", None)
    run_id = (workerinput or {}).get("oslab_run_id") or new_run_id()
    return Settings(cloud=values["oslab_cloud"], admin_cloud=values["oslab_admin_cloud"],
                    inventory=values["oslab_inventory"], keep=values["oslab_keep"], timeout=values["oslab_timeout"],
                    ssh_timeout=values["oslab_ssh_timeout"], api_timeout=values["oslab_api_timeout"],
                    node_user=values["oslab_node_user"], node_key=values["oslab_node_key"], run_id=run_id,
                    worker=(workerinput or {}).get("workerid", ""))


def _progress(config):
    def write(line: str) -> None:
        log.info("%s", line)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capture = config.pluginmanager.get_plugin("capturemanager")
        if reporter is None or getattr(config, "workerinput", None) is not None or config.get_verbosity() < 0:
            return
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(line if line.startswith("oslab: ") else f"oslab: {line}")
    return write


def pytest_configure(config):
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    # openstacksdk's notices about its own future API changes say nothing about the cloud under test
    config.addinivalue_line("filterwarnings", "ignore::openstack.warnings._RemovedInSDKWarning")
    install_log_redaction()
    settings = settings_from(config)
    if settings.cloud and not (config.option.help or config.option.version):
        try:
            oslab_config.resolve(settings.cloud, settings.admin_cloud)
        except oslab_config.ConfigError as e:
            raise pytest.UsageError(f"oslab: {e}") from None
    config.stash[SESSION] = OslabSession(settings, progress=_progress(config))
    config.stash[NO_CLOUD] = "" if settings.cloud else oslab_config.how_to_name_a_cloud()
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistRunId(settings.run_id), "oslab-xdist")


class _XdistRunId:
    """On the xdist controller: hand the run id to every worker, so all of them tag with the same run."""

    def __init__(self, run_id: str):
        self.run_id = run_id

    def pytest_configure_node(self, node):
        node.workerinput["oslab_run_id"] = self.run_id


def pytest_report_header(config) -> List[str]:
    session = config.stash.get(SESSION, None)
    if session is None:
        return []
    s = session.settings
    if not s.cloud:
        return []  # the one line on how to name a cloud comes at the end, when a test needed one
    admin = s.admin_cloud or "NAME-admin if present"
    return [f"oslab: cloud {s.cloud} (admin: {admin}), run {s.run_id}, keep {'yes' if s.keep else 'no'}, "
            f"timeouts {s.timeout:.0f}s/ssh {s.ssh_timeout:.0f}s/api {s.api_timeout:.0f}s"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    session = item.config.stash.get(SESSION, None)
    if session is not None:
        session.current_item = item
    try:
        return (yield)
    finally:
        if session is not None:
            session.current_item = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    evidence.move_to_report(item, report)
    evidence.redact_report(report)
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    oslab = session.config.stash.get(SESSION, None)
    if oslab is not None:
        oslab.close()


def pytest_terminal_summary(terminalreporter, config):
    line = config.stash.get(NO_CLOUD, "")
    if not line:
        return
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if isinstance(r.longrepr, tuple) and r.longrepr[2].endswith(line)]
    if skipped:
        terminalreporter.write_line(f"oslab: {len(skipped)} tests skipped: {line}")


# --- fixtures ---------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def outcome(what: str = ""):
    """Turn the core's errors into pytest outcomes: a skip with its reason, or a one-line failure."""
    from keystoneauth1.exceptions import ClientException
    from openstack.exceptions import SDKException
    skip = fail = None
    try:
        yield
    except (Unavailable, NotFound) as e:
        skip = str(e)
    except (oslab_config.ConfigError, CloudError, NodeError, GuestError, BootError, InventoryError) as e:
        fail = f"oslab: {e}"
    except (SDKException, ClientException) as e:
        fail = f"oslab: {describe(e, what)}"
    # raised outside the except blocks, so the report shows the one line and no chained traceback
    if skip is not None:
        raise pytest.skip.Exception(skip) from None
    if fail is not None:
        raise pytest.fail.Exception(fail, pytrace=False) from None


@pytest.fixture(scope="session")
def oslab(request) -> OslabSession:
    """The run's state (pytest_oslab.session.OslabSession): settings, naming, connections, resource stack.

    Tests that need a cloud depend on it through the other fixtures; without ``--cloud`` it skips them with one
    line saying how to name a cloud.
    """
    line = request.config.stash[NO_CLOUD]
    if line:
        pytest.skip(line)
    return request.config.stash[SESSION]


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
    from pytest_oslab.provision.resources import find_image
    with outcome("finding the image"):
        return find_image(cloud, oslab.choice.oslab.image)


@pytest.fixture(scope="session")
def image_user(oslab, image) -> str:
    """Login user of ``image``: ``oslab: {image_user: ...}``, the image's os_admin_user, or known by name."""
    from pytest_oslab.provision.resources import image_user as user_of
    return user_of(image, oslab.choice.oslab.image_user)


@pytest.fixture(scope="session")
def flavor(oslab, cloud, image):
    """The flavor to boot: ``oslab: {flavor: NAME}``, else the smallest that fits the image, else a tagged one
    created with admin rights for this run."""
    from pytest_oslab.provision.resources import find_flavor
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
    from pytest_oslab.provision.resources import pick_provider_network
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
    from pytest_oslab.provision.resources import external_network as pick
    with outcome():
        found = pick(oslab.visible_networks())
        if found is None:
            raise Unavailable("the cloud has no external network")
        return found


@pytest.fixture(scope="session")
def selfservice_network(oslab):
    """A tagged self-service (tenant: vxlan, geneve, ...) network created for this run."""
    with outcome("creating the self-service network"):
        return oslab.provisioner.network(oslab.stack, "selfservice")


@pytest.fixture(scope="session")
def selfservice_subnet(oslab, selfservice_network):
    """A tagged IPv4 /24 subnet with DHCP on ``selfservice_network``, from a range no visible subnet uses."""
    with outcome("creating the self-service subnet"):
        return oslab.provisioner.subnet(oslab.stack, selfservice_network, oslab.free_cidr(), "selfservice-subnet",
                                        enable_dhcp=True)


@pytest.fixture(scope="session")
def router(oslab, selfservice_subnet):
    """A tagged router of this run: an interface on ``selfservice_subnet``, the gateway on the external network
    when the cloud has one."""
    from pytest_oslab.provision.resources import external_network as pick
    with outcome("creating the router"):
        router = oslab.provisioner.router(oslab.stack, external=pick(oslab.visible_networks()))
        oslab.provisioner.router_interface(oslab.stack, router, selfservice_subnet)
        return router


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
                    from pytest_oslab.provision.resources import external_network as pick
                    external = pick(oslab.visible_networks())
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
def dhcp_nodes(oslab):
    """``dhcp_nodes(network) -> [testinfra Host]``: the nodes whose DHCP agents serve ``network``."""
    def hosts_of(network):
        with outcome("finding the DHCP nodes"):
            return [oslab.nodes.host(n) for n in oslab.dhcp_node_list(network)]
    return hosts_of


@pytest.fixture(scope="session")
def guest(oslab, keypair, image_user):
    """``guest(server) -> Guest``: the run's SSH session into a server (``.run(cmd)`` -> rc/stdout/stderr), by
    floating IP where it has one, else through its network's DHCP namespace on a node. Waits until SSH answers
    (--oslab-ssh-timeout); when it does not, the test fails with the console log attached."""
    def session_of(server, user: Optional[str] = None):
        with outcome("reaching the guest"):
            return oslab.guest(server, user or image_user, keypair.pkey)
    return session_of


@pytest.fixture(autouse=True)
def _oslab_requirements(request):
    """Skip a test whose markers (admin, linuxbridge/openvswitch/ovn, requires) the cloud does not meet."""
    markers = {m.name: m for m in request.node.iter_markers() if m.name in ("admin", "requires") + DRIVER_MARKERS}
    if not markers:
        return
    oslab = request.getfixturevalue("oslab")
    with outcome():
        if "admin" in markers:
            oslab.admin_cloud
        caps = oslab.capabilities
        for name in DRIVER_MARKERS:
            if name in markers and name not in caps.mechanism_drivers:
                raise Unavailable(f"needs ML2/{name}; this cloud runs {', '.join(sorted(caps.mechanism_drivers)) or '?'}")
        if "requires" in markers:
            needs = markers["requires"].kwargs
            checks = [("driver", caps.mechanism_drivers), ("extension", caps.extensions),
                      ("network_type", caps.type_drivers), ("firewall", {caps.firewall_driver})]
            for key, have in checks:
                want = needs.get(key)
                for value in ([want] if isinstance(want, str) else want or []):
                    if value not in have:
                        raise Unavailable(f"needs {key.replace('_', ' ')} {value}; this cloud has "
                                          f"{', '.join(sorted(h for h in have if h)) or 'none'}")
