"""Choosing the lab's OpenStack versions from apt's real answers (captured on the lab: tests/data/captured/upgrade),
the lab's pin, and the upgrade's plan."""
import io
import json
import pathlib
from datetime import datetime

from pytest_oslab.facts.nova_status import parse_upgrade_check
from pytest_oslab.lab import release, upgrade
from pytest_oslab.lab.context import Lab
from pytest_oslab.lab.daemons import Daemon
from pytest_oslab.lab.plan import steps as lab_steps

CAPTURED = pathlib.Path(__file__).resolve().parents[2] / "data" / "captured" / "upgrade"


def _captured():
    installed = release.installed_openstack((CAPTURED / "dpkg-query-W.txt").read_text())
    madison = release.parse_madison((CAPTURED / "apt-cache-madison.txt").read_text())
    return installed, madison


def _lab(tmp_path):
    lab = Lab(root=tmp_path, etc=tmp_path / "etc", logs=tmp_path / "log")
    lab.state.mkdir(parents=True, exist_ok=True)
    return lab


def test_installed_openstack_packages_are_the_openstack_teams():
    installed, _ = _captured()
    assert installed["python3-nova"] == "2:26.2.2-1~deb12u5" and installed["placement-api"] == "8.0.0-2"
    assert "mariadb-server" not in installed and len(installed) == 131


def test_madison_rows_keep_apts_order_and_suite():
    _, madison = _captured()
    assert madison["python3-nova"] == [("2:26.2.2-1~deb12u5", "bookworm-security"),
                                       ("2:26.2.2-1~deb12u4", "bookworm")]
    assert madison["placement-api"] == [("8.0.0-2", "bookworm")]


def test_candidates_are_the_packages_the_security_suite_serves_newer():
    cands = {c.package: c for c in release.candidates(*_captured())}
    assert cands["python3-nova"].point == "2:26.2.2-1~deb12u4"
    assert cands["python3-neutron"] == release.Candidate("python3-neutron", "2:21.0.0-7+deb12u1",
                                                         point="2:21.0.0-7", security="2:21.0.0-7+deb12u1")
    assert cands["keystone"].point == "2:22.0.2-0+deb12u3" and cands["glance-api"].point == "2:25.1.0-2+deb12u3"
    # placement and the libraries (oslo, clients) are the same in both suites: nothing to change
    assert "placement-api" not in cands and "python3-keystoneauth1" not in cands
    assert len(cands) == 23


def test_going_to_the_point_release_downgrades_each_and_pins_it():
    cands = release.candidates(*_captured())
    todo = release.to_install(cands, "point")
    assert "python3-nova=2:26.2.2-1~deb12u4" in todo and len(todo) == 23
    assert release.to_install(cands, "security") == []
    pin = release.pin_text(cands, "point")
    assert "Package: neutron-server\nPin: version 2:21.0.0-7\nPin-Priority: 1001\n" in pin
    assert pin.count("Package: ") == 23
    assert release.pin_text(cands, "security") is None


def test_the_pin_holds_each_source_so_a_driver_switchs_agent_comes_at_the_point_release_too():
    text = (CAPTURED / "dpkg-query-W-source.txt").read_text()
    installed, madison = release.installed_openstack(text), release.parse_madison(
        (CAPTURED / "apt-cache-madison.txt").read_text())
    cands = release.candidates(installed, madison, release.sources_of(text))
    assert {c.source for c in cands} == {"nova", "neutron", "keystone", "glance"}
    pin = release.pin_text(cands, "point")
    # neutron-openvswitch-agent is not installed: only its source's pin holds it at the point release
    assert "Package: src:neutron\nPin: version 2:21.0.0-7\nPin-Priority: 1001\n" in pin
    assert "Package: src:nova\nPin: version 2:26.2.2-1~deb12u4\n" in pin
    assert pin.count("Package: ") == 23 + 4


def test_a_package_already_at_the_point_release_is_left_alone():
    installed, madison = _captured()
    installed["python3-nova"] = "2:26.2.2-1~deb12u4"
    todo = release.to_install(release.candidates(installed, madison), "point")
    assert "python3-nova=2:26.2.2-1~deb12u4" not in todo and len(todo) == 22


def test_the_release_is_recorded_and_security_by_default(tmp_path):
    lab = _lab(tmp_path)
    assert release.recorded(lab) == "security"
    release.record(lab, "point")
    assert release.recorded(lab) == "point"


def test_the_release_steps_come_right_after_the_packages(tmp_path):
    plan = release.with_release(lab_steps(_lab(tmp_path)), "point", upgrade.openstack_daemons)
    names = [s.name for s in plan]
    assert names[:4] == ["packages", "release", "stale-daemons", "host-tools"]
    assert plan[1].release == "point"


def test_a_daemon_runs_its_projects_library():
    installed, _ = _captured()
    assert release.package_of(Daemon("nova-compute", ["/usr/bin/nova-compute"]), installed) == "python3-nova"
    assert release.package_of(Daemon("placement", ["/usr/bin/uwsgi"]), installed) == "python3-placement"
    assert release.package_of(Daemon("mariadb", ["/usr/sbin/mariadbd"]), installed) is None


def test_the_upgrade_restarts_the_control_plane_then_agents_then_computes_then_compute_nodes(tmp_path):
    lab = _lab(tmp_path)
    names = [s.name for s in upgrade.steps(lab)]
    assert names == ["upgrade-packages", "db-migrations", "restart-control-plane", "restart-network-agents",
                     "restart-computes", "restart-compute-nodes", "compute-and-agents-ready", "dhcp-served", "nova-status"]
    groups = {name: [d.name for d in group(lab)] for name, group in upgrade.ROLLING_ORDER}
    assert groups["control-plane"][0] == "keystone" and "neutron-server" in groups["control-plane"]
    assert groups["network-agents"] == ["neutron-linuxbridge-agent", "neutron-dhcp-agent",
                                        "neutron-metadata-agent", "neutron-l3-agent"]
    assert groups["computes"] == ["nova-compute"]


def test_nova_status_after_the_upgrade_parses_as_all_success():
    checks = parse_upgrade_check((CAPTURED / "nova-status-upgrade-check.txt").read_text())
    assert "Older than N-1 computes" in [c.name for c in checks]
    assert [c.name for c in checks if not c.ok] == []


def test_the_upgrades_progress_lines_are_kept_with_their_time_run_after_run(tmp_path):
    path = tmp_path / "timeline.json"
    first = upgrade.TimelineProgress(path, out=io.StringIO())
    first.line("upgrade-packages ...")
    first.line("upgrade-packages ... ok (1.0s)")
    upgrade.TimelineProgress(path, out=io.StringIO()).line("upgrade-packages ... already done")
    runs = json.loads(path.read_text())
    assert [[l["line"] for l in r["lines"]] for r in runs] == [
        ["upgrade-packages ...", "upgrade-packages ... ok (1.0s)"], ["upgrade-packages ... already done"]]
    assert runs[0]["started"] <= runs[0]["lines"][0]["time"] <= runs[0]["lines"][1]["time"] <= runs[1]["started"]


def test_a_restarted_service_counts_once_its_record_shows_a_report_since():
    # as the lab's APIs give them: nova's services' updated_at, neutron's agents' last_heartbeat_at
    assert upgrade._utc("2026-11-25T23:35:57.000000") == datetime(2026, 11, 25, 23, 35, 57)
    assert upgrade._utc("2026-11-25 23:35:46") == datetime(2026, 11, 25, 23, 35, 46)
    assert upgrade._utc(None) is None
    assert [n for n in ("nova-api", "nova-compute", "nova-conductor", "neutron-server", "neutron-l3-agent",
                        "keystone", "glance-api") if upgrade.reports(n)] == ["nova-compute", "nova-conductor",
                                                                             "neutron-l3-agent"]
