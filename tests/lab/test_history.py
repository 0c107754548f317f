"""The nightly history against the real lab: five runs of the control-plane checks that boot nothing (C1, C3) into
one report directory, each its own pytest process as cron would start it, with a fault planted before run 4 and
healed before run 5, then a sixth run killed while writing its history record.

- The fault: the lab's metadata agent stopped by its PID (test_breakages' ``agent_stopped``: the API shows it dead),
  healed with ``oslab lab up`` (the API shows it alive again).
- index.html shows run 4's C3 failure as new (naming the agent), run 5's as fixed, the test's 2 flips and the
  suite's duration over the five runs; it opens in headless Chromium when it is here, and fetches nothing.
- The killed run leaves half a temporary file: the history still reads five runs, ``oslab history`` rewrites the
  index from it, and a half record under a final name is skipped with one line.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from test_breakages import agent_stopped
from test_reports import admin, assert_no_secrets, pytest_run, screenshot  # noqa: F401 - admin: a fixture

from pytest_oslab.report import history
from pytest_oslab.report.index import short

REPO = Path(__file__).resolve().parents[2]
C1 = "suites/test_control_plane.py::test_every_compute_service_is_enabled_and_up"
C3 = "suites/test_control_plane.py::test_every_network_agent_is_alive_and_admin_up"


def night(cwd: Path, reports: Path, *extra, env=None):
    """One run of C1 and C3 against the lab, reports into ``reports``; (process, seconds)."""
    return pytest_run(cwd, str(REPO / "suites" / "test_control_plane.py"), "-k", "compute_service or network_agent",
                      "--oslab-report-dir", str(reports), "-q", *extra, env=env, timeout=300)


def row_of(index: str, run: history.Run) -> str:
    found = re.search(rf'<tr id="{re.escape(run.name)}">.*?</tr>', index, re.S)
    assert found, f"no row for run {run.name} in index.html"
    return found.group(0)


def cell_text(row: str, css: str) -> str:
    return re.search(rf'<td class="{css}">(.*?)</td>', row, re.S).group(1)


def test_five_nights_show_the_fault_as_new_then_fixed_with_its_flips_and_the_duration_trend(tmp_path, admin):
    reports = tmp_path / "reports"
    codes, took, heal = [], [], None
    try:
        for n in range(1, 6):
            if n == 4:
                heal, expect = agent_stopped({"admin_cloud": admin})
            if n == 5:
                heal()
                heal = None
            done, seconds = night(REPO, reports)
            codes.append(done.returncode)
            took.append(seconds)
            print(f"run {n}: exit {done.returncode} in {seconds:.1f}s")
    finally:
        if heal is not None:
            heal()
    assert codes == [0, 0, 0, 1, 0], done.stdout[-3000:]

    runs, problems = history.read_runs(reports)
    assert len(runs) == 5 and not problems
    assert all(r.mechanism_drivers == ["linuxbridge"] and r.firewall_driver == "iptables" and r.services
               for r in runs)
    four = runs[3].results()[C3]
    assert four.outcome == "failed" and four.facts == ["C3"] and "Metadata agent" in four.message
    assert history.changes(runs[2], runs[3]).new == [C3]
    assert history.changes(runs[3], runs[4]).fixed == [C3]
    assert history.flips(runs) == {C1: 0, C3: 2}

    index = (reports / "index.html").read_text()
    assert short(C3) in cell_text(row_of(index, runs[3]), "new")
    assert "Metadata agent" in cell_text(row_of(index, runs[3]), "new")
    assert short(C3) in cell_text(row_of(index, runs[4]), "fixed")
    assert not cell_text(row_of(index, runs[4]), "new").strip()
    flip_row = re.search(rf'<code title="{re.escape(C3)}">.*?<td class="num flips">(\d+)</td>', index, re.S)
    assert flip_row and flip_row.group(1) == "2"
    chart = re.search(r'aria-label="Suite duration">.*?</svg>', index, re.S).group(0)
    assert chart.count("<circle") == 5
    for run in runs:  # every cell of the grid links to its run's report, which is there
        assert f'href="{run.report}"' in index and (reports / run.report).exists()
    assert not re.search(r"<script|<link|@import|url\(|src=|href=\"(?:https?:)?//", index)
    assert_no_secrets(reports)
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        print(f"index.html in Chromium: {screenshot(reports / 'index.html', tmp_path / 'index.png'):.1f}s, "
              f"{tmp_path / 'index.png'}")

    # a sixth run killed (SIGKILL) with its history record half written
    env = dict(os.environ, PYTHONPATH=f"{Path(__file__).parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    before = (reports / "index.html").read_text()
    done, seconds = night(REPO, reports, "-p", "history_kill", env=env)
    assert done.returncode == -9, done.stdout[-2000:]
    temps = list(history.history_dir(reports).glob(".*.tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size > 100, temps
    assert (reports / "index.html").read_text() == before
    runs, problems = history.read_runs(reports)
    assert len(runs) == 5 and not problems
    shutil.copy(temps[0], history.history_dir(reports) / "20991231-000000-half.json")
    runs, problems = history.read_runs(reports)
    assert len(runs) == 5 and len(problems) == 1 and "20991231-000000-half.json skipped" in problems[0]
    again = subprocess.run([sys.executable, "-m", "pytest_oslab.cli", "history", "--report-dir", str(reports)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "(5 runs)" in again.stdout, again.stdout + again.stderr
    assert "20991231-000000-half.json skipped" in (reports / "index.html").read_text()
    print(f"runs took {', '.join(f'{t:.1f}s' for t in took)}; the killed run {seconds:.1f}s; history in {reports}")
