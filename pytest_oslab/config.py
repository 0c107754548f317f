"""Which cloud the run talks to, and what the operator told us about it.

The cloud comes from clouds.yaml exactly as the ``openstack`` CLI finds it (``OS_CLIENT_CONFIG_FILE``,
``./clouds.yaml``, ``~/.config/openstack/``, ``/etc/openstack/``; ``secure.yaml`` beside it is merged).
``--cloud NAME`` (default ``$OS_CLOUD``) names the member cloud; the admin cloud used for discovery is
``--admin-cloud`` or, when clouds.yaml has it, ``NAME-admin`` (devstack writes ``devstack`` and ``devstack-admin``).

A cloud entry may carry an ``oslab:`` key; every field is optional::

    clouds:
      lab:
        auth: {...}
        oslab:
          nodes:                      # how to reach the cloud's nodes (see pytest_oslab.access.inventory)
            - name: vm                # the host name as the API reports it (hypervisor, agent, binding host)
              host: "local://"        # a testinfra host spec: local://, ssh://user@addr:port, paramiko://...
              roles: [controller, network, compute]
              user: stack             # optional: SSH user (default --oslab-node-user)
              key: ~/.ssh/id_ed25519  # optional: SSH private key file (default --oslab-node-key)
              sudo: true              # optional: run root commands through sudo (default: yes unless root)
          inventory: /path/to/file    # optional: a node file or an Ansible inventory (as --oslab-inventory)
          node_user: stack            # optional: default SSH user for nodes found through the API
          node_key: ~/.ssh/id_rsa     # optional: default SSH key for them
          bastion: admin@jump.example.com:22  # optional: the jump host (ProxyJump form, several comma-separated)
                                      # of nodes that name none (in their entry or ssh_config) and of guests
                                      # reached by floating IP
          image: guest                # optional: image name or id to boot (default: discovered)
          image_user: root            # optional: login user of that image (default: known per image name)
          flavor: m1.nano             # optional: flavor name or id (default: the smallest that fits)
          provider_network: provider  # optional: the flat/external network to use (default: discovered)
          provider_network_shared: true  # optional: whether that network is meant to be shared (N1 judges it so;
                                      # default: shared, as the install guide makes it; reported either way)
          external_network: public    # optional: the external network of routers and floating IPs (as
                                      # --oslab-external-network; default: the first external one by name)
          driver: linuxbridge         # optional: the ML2 driver the deployer says it runs; used when discovery
                                      # cannot tell (no admin credentials); a disagreement with discovery (its
                                      # alive agents) is reported in the cloud summary, discovery wins
          compute_log: /var/log/nova/nova-compute.log   # optional: where nova-compute logs on compute nodes, a
                                      # path or journal:UNIT, or a list of them; read for a server that fails to
                                      # boot (default: the usual places of packages, kolla-ansible and devstack)
          deployment: kolla           # optional: where node tools and files live (pytest_oslab.access.deployment):
                                      # auto (default: what the node lists), host, kolla, tripleo, sunbeam; or
                                      # {profile, runtime: docker|podman, iptables: legacy|nft,
                                      #  tools: {virsh: nova_libvirt | host | {command: ...}},
                                      #  nodes: {compute1: tripleo | {profile, ...}}}

Every problem is a ``ConfigError`` whose message is one line for the operator; no secret is ever part of it.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import yaml

from pytest_oslab.secrets import SECRETS, Secrets

OSLAB_KEYS = frozenset({
    "nodes", "inventory", "node_user", "node_key", "image", "image_user", "flavor", "provider_network", "driver",
    "compute_log", "bastion", "deployment", "external_network", "provider_network_shared",
})


class ConfigError(Exception):
    """A configuration problem, told to the operator in one line."""


@dataclass
class OslabConfig:
    """The ``oslab:`` key of a clouds.yaml entry."""

    nodes: List[Dict[str, Any]] = field(default_factory=list)
    inventory: Optional[str] = None
    node_user: Optional[str] = None
    node_key: Optional[str] = None
    image: Optional[str] = None
    image_user: Optional[str] = None
    flavor: Optional[str] = None
    provider_network: Optional[str] = None
    driver: Optional[str] = None
    compute_log: List[str] = field(default_factory=list)
    bastion: Optional[str] = None
    deployment: Any = None  # as written; read by pytest_oslab.access.deployment
    external_network: Optional[str] = None
    provider_network_shared: Optional[bool] = None  # None: as the install guide documents (shared)

    @classmethod
    def from_entry(cls, cloud: str, data: Any) -> "OslabConfig":
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ConfigError(f"clouds.yaml: cloud {cloud!r}: the 'oslab' key must be a mapping, not {type(data).__name__}")
        unknown = sorted(set(data) - OSLAB_KEYS)
        if unknown:
            raise ConfigError(f"clouds.yaml: cloud {cloud!r}: unknown 'oslab' key(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(OSLAB_KEYS))}")
        nodes = data.get("nodes") or []
        if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
            raise ConfigError(f"clouds.yaml: cloud {cloud!r}: 'oslab.nodes' must be a list of mappings")
        logs = data.get("compute_log") or []
        logs = [logs] if isinstance(logs, str) else logs
        if not isinstance(logs, list) or not all(isinstance(x, str) and x for x in logs):
            raise ConfigError(f"clouds.yaml: cloud {cloud!r}: 'oslab.compute_log' must be a path, journal:UNIT, "
                              f"or a list of them")
        shared = data.get("provider_network_shared")
        if shared is not None and not isinstance(shared, bool):
            raise ConfigError(f"clouds.yaml: cloud {cloud!r}: 'oslab.provider_network_shared' must be true or false, "
                              f"not {shared!r}")
        values = {k: (None if data.get(k) is None else str(data[k]))
                  for k in OSLAB_KEYS - {"nodes", "compute_log", "deployment", "provider_network_shared"}}
        return cls(nodes=nodes, compute_log=logs, provider_network_shared=shared,
                   deployment=data.get("deployment"), **values)


@dataclass
class CloudChoice:
    """The clouds the run uses: the member cloud, the admin cloud (or why there is none), and the oslab config."""

    name: str
    region: Any  # openstack.config.cloud_region.CloudRegion
    oslab: OslabConfig
    admin_name: Optional[str] = None
    admin_region: Any = None
    admin_missing: Optional[str] = None  # why there is no admin cloud, as a skip reason
    config_file: Optional[str] = None


def config_files() -> List[str]:
    """clouds.yaml candidates in openstacksdk's order of precedence."""
    from openstack.config import loader  # on use: the oslab CLI starts without openstacksdk (0.3 s)
    override = os.environ.get("OS_CLIENT_CONFIG_FILE")
    return ([override] if override else []) + list(loader.CONFIG_FILES)


def secure_files() -> List[str]:
    from openstack.config import loader  # on use: the oslab CLI starts without openstacksdk (0.3 s)
    override = os.environ.get("OS_CLIENT_SECURE_FILE")
    return ([override] if override else []) + list(loader.SECURE_FILES)


def _first_readable(paths: List[str]) -> Optional[str]:
    for path in paths:
        if os.path.isfile(path) and os.access(path, os.R_OK):
            return path
    return None


def _parse_check(path: Optional[str]) -> None:
    """openstacksdk skips a file that does not parse with a mere warning; say so instead of 'cloud not found'."""
    if not path:
        return
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise ConfigError(f"{path} does not parse as YAML{where}: {problem}") from None
    if not isinstance(data, dict) or not isinstance(data.get("clouds", {}), dict):
        raise ConfigError(f"{path}: expected a mapping with a 'clouds' mapping at the top")


def _load(secrets: Secrets):
    import openstack.config  # on use: the oslab CLI starts without openstacksdk (0.3 s)
    from openstack import exceptions
    config_file = _first_readable(config_files())
    _parse_check(config_file)
    _parse_check(_first_readable(secure_files()))
    try:
        config = openstack.config.OpenStackConfig()
    except exceptions.ConfigException as e:
        raise ConfigError(f"clouds.yaml: {e}") from None
    for name in config.get_cloud_names():
        secrets.add_from_mapping(config.cloud_config.get("clouds", {}).get(name))
    return config, config_file


def cloud_names() -> List[str]:
    """The clouds clouds.yaml names (empty when there is none); ConfigError when it does not parse."""
    config, _ = _load(SECRETS)
    return sorted(n for n in config.get_cloud_names() if n != "defaults")


def _region(config, name: str, config_file: Optional[str]):
    from openstack import exceptions  # on use: the oslab CLI starts without openstacksdk (0.3 s)
    try:
        with warnings.catch_warnings():  # openstacksdk's deprecation notices (InfluxDB metrics) are not ours
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", module="openstack")
            return config.get_one(cloud=name)
    except exceptions.ConfigException as e:
        names = sorted(n for n in config.get_cloud_names() if n != "defaults")
        if "not found" in str(e).lower():
            where = config_file or "no clouds.yaml found (looked in " + ", ".join(config_files()[:4]) + ")"
            known = ", ".join(names) if names else "none"
            raise ConfigError(f"cloud {name!r} is not in clouds.yaml ({where}); clouds there: {known}") from None
        raise ConfigError(f"cloud {name!r}: {e}") from None


def resolve(name: Optional[str], admin_name: Optional[str] = None, secrets: Secrets = SECRETS) -> CloudChoice:
    """Resolve the member cloud ``name`` and its admin cloud; ConfigError (one line) on any problem."""
    if not name:
        raise ConfigError("no cloud named")
    config, config_file = _load(secrets)
    region = _region(config, name, config_file)
    secrets.add_from_mapping(region.config)
    oslab = OslabConfig.from_entry(name, region.config.get("oslab"))
    choice = CloudChoice(name=name, region=region, oslab=oslab, config_file=config_file)
    names = set(config.get_cloud_names())
    if admin_name:
        choice.admin_name = admin_name
    elif f"{name}-admin" in names:
        choice.admin_name = f"{name}-admin"
    else:
        choice.admin_missing = (f"needs admin credentials: clouds.yaml has no cloud {name + '-admin'!r}; "
                                f"name one with --admin-cloud")
    if choice.admin_name:
        choice.admin_region = _region(config, choice.admin_name, config_file)
        secrets.add_from_mapping(choice.admin_region.config)
    return choice


def how_to_name_a_cloud() -> str:
    """The one line shown when no cloud is named: how to name one, and which exist."""
    try:
        names = cloud_names()
    except ConfigError as e:
        return f"no cloud named: run with --cloud NAME (or set OS_CLOUD); {e}"
    known = f" (clouds.yaml has: {', '.join(names)})" if names else " (no clouds.yaml found)"
    return f"no cloud named: run with --cloud NAME or set OS_CLOUD{known}"
