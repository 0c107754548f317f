"""Which machines make up the cloud, and how to reach each one.

A node is known by the name the API gives it (hypervisor hostname, agent host, port binding host) and reached
through a testinfra host spec. Sources, first match wins per node:

1. the ``oslab: {nodes: [...]}`` key of the cloud's clouds.yaml entry;
2. a file (``--oslab-inventory`` or ``oslab: {inventory: PATH}``): either the same ``nodes:`` YAML, or an Ansible
   inventory in INI or YAML form (kolla-ansible's ``multinode``, OpenStack-Ansible's ``openstack_inventory``
   style groups); ``ansible_host``/``ansible_user``/``ansible_port``/``ansible_ssh_private_key_file`` are used;
3. nodes the API names that no source lists: reached by SSH at the hypervisor's ``host_ip`` (or the name)
   with the default user and key.

A ``nodes:`` entry: ``{name, host, roles, user, key, sudo, bastion}`` (``bastion``: ProxyJump form,
``user@host:port``, several comma-separated); ``host`` is a testinfra spec (``local://``,
``ssh://user@addr:port``, ``paramiko://...``) or a bare address; only ``name`` is required.
"""
from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

import yaml

ROLE_GROUPS = {  # Ansible group -> our role (kolla-ansible, OpenStack-Ansible, common hand-written names)
    "control": "controller", "controller": "controller", "controllers": "controller", "infra_hosts": "controller",
    "shared-infra_hosts": "controller", "os-infra_hosts": "controller", "identity_hosts": "controller",
    "network": "network", "network_hosts": "network", "neutron_agent": "network", "network-agent_hosts": "network",
    "network-northd_hosts": "network", "network-gateway_hosts": "network",
    "compute": "compute", "computes": "compute", "compute_hosts": "compute", "nova_compute": "compute",
}
ROLES = ("controller", "network", "compute")


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
        unknown = set(e) - {"name", "host", "roles", "user", "key", "port", "sudo", "bastion"}
        if unknown:
            raise InventoryError(f"{source}: node {e['name']!r}: unknown key(s) {', '.join(sorted(unknown))}")
        roles = e.get("roles") or []
        if isinstance(roles, str):
            roles = [roles]
        nodes.append(Node(name=str(e["name"]), host=str(e.get("host") or ""), roles=[str(r) for r in roles],
                          user=e.get("user"), key=e.get("key"), port=e.get("port"), sudo=e.get("sudo"),
                          jump=str(e["bastion"]).split(",") if e.get("bastion") else [], source=source))
    return nodes


# --- Ansible -------------------------------------------------------------------------------------------------

def _ansible_vars(text: str) -> Dict[str, str]:
    out = {}
    for m in re.finditer(r"(\w+)=(\"[^\"]*\"|'[^']*'|\S+)", text):
        out[m.group(1)] = m.group(2).strip("'\"")
    return out


def _ansible_ini(text: str, source: str):
    """(groups -> hosts, host -> vars, group -> children) from an INI inventory."""
    groups: Dict[str, List[str]] = {}
    hostvars: Dict[str, Dict[str, str]] = {}
    children: Dict[str, List[str]] = {}
    groupvars: Dict[str, Dict[str, str]] = {}
    section, kind = "ungrouped", "hosts"
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip() if not raw.lstrip().startswith(("#", ";")) else ""
        if not line:
            continue
        m = re.match(r"^\[([^\]:]+)(?::(\w+))?\]$", line)
        if m:
            section, kind = m.group(1), m.group(2) or "hosts"
            if kind not in ("hosts", "children", "vars"):
                raise InventoryError(f"{source}: line {n}: unknown section kind {kind!r}")
            groups.setdefault(section, [])
            continue
        if line.startswith("["):
            raise InventoryError(f"{source}: line {n}: malformed section header {line!r}")
        if kind == "children":
            children.setdefault(section, []).append(line.split()[0])
        elif kind == "vars":
            groupvars.setdefault(section, {}).update(_ansible_vars(line.replace(" = ", "=")))
        else:
            name, _, rest = line.partition(" ")
            groups.setdefault(section, []).append(name)
            hostvars.setdefault(name, {}).update(_ansible_vars(rest))
    return groups, hostvars, children, groupvars


def _ansible_yaml(data: dict, source: str):
    groups: Dict[str, List[str]] = {}
    hostvars: Dict[str, Dict[str, str]] = {}
    children: Dict[str, List[str]] = {}
    groupvars: Dict[str, Dict[str, str]] = {}

    def walk(name: str, body: Any):
        body = body or {}
        if not isinstance(body, dict):
            raise InventoryError(f"{source}: group {name!r} must be a mapping")
        groups.setdefault(name, [])
        for host, hv in (body.get("hosts") or {}).items():
            groups[name].append(str(host))
            hostvars.setdefault(str(host), {}).update({k: str(v) for k, v in (hv or {}).items()})
        groupvars.setdefault(name, {}).update({k: str(v) for k, v in (body.get("vars") or {}).items()})
        for child, cbody in (body.get("children") or {}).items():
            children.setdefault(name, []).append(str(child))
            walk(str(child), cbody)
    for top, body in data.items():
        walk(str(top), body)
    return groups, hostvars, children, groupvars


def _members(group: str, groups, children, seen=None) -> List[str]:
    seen = seen if seen is not None else set()
    if group in seen:
        return []
    seen.add(group)
    hosts = list(groups.get(group, []))
    for child in children.get(group, []):
        hosts += _members(child, groups, children, seen)
    return hosts


def from_ansible(text: str, source: str) -> List[Node]:
    """Nodes of an Ansible inventory (INI or YAML); roles from the groups that hold each host."""
    data = None
    if not re.search(r"^\s*\[", text, re.M):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
    if isinstance(data, dict):
        groups, hostvars, children, groupvars = _ansible_yaml(data, source)
    else:
        groups, hostvars, children, groupvars = _ansible_ini(text, source)
    roles: Dict[str, set] = {}
    inherited: Dict[str, Dict[str, str]] = {}
    for group in list(groups) + list(children):
        members = _members(group, groups, children)
        for host in members:
            inherited.setdefault(host, {}).update({k: v for k, v in groupvars.get(group, {}).items()
                                                  if k not in inherited.get(host, {})})
            if group in ROLE_GROUPS:
                roles.setdefault(host, set()).add(ROLE_GROUPS[group])
    nodes = []
    for host in dict.fromkeys(h for hs in groups.values() for h in hs):
        hv = {**groupvars.get("all", {}), **inherited.get(host, {}), **hostvars.get(host, {})}
        conn = hv.get("ansible_connection")
        address = hv.get("ansible_host") or host
        spec = "local://" if conn == "local" else f"ssh://{address}"
        port = hv.get("ansible_port") or hv.get("ansible_ssh_port")
        become = hv.get("ansible_become")
        nodes.append(Node(name=host, host=spec, roles=sorted(roles.get(host, set())),
                          user=hv.get("ansible_user") or hv.get("ansible_ssh_user"),
                          key=hv.get("ansible_ssh_private_key_file") or hv.get("ansible_private_key_file"),
                          port=int(port) if port else None,
                          sudo=None if become is None else become.lower() in ("true", "yes", "1"),
                          source=source))
    return nodes


def load_file(path: str) -> List[Node]:
    """Nodes from a file: the ``nodes:`` YAML schema, or an Ansible inventory (INI or YAML)."""
    path = os.path.expanduser(path)
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise InventoryError(f"inventory {path}: {e.strerror}") from None
    if not re.search(r"^\s*\[", text, re.M):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise InventoryError(f"inventory {path} does not parse as YAML"
                                 + (f" (line {mark.line + 1})" if mark else "")) from None
        if isinstance(data, dict) and "nodes" in data:
            return from_entries(data.get("nodes") or [], path)
    return from_ansible(text, path)


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
            found = Node(name=name, host=f"ssh://{address or name}", source="discovered through the API")
            self.nodes.append(found)
        return found

    def with_role(self, role: str) -> List[Node]:
        return [n for n in self.nodes if role in n.roles]
