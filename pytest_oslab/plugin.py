"""pytest-oslab's pytest entry point (pytest11): it only wires. Options and ini keys, markers, the run's session
made at configure, the running test bound for evidence, and the plugins it registers: the fixtures
(``pytest_oslab.fixtures``), which tests apply to the cloud (``pytest_oslab.applicability``), the reports
(``pytest_oslab.report.plugin``), the upgrade gate (``pytest_oslab.gate``).

Run ``pytest --cloud NAME``. Without a cloud, every test that needs one is skipped with one line saying how to
name one; everything else (the project's own unit tests) runs as usual. Nothing in the package imports this
module: what the others need of the run is in ``pytest_oslab.stash``.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import List

import pytest

from pytest_oslab import config as oslab_config
from pytest_oslab import evidence, hooks
from pytest_oslab.access.guests import GUEST_ROUTES
from pytest_oslab.access.nodes import SSH_CLIENTS
from pytest_oslab.access.ssh import HOST_KEY_POLICIES
from pytest_oslab.provision.naming import new_run_id
from pytest_oslab.secrets import install_log_redaction
from pytest_oslab.session import OslabSession, Settings
from pytest_oslab.stash import NO_CLOUD, SESSION

log = logging.getLogger("pytest_oslab")
# the fixtures; which tests apply to the cloud (skips before fixtures); default reports, cloud summary, topology;
# the upgrade gate (--oslab-phase); the history of the runs and its index.html
pytest_plugins = ["pytest_oslab.fixtures", "pytest_oslab.applicability", "pytest_oslab.report.plugin",
                  "pytest_oslab.gate.plugin", "pytest_oslab.report.recorder"]

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
    ("--oslab-command-timeout", "oslab_command_timeout",
     "seconds for any one command on a node or guest (past it the check fails, the run goes on); default 60",
     "float"),
    ("--oslab-host-key-policy", "oslab_host_key_policy",
     "nodes' SSH host keys: accept-new (unknown keys added to known_hosts, changed ones refused), strict, ignore; "
     "default accept-new", "str"),
    ("--oslab-ssh-config", "oslab_ssh_config",
     "ssh_config read for nodes (HostName, User, Port, IdentityFile, ProxyJump...); default ~/.ssh/config", "str"),
    ("--oslab-ssh-client", "oslab_ssh_client",
     "how nodes are reached: paramiko (one transport per node) or openssh (ssh itself, ControlMaster); "
     "default paramiko", "str"),
    ("--oslab-guest-route", "oslab_guest_route",
     "how guests without a floating IP are reached: namespace (through their network's namespace on a node), "
     "floating (at a floating IP the run gives them, from here or the bastion), or auto (namespace, else floating "
     "when no node can be reached); default auto", "str"),
    ("--oslab-external-network", "oslab_external_network",
     "the external network (name or id) of routers and floating IPs; default: clouds.yaml's oslab.external_network, "
     "else the first external network by name", "str"),
    ("--oslab-node-user", "oslab_node_user", "SSH user for nodes without one in the inventory (default: yours)",
     "str"),
    ("--oslab-node-key", "oslab_node_key", "SSH private key file for nodes without one in the inventory", "str"),
]
DEFAULTS = {"oslab_timeout": 300.0, "oslab_ssh_timeout": 120.0, "oslab_api_timeout": 60.0,
            "oslab_command_timeout": 60.0}
CHOICES = {"oslab_host_key_policy": HOST_KEY_POLICIES, "oslab_ssh_client": SSH_CLIENTS,
           "oslab_guest_route": GUEST_ROUTES}
MARKERS = [
    "oslab: the test runs against the cloud named by --cloud",
    "admin: the test needs admin credentials (skipped with the reason when there are none)",
    "linuxbridge: applies to ML2/Linux bridge clouds only (skipped elsewhere)",
    "openvswitch: applies to ML2/Open vSwitch clouds only (skipped elsewhere)",
    "ovn: applies to ML2/OVN clouds only (skipped elsewhere)",
    "requires(driver=None, extension=None, network_type=None, firewall=None): skip unless the cloud has these",
    # the suites' own (pytest_oslab.suites), registered here so that an installed run knows them before collection
    "fact(id, ...): the documented fact(s) this check proves (documented-facts.md ids: C1..C4, N1..N13, I1..I10, "
    "S1..S5, G1..G3, H1..H6, D1, X1..X7); a count per fact is printed at the end",
    "multinode: needs two compute nodes or more (the facts between nodes, X1..X7)",
    "dhcp_agent: needs neutron's DHCP agent (qdhcp- namespaces, dnsmasq): ML2/linuxbridge or ML2/openvswitch",
    "iptables_firewall: needs the iptables firewall: ML2/linuxbridge, or ML2/openvswitch with iptables_hybrid",
    "ovs_firewall: needs Open vSwitch's native firewall (ML2/openvswitch, firewall_driver openvswitch)",
]


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
    if ini in CHOICES and value is not None and value not in CHOICES[ini]:
        raise pytest.UsageError(f"oslab: {ini}: {value!r} is not one of {', '.join(CHOICES[ini])}")
    return value


def settings_from(config) -> Settings:
    values = {ini: _value(config, ini, kind) for _, ini, _, kind in OPTIONS}
    workerinput = getattr(config, "workerinput", None)
    run_id = (workerinput or {}).get("oslab_run_id") or new_run_id()
    return Settings(cloud=values["oslab_cloud"], admin_cloud=values["oslab_admin_cloud"],
                    inventory=values["oslab_inventory"], keep=values["oslab_keep"], timeout=values["oslab_timeout"],
                    ssh_timeout=values["oslab_ssh_timeout"], api_timeout=values["oslab_api_timeout"],
                    node_user=values["oslab_node_user"], node_key=values["oslab_node_key"], run_id=run_id,
                    command_timeout=values["oslab_command_timeout"],
                    host_key_policy=values["oslab_host_key_policy"] or "accept-new",
                    external_network=values["oslab_external_network"],
                    ssh_config=values["oslab_ssh_config"], ssh_client=values["oslab_ssh_client"] or "paramiko",
                    guest_route=values["oslab_guest_route"] or "auto",
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
    if not config.pluginmanager.hasplugin("xdist"):  # the suites group their tests for it; known without it too
        config.addinivalue_line("markers", "xdist_group(name): tests that pytest-xdist runs on one worker")
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
        config.pluginmanager.register(_ToWorkers(config, settings.run_id), "oslab-xdist")


class _ToWorkers:
    """On the xdist controller, the one channel to the workers: the run id (all of them tag with the same run),
    and what the report and the upgrade gate tell theirs (``pytest_oslab_worker_input``)."""

    def __init__(self, config, run_id: str):
        self.config = config
        self.run_id = run_id

    def pytest_configure_node(self, node):
        node.workerinput["oslab_run_id"] = self.run_id
        for told in self.config.hook.pytest_oslab_worker_input(config=self.config):
            node.workerinput.update(told)


def pytest_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(hooks)


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
    """Every test, whoever wrote its checks, gets the evidence they attach (``pytest_oslab.evidence``)."""
    evidence.bind(item)
    try:
        return (yield)
    finally:
        evidence.bind(None)


def pytest_collection_finish(session):
    """Tests marked ``oslab`` (the suites) selected to run and no cloud named: a usage error, not a green run of
    skips (listing them with --collect-only needs no cloud)."""
    if session.config.option.collectonly:
        return
    line = session.config.stash.get(NO_CLOUD, "")
    marked = [item for item in session.items if item.get_closest_marker("oslab")]
    if line and marked:
        raise pytest.UsageError(f"oslab: {len(marked)} selected tests are marked oslab and need a cloud: {line}")


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
