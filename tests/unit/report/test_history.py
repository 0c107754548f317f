"""The nightly history on real records: five runs of C1 and C3 against the lab with the metadata agent stopped before
run 4 and healed before run 5, the record that sixth run was writing when it was killed, and a full suite run with
its servers' boot timings (tests/data/history, written by tests/lab/test_history.py and a suite run on the lab).
Recording and reading, pruning, flips, new against fixed, a damaged file skipped, the index page as a browser
shows it, and the plugin in real pytest runs (pytester), under xdist too."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_oslab import cli
from pytest_oslab.report import history, index

DATA = Path(__file__).resolve().parents[2] / "data" / "history"
FIVE = DATA / "lab-c1-c3"
SUITE = DATA / "lab-suite"
C1 = "suites/test_control_plane.py::test_every_compute_service_is_enabled_and_up"
C3 = "suites/test_control_plane.py::test_every_network_agent_is_alive_and_admin_up"


def report_dir(tmp_path: Path, *sources: Path) -> Path:
    """A report directory whose history holds the records of ``sources`` (and an empty report file per run)."""
    directory = tmp_path / "reports"
    history.history_dir(directory).mkdir(parents=True)
    for source in sources:
        for path in source.glob("*.json"):
            shutil.copy(path, history.history_dir(directory) / path.name)
            record = json.loads(path.read_text())
            for name in (record["report"], record["junit"]):
                (directory / name).write_text("")
    return directory


def test_five_real_runs_read_back_as_one_series_oldest_first(tmp_path):
    runs, problems = history.read_runs(report_dir(tmp_path, FIVE))
    assert not problems and len(runs) == 5
    assert [r.start for r in runs] == sorted(r.start for r in runs)
    assert list(history.series_of(runs)) == [("lab", "linuxbridge", "iptables", "")]
    assert [r.counts()["failed"] for r in runs] == [0, 0, 0, 1, 0]
    assert [r.exitstatus for r in runs] == [0, 0, 0, 1, 0]
    failed = runs[3].results()[C3]
    assert failed.facts == ["C3"]
    assert failed.message.startswith("every network agent is alive and admin-up, and the documented ones run: "
                                     "Metadata agent on vm (neutron-metadata-agent) alive: expected True")


def test_run_four_s_failure_is_new_and_run_five_s_is_fixed(tmp_path):
    runs, _ = history.read_runs(report_dir(tmp_path, FIVE))
    found = [history.changes(runs[i - 1] if i else None, run) for i, run in enumerate(runs)]
    assert [(c.new, c.fixed, c.still) for c in found] == [([], [], [])] * 3 + [([C3], [], []), ([], [C3], [])]
    assert all(not c.environment for c in found)


def test_flips_count_each_change_between_passing_and_failing_and_a_skip_is_none(tmp_path):
    runs, _ = history.read_runs(report_dir(tmp_path, FIVE))
    assert history.flips(runs) == {C1: 0, C3: 2}
    runs[0].results()[C3].outcome = "error"  # an error counts as failing
    runs[1].results()[C3].outcome = "skipped"  # error, skipped, passed: one flip
    assert history.flips(runs) == {C1: 0, C3: 3}


def test_the_environment_change_between_two_runs_is_named():
    suite = history.Run.from_dict(json.loads(next(SUITE.glob("*.json")).read_text()))
    upgraded = history.Run.from_dict(suite.to_dict())
    upgraded.services = [(t, "v2.1, microversions 2.1-2.95" if t == "compute" else v) for t, v in suite.services]
    assert history.changes(suite, upgraded).environment == [
        "compute: v2.1, microversions 2.1-2.93 -> v2.1, microversions 2.1-2.95"]


def test_a_record_round_trips_through_its_file(tmp_path):
    [source] = SUITE.glob("*.json")
    run = history.Run.from_dict(json.loads(source.read_text()))
    path = history.write_run(tmp_path, run)
    assert path.name == source.name
    assert json.loads(path.read_text()) == json.loads(source.read_text())
    assert not list(history.history_dir(tmp_path).glob(".*"))  # no temporary file left


def test_a_run_killed_while_writing_and_a_truncated_record_leave_the_history_readable(tmp_path):
    directory = report_dir(tmp_path, FIVE)
    half = (FIVE / "killed-mid-write.json.part").read_text()
    (history.history_dir(directory) / ".20261125-231109-26112523116c09.json.13559.tmp").write_text(half)
    (history.history_dir(directory) / "20261125-231109-26112523116c09.json").write_text(half)
    (history.history_dir(directory) / "20261125-231110-empty.json").write_text("")
    (history.history_dir(directory) / "20261125-231111-other.json").write_text('{"format": "something else"}')
    runs, problems = history.read_runs(directory)
    assert len(runs) == 5
    assert [p.split(" skipped")[0] for p in problems] == [
        "history/20261125-231109-26112523116c09.json", "history/20261125-231110-empty.json",
        "history/20261125-231111-other.json"]
    assert "JSONDecodeError" in problems[0]
    done = index.update(directory)
    page = done.index.read_text()
    assert len(done.runs) == 5 and "20261125-231109-26112523116c09.json skipped" in page
    assert (history.history_dir(directory) / ".20261125-231109-26112523116c09.json.13559.tmp").exists()  # young


def test_pruning_by_count_keeps_the_newest_of_each_series_and_deletes_their_files(tmp_path):
    directory = report_dir(tmp_path, FIVE, SUITE)
    runs, _ = history.read_runs(directory)
    other = history.Run.from_dict(runs[0].to_dict())
    other.mechanism_drivers, other.run_id, other.report, other.junit = ["ovn"], "ovnrun", "", ""
    history.write_run(directory, other)
    done = index.update(directory, keep=2)
    kept = {r.run_id for r in done.runs}
    assert kept == {"2611252311eaa6", "26112523105db7", "ovnrun"}
    assert len(done.removed) == 4 * 3  # the record, the HTML report and the JUnit XML of each run dropped
    assert sorted(p.name for p in directory.glob("oslab-*")) == ["oslab-lab-20261125-231031.html",
                                                                 "oslab-lab-20261125-231031.xml",
                                                                 "oslab-lab-20261125-231100.html",
                                                                 "oslab-lab-20261125-231100.xml"]


def test_pruning_by_age_drops_runs_older_than_the_days_given_and_stale_temporary_files(tmp_path):
    directory = report_dir(tmp_path, FIVE)
    runs, _ = history.read_runs(directory)
    now = runs[3].start + 86400 - 1  # just under a day after run 4 started: runs 1-3 are older than a day
    temp = history.history_dir(directory) / ".x.json.1.tmp"
    temp.write_text("{")
    os.utime(temp, (runs[0].start, runs[0].start))
    assert [r.run_id for r in history.prune(runs, days=1, now=now)] == [r.run_id for r in runs[:3]]
    done = index.update(directory, days=1.0, now=runs[4].start + 86400 - 10)
    assert [r.run_id for r in done.runs] == [runs[4].run_id] and temp.name in done.removed


def test_boot_timings_come_from_the_progress_lines_of_the_run():
    lines = [(0.4, "server oslab-1c95-provider_server-3: BUILD/spawning after 0.4s"),
             (20.5, "server oslab-1c95-provider_server-3: ACTIVE after 20.5s"),
             (22.0, "server oslab-1c95-server_a-1: ACTIVE after 18.1s"),
             (84.9, "guest oslab-1c95-provider_server-3: SSH answered after 48.6s (10.199.0.5 via qdhcp- on vm)"),
             (87.4, "guest oslab-1c95-server_a-1: SSH answered after 0.2s (10.199.0.7 via qdhcp- on vm)"),
             (90.0, "waiting for x BUILD (30s of 300s)")]
    events = [e for e in (history.boot_event(line, 1000 + t) for t, line in lines) if e]
    assert len(events) == 5
    provider, server_a = history.boots_from(events)
    assert (provider.active, provider.ssh_ready, provider.first_try, provider.timed) == (20.5, 84.9, 36.3, True)
    assert (server_a.active, server_a.ssh_ready, server_a.timed) == (18.1, 83.5, False)


def test_the_suite_run_s_boots_time_the_guest_that_was_waited_for():
    run = history.Run.from_dict(json.loads(next(SUITE.glob("*.json")).read_text()))
    assert len(run.boots) == 6 and run.counts() == {"passed": 70, "failed": 0, "error": 0, "skipped": 25}
    timed = [b.server for b in run.boots if b.timed]
    assert timed == ["oslab-26112523011c95-provider_server-3"]
    assert run.boot_medians() == (pytest.approx(27.2), 84.9)


def test_the_index_holds_runs_changes_flips_charts_and_a_linked_grid(tmp_path):
    directory = report_dir(tmp_path, FIVE, SUITE)
    page = index.update(directory).index.read_text()
    runs, _ = history.read_runs(directory)
    [four] = [r for r in runs if r.run_id == "26112523105db7"]
    four = re.search(rf'<tr id="{four.name}">.*?</tr>', page, re.S).group(0)
    assert "test_every_network_agent_is_alive_and_admin_up" in re.search(r'<td class="new">(.*?)</td>', four,
                                                                         re.S).group(1)
    assert re.search(r'<td class="num flips">2</td>', page)
    assert page.count('aria-label="Suite duration"') == 1 and page.count("<svg") >= 3
    assert "create -&gt; SSH answered, run of 11-25 23:01: 85 s" in page  # the suite run's boot of 84.9 s
    grid = page.split("<h3>Tests by run</h3>")[1]
    cells = re.findall(r'<td class="o-(?:passed|failed|error|skipped)[^"]*"><a href="([^"]+)"', grid)
    assert len(cells) == 5 * 2 + 95 and set(cells) == {r.report for r in runs}
    assert not re.search(r"<script|<link|@import|url\(|src=|href=\"(?:https?:)?//", page)


def test_every_text_in_the_index_is_escaped_and_scrubbed(tmp_path):
    [source] = FIVE.glob("*231032*.json")
    record = json.loads(source.read_text())
    record["tests"][1]["message"] = '<script>alert(1)</script> password=Hunter-22-pw "quoted"'
    record["tests"][1]["nodeid"] = 'suites/x.py::test_y[<b>"a"&b]'
    record["report"] = 'r "1" <x>.html'
    directory = tmp_path / "reports"
    history.history_dir(directory).mkdir(parents=True)
    (history.history_dir(directory) / source.name).write_text(json.dumps(record))
    page = index.update(directory).index.read_text()
    assert "<script" not in page and '<b>"a"' not in page and "Hunter-22-pw" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and 'href="r%20%221%22%20%3Cx%3E.html"' in page


def test_the_index_opens_in_headless_chromium(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("no chromium here (make browser installs it)")
    page = index.update(report_dir(tmp_path, FIVE, SUITE)).index
    png = tmp_path / "index.png"
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=1400,2000",
                           page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.stat().st_size > 50000
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0 and dom.stdout.count("<circle") >= 6 and "Tests by run" in dom.stdout


def test_oslab_history_writes_the_index_from_the_history_alone(tmp_path, capsys):
    directory = report_dir(tmp_path, FIVE)
    assert cli.main(["history", "--report-dir", str(directory), "--keep", "3"]) == 0
    assert "(3 runs)" in capsys.readouterr().out and (directory / "index.html").exists()
    with pytest.raises(SystemExit) as exit:
        cli.main(["history", "--report-dir", str(directory), "--days", "soon"])
    assert exit.value.code == 2 and "'soon' is not a number of days" in capsys.readouterr().err


# --- the plugin in real runs ---------------------------------------------------------------------------------

BOOTING_TEST = '''
import pytest
from pytest_oslab.stash import SESSION

@pytest.mark.parametrize("n", range(4))
def test_boot(request, n):
    request.node.user_properties.append(("fact", "I1"))
    progress = request.config.stash[SESSION].progress
    progress(f"server vm{n}: ACTIVE after 3.5s")
    progress(f"guest vm{n}: SSH answered after 2.5s (10.0.0.{n})")
    assert n != 2, "the guest [server vm2]:\\n  - MTU: expected 1450 (network MTU), actual 1400"
'''


@pytest.mark.parametrize("xdist", [False, True], ids=["one process", "xdist -n 2"])
def test_a_run_records_its_tests_facts_and_boots_once_and_writes_the_index(pytester, unreachable_cloud, xdist):
    pytester.makepyfile(BOOTING_TEST)
    args = ["--cloud", unreachable_cloud, "-p", "no:cacheprovider"] + (["-n", "2"] if xdist else [])
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=3, failed=1)
    runs, problems = history.read_runs(pytester.path / "reports")
    assert not problems and len(runs) == 1
    run = runs[0]
    assert run.cloud == "lab" and run.report.endswith(".html") and run.junit.endswith(".xml") and run.run_id
    assert (pytester.path / "reports" / run.report).exists()
    outcomes = {t.nodeid.split("::")[1]: (t.outcome, t.facts) for t in run.tests}
    assert outcomes == {f"test_boot[{n}]": ("failed" if n == 2 else "passed", ["I1"]) for n in range(4)}
    assert run.results()[f"{run.tests[0].nodeid.split('::')[0]}::test_boot[2]"].message == (
        "the guest [server vm2]: MTU: expected 1450 (network MTU), actual 1400")
    assert [(b.server, b.active, b.timed) for b in run.boots] == [(f"vm{n}", 3.5, True) for n in range(4)]
    assert all(b.ssh_ready is not None and b.ssh_ready >= 3.5 for b in run.boots)
    assert "test_boot[2]" in (pytester.path / "reports" / "index.html").read_text()


def test_no_report_means_no_history_and_keep_prunes_with_each_run(pytester, unreachable_cloud):
    pytester.makepyfile("def test_nothing(): pass")
    pytester.runpytest_subprocess("--cloud", "lab", "--oslab-no-report", "-p", "no:cacheprovider")
    assert not (pytester.path / "reports").exists()
    pytester.makeini("[pytest]\noslab_history_keep = 2\n")
    for _ in range(3):
        pytester.runpytest_subprocess("--cloud", "lab", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    runs, _ = history.read_runs(pytester.path / "reports")
    assert len(runs) == 2 and len(list((pytester.path / "reports").glob("oslab-*.html"))) == 2
    for _ in range(2):  # the same --html every night: pruning a run leaves the file that newer runs wrote
        pytester.runpytest_subprocess("--cloud", "lab", "--html", "reports/last.html", "-p", "no:cacheprovider")
    runs, _ = history.read_runs(pytester.path / "reports")
    assert [r.report for r in runs] == ["last.html", "last.html"] and (pytester.path / "reports/last.html").exists()
    result = pytester.runpytest_subprocess("--cloud", "lab", "--oslab-history-keep", "-1", "-p", "no:cacheprovider")
    assert result.ret != 0 and "history keep and days must be 0 (no limit) or more" in result.stderr.str()
