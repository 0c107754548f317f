"""Upgrade gating: what must not change fails naming it; what may change is reported; files found by cloud."""
import json

import pytest
from conftest import DHCP, NET, P1, P2

from pytest_oslab.report import snapshot


def musts(changes, category=None):
    return [c.what for c in snapshot.must(changes, category)]


def test_an_unchanged_workload_has_no_change(picture, snapshot_of):
    assert snapshot.diff(snapshot_of(picture), snapshot_of(picture, phase="post")) == []


def test_a_port_mac_changed_fails_naming_the_port_its_server_and_both_macs(picture, snapshot_of):
    before = snapshot_of(picture)
    picture["ports"][0]["mac"] = "fa:16:3e:99:99:99"
    changes = snapshot.diff(before, snapshot_of(picture))
    [mac] = snapshot.must(changes, "ports")
    assert mac.what == f"port {P1[:8]} (server workload-1, network workload-net) MAC"
    assert mac.line() == (f"port {P1[:8]} (server workload-1, network workload-net) MAC: expected fa:16:3e:00:00:01 "
                          f"(pre snapshot), actual fa:16:3e:99:99:99")


def test_a_dhcp_host_line_altered_fails_with_what_went_and_what_came(picture, snapshot_of):
    before = snapshot_of(picture)
    picture["nodes"][0]["dhcp"][NET]["host"][1][2] = "10.10.0.99"
    [change] = snapshot.must(snapshot.diff(before, snapshot_of(picture)), "dhcp")
    assert change.what == "dnsmasq host of network workload-net"
    assert change.before.endswith("10.10.0.12] (gone)") and change.after.endswith("10.10.0.99] (new)")
    text = snapshot.failure_text([change], "dhcp", "reports/x-pre.json")
    assert text.startswith("DHCP entries are unchanged") and "[snapshot reports/x-pre.json]" in text


def test_lease_times_do_not_matter_only_which_mac_holds_which_ip(picture, snapshot_of):
    before = snapshot_of(picture)
    picture["nodes"][0]["dhcp"][NET]["leases"].reverse()
    picture["nodes"][0]["dhcp"][NET]["leases"].append(["fa:16:3e:00:0f:62", "10.10.0.2"])  # not a server's
    assert snapshot.diff(before, snapshot_of(picture)) == []


def test_vlan_tags_devices_bindings_and_chains_are_reported_not_failed(picture, snapshot_of):
    picture["nodes"][0]["ovs_tags"] = {f"tap{P1[:11]}": 1}
    before = snapshot_of(picture)
    node = picture["nodes"][0]
    node["ovs_tags"][f"tap{P1[:11]}"] = 4
    node["devices"]["vxlan-571"]["mtu"] = 1400
    node["chains"][P1]["in"].append("-A neutron-linuxbri-i60ad2c85-f -p tcp --dport 80 -j RETURN")
    picture["ports"][1]["host"] = "compute2"
    changes = snapshot.diff(before, snapshot_of(picture))
    assert musts(changes) == []
    told = {c.what for c in changes}
    assert f"local VLAN tag of tap{P1[:11]} on vm" in told and "device vxlan-571 on vm" in told
    assert any(w.startswith(f"iptables in chain of port {P1[:8]}") for w in told)
    assert any("binding" in w for w in told)
    tag = next(c for c in changes if c.what.startswith("local VLAN tag"))
    assert tag.line() == f"local VLAN tag of tap{P1[:11]} on vm: 1 -> 4"


def test_moving_from_linux_bridge_to_ovn_reports_the_driver_and_the_dnsmasq_files(picture, snapshot_of):
    before = snapshot_of(picture)
    picture["nodes"][0]["dhcp"] = {}
    picture["nodes"][0]["devices"] = {}
    changes = snapshot.diff(before, snapshot_of(picture, mechanism=("ovn",)))
    assert musts(changes) == []
    assert {"mechanism drivers and firewall", "dnsmasq host of network workload-net"} <= {c.what for c in changes}


def test_the_same_dhcp_files_gone_without_a_driver_change_fail(picture, snapshot_of):
    before = snapshot_of(picture)
    picture["nodes"][0]["dhcp"] = {}
    assert "dnsmasq host of network workload-net" in musts(snapshot.diff(before, snapshot_of(picture)), "dhcp")


def test_reachability_lost_fails_and_gained_is_only_told(picture, snapshot_of):
    probe = "workload-1 pings workload-2 (10.10.0.12)"
    lost = snapshot.diff(snapshot_of(picture), snapshot_of(picture, reach={probe: False,
                         "workload-1 (10.10.0.11) answers ping from its network's DHCP namespace": True}))
    assert musts(lost, "reachability") == [probe]
    assert lost[0].line() == f"{probe}: expected answers (pre snapshot), actual no answer"
    gained = snapshot.diff(snapshot_of(picture, reach={probe: False}), snapshot_of(picture, reach={probe: True}))
    assert musts(gained) == [] and gained[0].severity == "may"


def test_resources_gone_fail_and_new_ones_are_told(picture, snapshot_of):
    before = snapshot_of(picture)
    picture["servers"].pop()
    picture["ports"] = [p for p in picture["ports"] if p["id"] != P2]
    picture["ports"].append(dict(picture["ports"][0], id="new-port-0000", mac="fa:16:3e:12:34:56"))
    changes = snapshot.diff(before, snapshot_of(picture))
    gone = musts(changes)
    assert "server workload-2 (5aa817f3) status" in gone
    assert any(w.startswith(f"port {P2[:8]}") for w in gone)
    assert not any("new-port" in w for w in gone)
    assert DHCP  # the DHCP port itself is a port like the others: its MAC must stay too


def test_snapshots_are_saved_scrubbed_and_the_newest_pre_of_a_cloud_is_found(tmp_path, picture, snapshot_of):
    first = snapshot.save(snapshot_of(picture), tmp_path / "oslab-lab-20250101-000000-pre.json")
    newest = snapshot.save(snapshot_of(picture), tmp_path / "oslab-lab-20250102-000000-pre.json")
    snapshot.save(snapshot_of(picture), tmp_path / "oslab-lab-admin-20250103-000000-pre.json")
    snapshot.save(snapshot_of(picture), tmp_path / "oslab-lab-20250104-000000-post.json")
    assert snapshot.newest_pre(tmp_path, "lab") == newest
    assert snapshot.load(first)["workload"] == "2501011200abcd"
    with pytest.raises(snapshot.SnapshotError, match="no pre snapshot of cloud 'other'"):
        snapshot.newest_pre(tmp_path, "other")
    (tmp_path / "bad.json").write_text(json.dumps({"format": "else"}))
    with pytest.raises(snapshot.SnapshotError, match="not a pytest-oslab snapshot"):
        snapshot.load(tmp_path / "bad.json")


def test_the_gate_section_lists_must_not_change_first(picture, snapshot_of):
    before = snapshot_of(picture)
    picture["ports"][0]["mac"] = "fa:16:3e:99:99:99"
    picture["nodes"][0]["devices"]["vxlan-571"]["mtu"] = 1400
    changes = snapshot.diff(before, snapshot_of(picture))
    text = snapshot.gate_html(snapshot.gate("post", "2501011200abcd", "reports/b.json", changes, "reports/a.json"))
    assert "must not change" in text and text.index("must not change") < text.index("may change")
    assert "change(s) of what must not change" in text and "fa:16:3e:99:99:99" in text
