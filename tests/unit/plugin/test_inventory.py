"""Node inventories: the clouds.yaml ``oslab.nodes`` schema, a nodes file, Ansible INI and YAML inventories."""
import pytest

from pytest_oslab.access.inventory import Inventory, InventoryError, load_file
from pytest_oslab.access.nodes import host_spec

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
    assert node.host == "ssh://192.0.2.7" and node.source == "discovered through the API"
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
    with pytest.raises(InventoryError, match="line 1: malformed section header"):
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
