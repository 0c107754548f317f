"""Where each tool runs per deployment profile, on the container listings of
tests/data/captured/containers/ (real ``podman ps --format json`` outputs; see its CAPTURED and
tests/data/capture/containers-capture.sh)."""
import os
import pathlib
import shlex
import shutil
import subprocess

import pytest
from testinfra.backend.local import LocalBackend

from pytest_oslab.access import deployment as d
from pytest_oslab.checks.core import CheckFailed
from pytest_oslab.checks.nodes import NodeFacts

DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "captured" / "containers"
NET = "8cc956e4-a1ff-4298-9560-71420c7e13ca"
STATE = f"/var/lib/neutron/dhcp/{NET}"


def listing(name: str) -> d.Listing:
    """A node's LISTING: captured as is (``*-listing.txt``), or a ``podman ps`` capture under its header."""
    text = (DATA / name).read_text()
    return d.parse_listing(text if name.endswith("-listing.txt") else "== podman\n" + text)


def layout(name, profile="auto", **setting):
    return d.resolve("node1", d.Setting(profile=profile, **setting), listing(name) if name else None)


def inside(container, command, runtime="podman"):
    return f"{runtime} exec {container} sh -c {shlex.quote(command)}"


# --- detection -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, profile", [("kolla-lb-listing.txt", "kolla"), ("kolla-ovs-podman-ps.json", "kolla"),
                                           ("kolla-ovn-podman-ps.json", "kolla"), ("tripleo-listing.txt", "tripleo"),
                                           ("none-listing.txt", "host")])
def test_the_profile_is_detected_from_the_containers_a_node_lists(name, profile):
    found = layout(name)
    assert found.profile.name == profile
    assert found.how == ("default" if profile == "host" else "detected")
    assert found.runtime == (None if profile == "host" else "podman")


def test_a_created_container_does_not_count_as_running():
    assert "neutron_ovn_metadata_agent" not in listing("kolla-ovs-podman-ps-a.json").running()
    assert "nova_libvirt" in listing("kolla-ovs-podman-ps-a.json").running()


# --- kolla-ansible --------------------------------------------------------------------------------------------
def test_kolla_ovs_node_runs_each_tool_in_its_container():
    k = layout("kolla-ovs-podman-ps.json", "kolla")
    assert k.wrap("virsh dumpxml instance-1") == inside("nova_libvirt", "virsh dumpxml instance-1")
    for tool in ("ovs-vsctl --format=json list Port", "ovs-ofctl dump-flows br-int", "ovs-appctl bond/show"):
        assert k.wrap(tool) == inside("openvswitch_vswitchd", tool)
    assert k.wrap("nova-status upgrade check") == inside("nova_api", "nova-status upgrade check")
    assert k.wrap("iptables-save -t filter") == inside("neutron_openvswitch_agent", "iptables-save -t filter")


def test_kolla_reads_neutron_state_at_its_path_in_the_dhcp_agent():
    k = layout("kolla-ovs-podman-ps.json", "kolla")
    assert k.wrap(f"cat {STATE}/opts") == inside("neutron_dhcp_agent", f"cat /var/lib/neutron/kolla/dhcp/{NET}/opts")
    assert k.path(STATE) == f"/var/lib/neutron/kolla/dhcp/{NET}"
    assert k.path(f"/var/lib/neutron/kolla/dhcp/{NET}") == f"/var/lib/neutron/kolla/dhcp/{NET}"
    assert k.profile.state_volume == "neutron_metadata_socket"
    # the capture read the agent's file back through the same exec: the volume is where kolla mounts it
    assert (DATA / "kolla-exec-cat-interface.txt").read_text().strip() == "tap8cc956e4-a1"


def test_kolla_dnsmasq_sidecar_is_found_when_listed():
    assert layout("kolla-ovs-podman-ps.json", "kolla").dnsmasq_container(NET) == \
        f"neutron_dhcp_agent_dnsmasq_qdhcp-{NET}"
    assert layout("kolla-lb-podman-ps.json", "kolla").dnsmasq_container(NET) is None  # no wrappers there


def test_kolla_linuxbridge_node_reads_iptables_in_the_linuxbridge_agent():
    k = layout("kolla-lb-listing.txt")
    assert k.wrap("iptables-save -c -t filter") == inside("neutron_linuxbridge_agent", "iptables-save -c -t filter")


def test_on_a_kolla_compute_the_central_ovn_databases_are_asked_from_ovn_controller():
    """compute1 of the lab on ML2/OVN in kolla's containers (captured there): no ovn_nb_db or ovn_sb_db."""
    k = layout("lab-kolla-ovn-compute-podman-ps.json")
    assert k.profile.name == "kolla" and "ovn_sb_db" not in k.running
    for command in ("ovn-sbctl --db=tcp:198.51.100.1:6642 --format=json list Encap",
                    "ovn-nbctl --db=tcp:198.51.100.1:6641 --format=json list Logical_Switch_Port"):
        assert k.wrap(command) == inside("ovn_controller", command)
    assert k.wrap("ovs-vsctl --format=json list Bridge") == inside("openvswitch_vswitchd",
                                                                    "ovs-vsctl --format=json list Bridge")


def test_kolla_ovn_node_runs_ovn_tools_in_the_databases_and_the_controller():
    k = layout("kolla-ovn-podman-ps.json")
    assert k.wrap("ovn-nbctl --format=json list ACL") == inside("ovn_nb_db", "ovn-nbctl --format=json list ACL")
    assert k.wrap("ovn-sbctl --format=json list Chassis") == inside("ovn_sb_db", "ovn-sbctl --format=json list Chassis")
    assert k.wrap("ovn-appctl -t ovn-controller version") == \
        inside("ovn_controller", "ovn-appctl -t ovn-controller version")


def test_host_commands_stay_on_the_host():
    k = layout("kolla-ovs-podman-ps.json", "kolla")
    for command in ("ip -j -d addr show", "ps -ww -C dnsmasq -o pid,args", "ip netns list"):
        assert k.wrap(command) == command


# --- TripleO / RHOSO ------------------------------------------------------------------------------------------
def test_tripleo_node_places_libvirt_in_virtqemud_and_ovs_on_the_host():
    t = layout("tripleo-listing.txt")
    assert t.wrap("virsh domstate instance-1") == inside("nova_virtqemud", "virsh domstate instance-1")
    assert t.wrap("ovs-vsctl --format=json list Bridge") == "ovs-vsctl --format=json list Bridge"
    assert t.wrap("ovn-appctl -t ovn-controller version") == \
        inside("ovn_controller", "ovn-appctl -t ovn-controller version")
    assert t.wrap("iptables-save -t filter") == inside("neutron_ovs_agent", "iptables-save -t filter")
    assert t.wrap(f"cat {STATE}/host") == f"cat {STATE}/host"  # /var/lib/neutron is the host's, bind-mounted
    assert t.dnsmasq_container(NET) == f"neutron-dnsmasq-qdhcp-{NET}"
    assert t.iptables == "nft"


# --- Sunbeam ---------------------------------------------------------------------------------------------------
def test_sunbeam_runs_the_snap_commands_and_says_where_the_control_plane_tools_are():
    s = layout("none-listing.txt", "sunbeam")
    assert s.wrap("virsh dumpxml instance-1") == "openstack-hypervisor.virsh dumpxml instance-1"
    assert s.wrap("ovs-ofctl dump-flows br-int") == "openstack-hypervisor.ovs-ofctl dump-flows br-int"
    assert s.place("ovn-nbctl").kind == "elsewhere"
    assert "Kubernetes" in d.explain(s, "ovn-nbctl list ACL", listing("none-listing.txt"))
    assert s.profile.run_dirs["ovn"] == "/var/snap/openstack-hypervisor/common/run/ovn"


# --- host, overrides ------------------------------------------------------------------------------------------
def test_host_profile_can_name_the_iptables_backend():
    h = layout("none-listing.txt", "host", iptables="legacy")
    assert h.wrap("iptables-save -t filter") == "iptables-legacy-save -t filter"
    assert layout("none-listing.txt").wrap("iptables-save -t filter") == "iptables-save -t filter"


def test_a_tool_mapped_by_the_operator_wins_over_the_profile():
    k = layout("kolla-ovs-podman-ps.json", "kolla",
               tools={"virsh": "host", "ovs-vsctl": "openvswitch_db", "nova-status": {"command": "kolla-nova-status"}})
    assert k.wrap("virsh list") == "virsh list"
    assert k.wrap("ovs-vsctl show") == inside("openvswitch_db", "ovs-vsctl show")
    assert k.wrap("nova-status upgrade check") == "kolla-nova-status upgrade check"
    assert "mapped: nova-status -> kolla-nova-status, ovs-vsctl -> openvswitch_db, virsh -> host" in k.describe()


def test_describe_says_how_the_profile_was_chosen():
    assert layout("kolla-lb-listing.txt").describe().startswith("kolla-ansible (podman; detected: ")
    assert layout("tripleo-listing.txt", "tripleo").describe() == \
        "TripleO / RHOSO data plane (podman; configured; iptables nft)"
    assert layout("none-listing.txt").describe() == "packages on the host (default)"


# --- clouds.yaml ----------------------------------------------------------------------------------------------
def test_the_setting_is_per_node_with_the_cloud_wide_keys_inherited():
    config = d.DeploymentConfig.parse({"profile": "kolla", "runtime": "podman", "tools": {"virsh": "nova_libvirt"},
                                       "nodes": {"compute1": "tripleo", "net1": {"iptables": "nft"}}})
    assert config.for_node("controller").profile == "kolla"
    assert config.for_node("compute1.example.com").profile == "tripleo"
    assert config.for_node("compute1").runtime == "podman"
    assert config.for_node("net1").profile == "kolla" and config.for_node("net1").iptables == "nft"
    assert config.for_node("net1").tools == {"virsh": "nova_libvirt"}
    assert d.DeploymentConfig.parse(None).for_node("x").profile == "auto"
    assert d.DeploymentConfig.parse("sunbeam").for_node("x").profile == "sunbeam"


@pytest.mark.parametrize("value, says", [("openshift", "profile 'openshift'"), ({"runtime": "lxc"}, "runtime 'lxc'"),
                                         ({"iptables": "ebpf"}, "iptables 'ebpf'"), ({"tool": {}}, "unknown key(s) tool"),
                                         ({"tools": {"virsh": 3}}, "tools.virsh"),
                                         ({"nodes": {"c1": {"nodes": {}}}}, "nodes.c1: unknown key(s) nodes")])
def test_a_bad_setting_is_one_line_naming_it(value, says):
    with pytest.raises(d.DeploymentError, match=None) as e:
        d.DeploymentConfig.parse(value)
    assert says in str(e.value) and "\n" not in str(e.value)


# --- a missing tool, explained --------------------------------------------------------------------------------
class NodeWithoutTools:
    """A node whose shell has ``cat`` and no other tool (``virsh`` really exits 127 'not found', a missing file
    really says 'No such file') and lists the containers of ``listing`` (a captured LISTING output)."""

    def __init__(self, listing_file, bin_dir):
        self.listing = (DATA / listing_file).read_text()
        self.ran = []
        self.bin = str(bin_dir)
        os.symlink(shutil.which("cat"), os.path.join(self.bin, "cat"))

    def run(self, command):
        self.ran.append(command)
        if command == d.LISTING:
            out, err, rc = self.listing.encode(), b"", 0
        else:
            done = subprocess.run(["env", f"PATH={self.bin}", "/bin/sh", "-c", command], capture_output=True,
                                  timeout=10)
            out, err, rc = done.stdout, done.stderr, done.returncode
        return LocalBackend().result(rc, command.encode(), out, err)


@pytest.fixture
def facts(tmp_path):
    def make(listing_file, profile):
        bin_dir = tmp_path / f"bin{len(list(tmp_path.iterdir()))}"
        bin_dir.mkdir()
        host = d.DeployedHost(NodeWithoutTools(listing_file, bin_dir), "compute1", d.Setting(profile=profile))
        return NodeFacts(host, "compute1")
    return make


def test_a_missing_tool_names_the_likely_cause(facts):
    with pytest.raises(CheckFailed) as e:
        facts("none-listing.txt", "auto").domain("instance-1")
    assert str(e.value) == ("node compute1: `virsh dumpxml instance-1` exited 127: `virsh` not found on compute1: "
                            "libvirt may run in a container; set oslab.deployment (kolla, tripleo, sunbeam) or map "
                            "virsh in oslab.deployment.tools")


def test_without_the_profile_a_kolla_node_looks_containerised(facts):
    node = facts("kolla-lb-listing.txt", "host")
    with pytest.raises(CheckFailed) as e:
        node.ovs_bridges()
    assert "`ovs-vsctl` not found on compute1: the deployment looks containerised: podman lists kolla-ansible's " \
           "containers (" in str(e.value)
    assert str(e.value).endswith("; set oslab.deployment: kolla")
    with pytest.raises(CheckFailed) as e:
        node.read(f"{STATE}/opts")
    assert f"{STATE}/opts not found on compute1: the deployment looks containerised" in str(e.value)


def test_with_the_profile_the_command_goes_into_the_container_and_a_missing_one_is_named(facts):
    node = facts("kolla-lb-listing.txt", "kolla")
    with pytest.raises(CheckFailed) as e:
        node.domain_state("instance-1")
    assert node.host.ran[-1] == inside("nova_libvirt", "virsh domstate instance-1")
    assert node.host.placed("virsh domstate instance-1") == node.host.ran[-1]
    # podman itself is missing in this shell: the message names the container the tool was looked for in
    assert "`virsh` not found on compute1 in container nova_libvirt (kolla-ansible, podman)" in str(e.value)


def test_dnsmasq_is_looked_for_under_the_deployments_state_path(facts):
    node = facts("kolla-lb-listing.txt", "kolla")
    assert node.path(STATE) == f"/var/lib/neutron/kolla/dhcp/{NET}"
    assert facts("none-listing.txt", "auto").path(STATE) == STATE


def test_without_the_profile_a_dnsmasq_not_found_says_the_deployment_looks_containerised(facts):
    from types import SimpleNamespace
    from pytest_oslab.checks import dhcp
    network = SimpleNamespace(id=NET, name="selfservice")
    with pytest.raises(CheckFailed) as e:
        dhcp.check_dnsmasq(facts("kolla-lb-listing.txt", "host"), network, [], None)
    assert (f"dnsmasq processes for {STATE}/: expected 1, actual 0; the deployment looks containerised: podman "
            "lists kolla-ansible's containers (") in str(e.value)
    assert "set oslab.deployment: kolla" in str(e.value)
    with pytest.raises(CheckFailed) as e:  # a node listing no deployment's containers: nothing to hint
        dhcp.check_dnsmasq(facts("none-listing.txt", "host"), network, [], None)
    assert str(e.value).rstrip().endswith(f"dnsmasq processes for {STATE}/: expected 1, actual 0")
