"""Node inventories: the clouds.yaml ``oslab.nodes`` schema, a nodes file, Ansible inventories through Ansible."""
import os

import pytest

from pytest_oslab.access.inventory import Inventory, InventoryError, load_file
from pytest_oslab.access.nodes import host_spec
from pytest_oslab.secrets import SECRETS

KOLLA_INI = """
# kolla-ansible multinode, trimmed
[control]
ctl01 ansible_host=10.0.0.11 ansible_user=kolla ansible_ssh_private_key_file=/home/k/.ssh/id_rsa

[network]
ctl01

[compute]
cmp01 ansible_host=10.0.0.21
cmp02 ansible_host=10.0.0.22 ansible_port=2222 ansible_become=true

[deployment]
localhost ansible_connection=local

[baremetal:children]
control
network
compute

[compute:vars]
ansible_user=stack
"""

OSA_YAML = """
all:
  vars:
    ansible_user: root
  children:
    shared-infra_hosts:
      hosts:
        infra1: {ansible_host: 172.29.236.11}
    network_hosts:
      hosts:
        infra1: {}
    compute_hosts:
      hosts:
        compute1:
          ansible_host: 172.29.236.21
          ansible_user: ubuntu
"""


def test_clouds_yaml_nodes_schema():
    inv = Inventory.build([{"name": "vm", "host": "local://", "roles": ["controller", "network", "compute"]}])
    node = inv.find("vm")
    assert node.is_local and node.roles == ["controller", "network", "compute"]
    assert inv.find("vm.example.org") is node  # the API may report a FQDN
    assert inv.with_role("compute") == [node]


def test_unknown_node_key_is_one_line():
    with pytest.raises(InventoryError, match=r"node 'vm': unknown key\(s\) hostt"):
        Inventory.build([{"name": "vm", "hostt": "local://"}])


def test_kolla_ini_inventory(tmp_path):
    path = tmp_path / "multinode"
    path.write_text(KOLLA_INI)
    nodes = {n.name: n for n in load_file(str(path))}
    assert nodes["ctl01"].host == "ssh://10.0.0.11" and nodes["ctl01"].user == "kolla"
    assert nodes["ctl01"].key == "/home/k/.ssh/id_rsa" and nodes["ctl01"].roles == ["controller", "network"]
    assert nodes["cmp01"].user == "stack" and nodes["cmp01"].roles == ["compute"]  # [compute:vars]
    assert nodes["cmp02"].port == 2222 and nodes["cmp02"].sudo is True
    assert nodes["localhost"].is_local and nodes["localhost"].roles == []


def test_openstack_ansible_yaml_inventory(tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text(OSA_YAML)
    nodes = {n.name: n for n in load_file(str(path))}
    assert nodes["infra1"].host == "ssh://172.29.236.11" and nodes["infra1"].user == "root"
    assert nodes["infra1"].roles == ["controller", "network"]
    assert nodes["compute1"].user == "ubuntu" and nodes["compute1"].roles == ["compute"]


def test_nodes_file_and_config_first(tmp_path):
    path = tmp_path / "nodes.yaml"
    path.write_text("nodes:\n  - {name: a, host: 'ssh://stack@10.1.1.1', roles: [compute]}\n"
                    "  - {name: b, host: 10.1.1.2}\n")
    inv = Inventory.build([{"name": "a", "host": "local://"}], file=str(path), default_user="ops")
    assert inv.find("a").is_local and inv.find("b").host == "10.1.1.2"


def test_nodes_missing_from_inventory_are_discovered_with_defaults():
    inv = Inventory([], default_user="stack", default_key="~/.ssh/k")
    node = inv.node("compute-7", "192.0.2.7")
    assert node.host == "ssh://192.0.2.7" and node.source == "the API alone"
    spec, kwargs, sudo = host_spec(node, inv.default_user, inv.default_key, 10)
    assert spec == "paramiko://stack@192.0.2.7" and kwargs["ssh_identity_file"].endswith("/.ssh/k") and sudo
    assert inv.node("compute-7") is node


def test_host_specs_for_each_kind_of_node():
    from pytest_oslab.access.inventory import Node
    assert host_spec(Node("n", "ssh://root@h:2200"), None, None, 5)[0::2] == ("paramiko://root@h:2200", False)
    assert host_spec(Node("n", "h", port=2222, user="u"), None, None, 5)[0] == "paramiko://u@h:2222"
    assert host_spec(Node("n", "docker://c1"), None, None, 5)[0] == "docker://c1"


def test_unreadable_or_broken_inventory_files_are_one_line(tmp_path):
    with pytest.raises(InventoryError, match="inventory .*/nope: No such file or directory"):
        load_file(str(tmp_path / "nope"))
    bad = tmp_path / "bad.ini"
    bad.write_text("[compute\nhost1\n")
    with pytest.raises(InventoryError, match=r"bad.ini: Ansible cannot read it: ini: Failed to parse inventory"):
        load_file(str(bad))


def test_inventory_option_is_used_by_the_run(pytester, clouds, closed_port_cloud, tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(KOLLA_INI)
    clouds({"lab": closed_port_cloud()})
    pytester.makepyfile("""
        from pytest_oslab.stash import SESSION
        def test_inventory(request):
            inv = request.config.stash[SESSION].inventory
            assert sorted(n.name for n in inv.with_role("compute")) == ["cmp01", "cmp02"]
    """)
    pytester.runpytest("--cloud", "lab", "--oslab-inventory", str(inventory)).assert_outcomes(passed=1)


# --- Ansible inventories as Ansible reads them (recorded kolla-ansible, OpenStack-Ansible, devstack/Zuul shapes) ---

DATA = os.path.join(os.path.dirname(__file__), "data", "inventories")


def _by_name(nodes):
    return {n.name: n for n in nodes}


def test_kolla_multinode_ranges_group_vars_host_vars_bastion_and_become_password():
    nodes = _by_name(load_file(os.path.join(DATA, "kolla", "multinode")))
    assert sorted(nodes) == ["compute01", "compute02", "control01", "control02", "control03", "localhost",
                             "network01"]
    assert nodes["control02"].roles == ["controller"] and nodes["network01"].roles == ["network"]
    assert nodes["compute01"].roles == ["compute"]
    c2 = nodes["compute02"]
    assert (c2.host, c2.port, c2.user, c2.key, c2.sudo) == ("ssh://10.20.0.32", 2202, "kolla", "/etc/kolla/id_rsa",
                                                           True)
    assert c2.jump == ["ops@jump.example.org:2222"] and c2.proxy_command is None
    assert nodes["control01"].host == "ssh://10.20.0.11" and nodes["control03"].host == "ssh://control03"
    assert nodes["localhost"].host == "local://"
    password = "Become-pw-7Qx2-never-shown"
    assert c2.sudo_password == password and password not in repr(c2)
    assert password not in SECRETS.redact(f"sudo -S with {password}")


def test_openstack_ansible_json_inventory_with_hosts_as_lists():
    nodes = _by_name(load_file(os.path.join(DATA, "openstack_inventory.json")))
    assert nodes["compute1"].roles == ["compute"] and nodes["compute1"].host == "ssh://172.29.236.21"
    assert nodes["infra1"].roles == ["controller", "network"]
    assert nodes["infra1_neutron_server_container-5e6d7c8b"].host == "ssh://172.29.238.101"


def test_a_devstack_zuul_inventory_with_a_proxycommand():
    nodes = _by_name(load_file(os.path.join(DATA, "devstack.yaml")))
    assert nodes["compute1"].roles == ["compute"] and nodes["controller"].roles == []
    assert nodes["controller"].user == "zuul" and nodes["controller"].host == "ssh://198.51.100.10"
    assert nodes["compute1"].proxy_command == "ssh -W %h:%p -q zuul@bastion.example.org"


def test_a_dynamic_inventory_script_is_run_by_ansible():
    nodes = _by_name(load_file(os.path.join(DATA, "dynamic.py")))
    assert sorted(nodes) == ["cmp-a.example.org", "cmp-b.example.org", "ctl.example.org"]
    a = nodes["cmp-a.example.org"]
    assert (a.host, a.user, a.port, a.roles) == ("ssh://198.51.100.201", "ops", 2222, ["compute"])
    assert nodes["ctl.example.org"].roles == ["controller"]


def test_without_ansible_core_an_ansible_inventory_is_one_line(monkeypatch):
    from pytest_oslab.access import ansible
    monkeypatch.setattr(ansible, "ansible_inventory", lambda: None)
    path = os.path.join(DATA, "kolla", "multinode")
    with pytest.raises(InventoryError) as missing:
        load_file(path)
    assert str(missing.value) == (f"inventory {path}: reading an Ansible inventory needs ansible-core: "
                                  f"pip install 'pytest-oslab[ansible]'")
