"""Which machines make up the cloud, and how to reach each one.

A node is known by the name the API gives it (hypervisor hostname, agent host, port binding host) and reached
through a testinfra host spec. Sources, first match wins per node:

1. the ``oslab: {nodes: [...]}`` key of the cloud's clouds.yaml entry;
2. a file (``--oslab-inventory`` or ``oslab: {inventory: PATH}``): either the same ``nodes:`` YAML, or an Ansible
   inventory read through Ansible itself (``pytest_oslab.access.ansible``: kolla-ansible's ``multinode``,
   OpenStack-Ansible's ``openstack_inventory.json``, a directory with group_vars/host_vars, a dynamic script);
3. nodes the API names that no source lists: reached by SSH at the hypervisor's ``host_ip`` (or the name)
   with the default user and key.

A ``nodes:`` entry: ``{name, host, roles, user, key, sudo, bastion, proxy_command, sudo_password}``
(``bastion``: ProxyJump form, ``user@host:port``, several comma-separated; ``sudo_password`` is masked in
everything written); ``host`` is a testinfra spec (``local://``,
``ssh://user@addr:port``, ``paramiko://...``) or a bare address; only ``name`` is required.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

import yaml

from pytest_oslab.access import ansible
from pytest_oslab.secrets import SECRETS

ROLES = ("controller", "network", "compute")
UNCONFIGURED = "the API alone"  # the source of a node no configuration names (clouds.yaml, inventory)


class InventoryError(Exception):
    """An inventory that cannot be read; the message is one line naming the file and the problem."""


@dataclass
class Node:
    name: str
    host: str = ""  # testinfra host spec; "" until resolved
    roles: List[str] = field(default_factory=list)
    user: Optional[str] = None
    key: Optional[str] = None
    port: Optional[int] = None
    sudo: Optional[bool] = None
    source: str = "config"
    jump: List[str] = field(default_factory=list)  # bastions, ProxyJump form (``user@host:port``), in order
    proxy_command: Optional[str] = None
    sudo_password: Optional[str] = field(default=None, repr=False)  # Ansible's become password: never shown

    @property
    def is_local(self) -> bool:
        return self.host.startswith("local://")


def short(name: str) -> str:
    return (name or "").split(".", 1)[0]


def from_entries(entries: Iterable[Dict[str, Any]], source: str) -> List[Node]:
    nodes = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not e.get("name"):
            raise InventoryError(f"{source}: node #{i + 1} has no 'name'")
        unknown = set(e) - {"name", "host", "roles", "user", "key", "port", "sudo", "bastion", "proxy_command",
                            "sudo_password"}
        if unknown:
            raise InventoryError(f"{source}: node {e['name']!r}: unknown key(s) {', '.join(sorted(unknown))}")
        if e.get("sudo_password"):
            SECRETS.add(str(e["sudo_password"]))
        roles = e.get("roles") or []
        if isinstance(roles, str):
            roles = [roles]
        nodes.append(Node(name=str(e["name"]), host=str(e.get("host") or ""), roles=[str(r) for r in roles],
                          user=e.get("user"), key=e.get("key"), port=e.get("port"), sudo=e.get("sudo"),
                          jump=str(e["bastion"]).split(",") if e.get("bastion") else [],
                          proxy_command=e.get("proxy_command"), sudo_password=e.get("sudo_password"),
                          source=source))
    return nodes


def load_file(path: str) -> List[Node]:
    """Nodes from a file: the ``nodes:`` YAML schema, or an Ansible inventory read through Ansible."""
    path = os.path.expanduser(path)
    try:
        with open(path) as f:
            text = f.read()
    except IsADirectoryError:
        text = None  # an Ansible inventory directory
    except OSError as e:
        raise InventoryError(f"inventory {path}: {e.strerror}") from None
    if text is not None and not text.lstrip().startswith("{"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None  # an INI inventory, or broken: Ansible says which
        if isinstance(data, dict) and "nodes" in data:
            return from_entries(data.get("nodes") or [], path)
    try:
        return from_entries(ansible.load(path, text), path)
    except ansible.AnsibleError as e:
        raise InventoryError(str(e)) from None


@dataclass
class Inventory:
    """All nodes known by config or file; ``find`` answers for API names, ``discovered`` adds the rest."""

    nodes: List[Node] = field(default_factory=list)
    default_user: Optional[str] = None
    default_key: Optional[str] = None

    @classmethod
    def build(cls, config_nodes: Iterable[Dict[str, Any]] = (), file: Optional[str] = None,
              default_user: Optional[str] = None, default_key: Optional[str] = None) -> "Inventory":
        nodes = from_entries(config_nodes, "clouds.yaml oslab.nodes")
        names = {n.name for n in nodes}
        if file:
            nodes += [n for n in load_file(file) if n.name not in names]
        return cls(nodes, default_user, default_key)

    def find(self, name: str) -> Optional[Node]:
        """The node the API calls ``name``: exact name first, then the same short host name."""
        for n in self.nodes:
            if n.name == name:
                return n
        for n in self.nodes:
            if short(n.name) == short(name):
                return n
        return None

    def node(self, name: str, address: Optional[str] = None) -> Node:
        """The node for an API host name, adding a discovered one (SSH to ``address`` or the name) if unknown."""
        found = self.find(name)
        if found is None:
            found = Node(name=name, host=f"ssh://{address or name}", source=UNCONFIGURED)
            self.nodes.append(found)
        return found

    def with_role(self, role: str) -> List[Node]:
        return [n for n in self.nodes if role in n.roles]
