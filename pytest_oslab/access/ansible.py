"""Ansible inventories read as Ansible reads them: through ``ansible-inventory --list`` of ansible-core.

Ansible itself parses the file (INI, YAML, a directory, a dynamic inventory script, an inventory plugin's
config), expands ranges (``ctl[01:03]``) and merges ``group_vars``/``host_vars`` beside it; we read its JSON
(the dynamic-inventory format: groups with ``hosts`` lists and ``children``, ``_meta.hostvars``). A JSON file
already in that format (OpenStack-Ansible's ``openstack_inventory.json``, what its dynamic inventory script
prints) is read as Ansible reads the script's output, without running anything.

Per host: ``ansible_host``, ``ansible_user``, ``ansible_port``, ``ansible_ssh_private_key_file``,
``ansible_connection: local``, ``ansible_become``, ``ansible_become_password`` (kept as a secret: masked in
everything written, never shown), ``ansible_ssh_common_args``/``ansible_ssh_extra_args`` (their ``-J``,
``ProxyJump``, ``ProxyCommand``: the node's bastion). Roles come from the groups that hold each host.

ansible-core is an optional dependency (``pip install 'pytest-oslab[ansible]'``); without it an Ansible inventory
is one line saying so. What this module gives is node entries (the ``nodes:`` schema of
``pytest_oslab.access.inventory``), or ``AnsibleError`` with one line.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any, Dict, List, Optional

from pytest_oslab.access.ssh import proxy_from_args
from pytest_oslab.secrets import SECRETS

ROLE_GROUPS = {  # Ansible group -> our role (kolla-ansible, OpenStack-Ansible, common hand-written names)
    "control": "controller", "controller": "controller", "controllers": "controller", "infra_hosts": "controller",
    "shared-infra_hosts": "controller", "os-infra_hosts": "controller", "identity_hosts": "controller",
    "network": "network", "network_hosts": "network", "neutron_agent": "network", "network-agent_hosts": "network",
    "network-northd_hosts": "network", "network-gateway_hosts": "network",
    "compute": "compute", "computes": "compute", "compute_hosts": "compute", "nova_compute": "compute",
    "subnode": "compute",  # devstack's multinode jobs
}
MISSING = "reading an Ansible inventory needs ansible-core: pip install 'pytest-oslab[ansible]'"
BOUND = 120.0  # seconds for ansible-inventory (a dynamic inventory script may ask a slow CMDB)


class AnsibleError(Exception):
    """An inventory Ansible cannot read (or no ansible-core); one line naming the file."""


def ansible_inventory() -> Optional[str]:
    """The ``ansible-inventory`` beside this Python (its venv) or on PATH."""
    here = os.path.dirname(sys.executable)
    return shutil.which("ansible-inventory", path=os.pathsep.join([here, os.environ.get("PATH", "")]))


def listing(path: str) -> Dict[str, Any]:
    """``ansible-inventory -i PATH --list`` as a dict; InventoryError (one line) when Ansible cannot read it."""
    program = ansible_inventory()
    if program is None:
        raise AnsibleError(f"inventory {path}: {MISSING}")
    env = {**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_DEPRECATION_WARNINGS": "0"}
    try:
        done = subprocess.run([program, "-i", path, "--list"], capture_output=True, text=True, env=env,
                              timeout=BOUND)
    except subprocess.TimeoutExpired:
        raise AnsibleError(f"inventory {path}: ansible-inventory did not finish within {BOUND:.0f}s") from None
    if done.returncode != 0:
        raise AnsibleError(f"inventory {path}: Ansible cannot read it: {_why(done.stderr)}")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise AnsibleError(f"inventory {path}: ansible-inventory printed no JSON") from None


def _why(stderr: str) -> str:
    """The plugins' own reasons (``ini: ...; yaml: ...``), else Ansible's last error line; secrets masked."""
    reasons = []
    for line in stderr.splitlines():
        if line.startswith("[WARNING]: Failed to parse inventory with '"):
            plugin, _, reason = line[len("[WARNING]: Failed to parse inventory with '"):].partition("' plugin: ")
            reasons.append(f"{plugin}: {reason.strip()}")
    if not reasons:
        errors = [line for line in stderr.splitlines() if line.startswith("[ERROR]")] or stderr.strip().splitlines()
        reasons = [(errors or ["no reason given"])[-1].replace("[ERROR]: ", "")]
    return SECRETS.redact("; ".join(reasons))


def is_listing(data: Any) -> bool:
    """True for the dynamic-inventory JSON format (``_meta``, or a group whose ``hosts`` is a list)."""
    return isinstance(data, dict) and ("_meta" in data or any(
        isinstance(g, dict) and isinstance(g.get("hosts"), list) for g in data.values()))


def _members(group: str, data: Dict[str, Any], seen: set) -> List[str]:
    if group in seen or not isinstance(data.get(group), dict):
        return []
    seen.add(group)
    body = data[group]
    hosts = list(body.get("hosts") or [])
    for child in body.get("children") or []:
        hosts += _members(child, data, seen)
    return hosts


def _depth(group: str, parents: Dict[str, List[str]], seen=()) -> int:
    ups = [p for p in parents.get(group, []) if p not in seen]
    return 1 + max((_depth(p, parents, seen + (group,)) for p in ups), default=-1)


def entries_of(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Node entries of a dynamic-inventory listing: group vars applied from ``all`` down, host vars last."""
    groups = {name: body for name, body in data.items() if name != "_meta" and isinstance(body, dict)}
    hostvars = (data.get("_meta") or {}).get("hostvars") or {}
    parents: Dict[str, List[str]] = {}
    for name, body in groups.items():
        for child in body.get("children") or []:
            parents.setdefault(child, []).append(name)
    members = {name: _members(name, groups, set()) for name in groups}
    variables: Dict[str, Dict[str, Any]] = {}
    roles: Dict[str, set] = {}
    for name in sorted(groups, key=lambda g: _depth(g, parents)):
        for host in members[name]:
            variables.setdefault(host, {}).update(groups[name].get("vars") or {})
            if name in ROLE_GROUPS:
                roles.setdefault(host, set()).add(ROLE_GROUPS[name])
    hosts = list(dict.fromkeys([h for name in groups for h in members[name]] + list(hostvars)))
    return [_entry(host, {**(groups.get("all", {}).get("vars") or {}), **variables.get(host, {}),
                          **(hostvars.get(host) or {})}, sorted(roles.get(host, set()))) for host in hosts]


def _entry(host: str, hv: Dict[str, Any], roles: List[str]) -> Dict[str, Any]:
    become = hv.get("ansible_become")
    password = hv.get("ansible_become_password") or hv.get("ansible_become_pass") or hv.get("ansible_sudo_pass")
    if isinstance(password, str):
        SECRETS.add(password)
    else:
        password = None  # vault-encrypted ({"__ansible_vault": ...}): ansible-inventory does not decrypt it
    jump, proxy = proxy_from_args(" ".join(str(hv.get(k) or "") for k in
                                           ("ansible_ssh_common_args", "ansible_ssh_extra_args")))
    port = hv.get("ansible_port") or hv.get("ansible_ssh_port")
    local = hv.get("ansible_connection") == "local"
    return {"name": host, "host": "local://" if local else f"ssh://{hv.get('ansible_host') or host}",
            "roles": roles, "user": hv.get("ansible_user") or hv.get("ansible_ssh_user"),
            "key": hv.get("ansible_ssh_private_key_file") or hv.get("ansible_private_key_file"),
            "port": int(port) if port else None,
            "sudo": None if become is None else str(become).lower() in ("true", "yes", "1"),
            "bastion": ",".join(jump) or None, "proxy_command": proxy, "sudo_password": password}


def load(path: str, text: Optional[str] = None) -> List[Dict[str, Any]]:
    """Node entries of the Ansible inventory at ``path`` (``text``: its content when it is a file already read)."""
    if text is not None and text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if is_listing(data):  # OpenStack-Ansible's openstack_inventory.json: what its script prints
            return entries_of(data)
    return entries_of(listing(path))
