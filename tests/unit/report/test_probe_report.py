"""The probe's files read back into series (pytest_oslab.probe.control), its figures and its report section, on
the agent's real files (tests/data/captured/probe); the versions before and after from real dpkg listings."""
import pathlib
import re

from pytest_oslab.facts import packages
from pytest_oslab.probe import control
from pytest_oslab.report import snapshot
from pytest_oslab.report.probe import BUCKETS, figures, probe_html

DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "captured"
PROBE = DATA / "probe"


def _agent():
    return control.Agent("vm", "qdhcp-1d6b4d03", control.remote_dir("2611260200ab"),
                         [control.Target("workload-1", "10.250.0.2", "e6:99:3a:0a:1e:81")],
                         leases="/var/lib/neutron/dhcp/1d6b4d03/leases", pid=4242)


def _texts():
    return {p.name: p.read_text() for p in PROBE.iterdir() if p.name != "CAPTURED"}


def test_the_agents_files_make_a_series_per_guest_and_path():
    lines = [s.line() for s in control.series(_agent(), _texts())]
    assert lines == ["workload-1 ICMP from qdhcp-1d6b4d03: lost 12 of 84, longest gap 3.3 s",
                     "workload-1 TCP 22 from qdhcp-1d6b4d03: lost 10 of 18, longest gap 10.0 s",
                     "workload-1 DHCP lease (dnsmasq leases): lost 0 of 9, longest gap 0.0 s (1 renewal seen)"]


def test_a_guest_the_agent_left_no_file_for_shows_nothing_measured():
    agent = _agent()
    agent.targets.append(control.Target("workload-2", "10.250.0.3", "fa:16:3e:00:00:02"))
    second = [s for s in control.series(agent, _texts()) if s.guest == "workload-2"]
    assert [s.total for s in second] == [0, 0, 0]


def test_the_record_of_what_pre_started_survives_the_round_trip(tmp_path):
    record = control.Record("2611260200ab", [_agent()])
    record.save(tmp_path / "lab-probe-2611260200ab.json")
    again = control.Record.load(tmp_path / "lab-probe-2611260200ab.json")
    assert again == record and again.agents[0].targets[0].mac == "e6:99:3a:0a:1e:81"


def test_figures_name_what_is_over_the_limits_and_the_chart_is_inline_svg():
    series = control.series(_agent(), _texts())
    fig = figures(series, max_loss=5, max_gap=5, notes=["agent 4242 on vm stopped"])
    assert fig["over"] == ["workload-1 ICMP from qdhcp-1d6b4d03: lost 12 of 84, longest gap 3.3 s: loss 14.3% "
                           "over --oslab-max-loss 5%",
                           "workload-1 TCP 22 from qdhcp-1d6b4d03: lost 10 of 18, longest gap 10.0 s: loss 55.6% "
                           "over --oslab-max-loss 5%; gap 10.0 s over --oslab-max-gap 5 s"]
    assert all(len(s["buckets"]) == BUCKETS for s in fig["series"])
    html = probe_html(fig)
    assert "2 over the limits" in html and "lost 12 of 84 (14.3%)" in html and "agent 4242 on vm stopped" in html
    svg = re.search(r"<svg .*?</svg>", html, re.S).group(0)
    assert svg.count("<polyline") >= 3 and "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html


def test_without_limits_the_figures_are_reported_only():
    fig = figures(control.series(_agent(), _texts()), None, None, [])
    assert fig["over"] == [] and "within the limits</span>: no --oslab-max-loss; no --oslab-max-gap" in probe_html(fig)


def test_versions_before_and_after_show_each_package_and_api_that_moved():
    after = packages.installed((DATA / "lab" / "dpkg-query-W-status.txt").read_text())
    assert after["python3-nova"] == "2:26.2.2-1~deb12u5" and "mariadb-server" in after
    before = dict(after, **{"python3-nova": "2:26.2.2-1~deb12u4", "neutron-common": "2:21.0.0-7"})
    del before["adduser"]
    rows = snapshot.version_changes(
        {"versions": {"services": [["compute", "v2.1, microversions 2.1-2.93"]],
                      "packages": {"vm": sorted(map(list, before.items()))}}},
        {"versions": {"services": [["compute", "v2.1, microversions 2.1-2.95"]],
                      "packages": {"vm": sorted(map(list, after.items())), "compute1": list(after.items())}}})
    assert rows == [("API", "compute", "v2.1, microversions 2.1-2.93", "v2.1, microversions 2.1-2.95"),
                    ("node vm", "adduser", "absent", after["adduser"]),
                    ("node vm", "neutron-common", "2:21.0.0-7", "2:21.0.0-7+deb12u1"),
                    ("node vm", "python3-nova", "2:26.2.2-1~deb12u4", "2:26.2.2-1~deb12u5")]
    html = snapshot.gate_html(snapshot.gate("post", "w", "b.json", [], "a.json", rows))
    assert "Versions before and after (4 changed)" in html and "2:26.2.2-1~deb12u5" in html


def test_a_package_named_passwd_keeps_its_version_through_the_saved_snapshot(tmp_path):
    saved = snapshot.save({"versions": {"packages": {"vm": [["passwd", "1:4.13+dfsg1-1+deb12u2"]]}}},
                          tmp_path / "s.json")
    assert '"1:4.13+dfsg1-1+deb12u2"' in saved.read_text()


def test_a_half_installed_package_is_not_counted():
    assert packages.installed("a\t1.0\tii \nb\t2.0\trc \nc\t3.0\tiU \n") == {"a": "1.0"}
