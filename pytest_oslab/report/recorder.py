"""The pytest side of the nightly history: every run against a cloud that writes reports also records itself in
``<report dir>/history/`` and rewrites ``<report dir>/index.html`` (see ``pytest_oslab.report.history`` and
``pytest_oslab.report.index``).

Registered by ``pytest_oslab.plugin`` (``pytest_plugins``), beside the report plugin whose report directory, report
file names, ``--oslab-no-report`` and cloud summary it reuses.

- On every process (xdist workers too): the run's progress lines are read for the cloud's own timings (a server's
  create -> ACTIVE, its first SSH answer, ``history.BootTimes`` kept in the report plugin's state); the report
  plugin's one report hook puts them on the next test report, which carries them to the controller.
- On the process that writes the reports (never an xdist worker): each test's outcome, duration, facts and the
  first line of its message, then at the very end the run's record (written atomically) and the index, after
  pruning by ``--oslab-history-keep`` / ``--oslab-history-days``.
"""
from __future__ import annotations

import os
import time
from typing import Dict, List

import pytest

from pytest_oslab.gate.plugin import phase_of
from pytest_oslab.stash import SESSION
from pytest_oslab.report import history, index
from pytest_oslab.report.html import failure_message, scrub
from pytest_oslab.report.plugin import cloud_named, report_dir, state_of, writes_reports
from pytest_oslab.report.summary import gather

@pytest.hookimpl(trylast=True)  # after pytest_oslab.plugin made the "oslab" group
def pytest_addoption(parser):
    group = parser.getgroup("oslab")
    group.addoption("--oslab-history-keep", dest="oslab_history_keep", default=None, metavar="N",
                    help="keep the newest N runs of each cloud/driver in the report directory's history; older "
                         "runs' records and reports are deleted (default: 0, all) [ini: oslab_history_keep]")
    group.addoption("--oslab-history-days", dest="oslab_history_days", default=None, metavar="D",
                    help="delete the history records and reports of runs older than D days (default: 0, none) "
                         "[ini: oslab_history_days]")
    parser.addini("oslab_history_keep", "runs of each cloud/driver kept in the history (0: all)", default="")
    parser.addini("oslab_history_days", "days of runs kept in the history (0: all)", default="")


def history_limits(config):
    keep = config.getoption("oslab_history_keep") or config.getini("oslab_history_keep")
    days = config.getoption("oslab_history_days") or config.getini("oslab_history_days")
    try:
        return index.limits(keep, days)
    except ValueError as e:
        raise pytest.UsageError(f"oslab: {e}") from None


@pytest.hookimpl(trylast=True)  # after pytest_oslab.plugin made the run's session
def pytest_configure(config):
    session = config.stash.get(SESSION, None)
    if session is None or not session.settings.cloud:
        return
    limits = history_limits(config)
    times = state_of(config).boots = history.BootTimes()  # the report plugin's one report hook carries them
    session.progress = times.wrap(session.progress)
    if cloud_named(config) and writes_reports(config):
        config.pluginmanager.register(_Recorder(config, *limits), "oslab-history-recorder")


def message_of(report) -> str:
    """What a test's phase said: the failure without its traceback, or the reason it was skipped (or xfailed)."""
    if report.failed:
        return scrub(failure_message(report))
    if getattr(report, "wasxfail", None) is not None:
        return scrub(f"xfail: {report.wasxfail}")
    longrepr = getattr(report, "longrepr", None)
    if report.skipped and isinstance(longrepr, (tuple, list)) and len(longrepr) == 3:
        return scrub(str(longrepr[2]).removeprefix("Skipped: "))
    return ""


def _relative(path, directory) -> str:
    return os.path.relpath(path, directory) if path else ""


class _Recorder:
    """The hooks of the process that writes the reports, registered by ``pytest_configure``."""

    def __init__(self, config, keep: int, days: float):
        self.config = config
        self.keep, self.days = keep, days
        self.start = time.time()
        self.results: Dict[str, history.Result] = {}
        self.events: List[dict] = []
        self.exitstatus = 0
        self.summary = None

    def pytest_sessionstart(self, session):
        self.start = time.time()

    def pytest_runtest_logreport(self, report):
        self.events += getattr(report, "oslab_boots", None) or []
        facts = [value for key, value in report.user_properties if key == "fact"]
        history.note_phase(self.results, report.nodeid, facts, report.when, report.outcome, report.duration,
                           message_of(report))

    def pytest_sessionfinish(self, session, exitstatus):
        """After the report plugin gathered the cloud summary (tryfirst), before the run's session closes."""
        self.exitstatus = int(exitstatus)
        self.summary = state_of(self.config).summary
        oslab = self.config.stash.get(SESSION, None)
        if self.summary is None and oslab is not None:
            self.summary = gather(oslab)

    @pytest.hookimpl(trylast=True)  # the reports are written and the run's resources deleted: the run is over
    def pytest_unconfigure(self, config):
        state = state_of(config)
        events = self.events + (state.boots.take() if state.boots is not None else [])
        directory = report_dir(config)
        summary = self.summary
        oslab = config.stash.get(SESSION, None)
        phase = phase_of(config) or ""
        run = history.Run(
            run_id=oslab.settings.run_id if oslab is not None else "", cloud=cloud_named(config) or "?",
            start=round(self.start, 3), duration=round(time.time() - self.start, 1), exitstatus=self.exitstatus,
            phase=phase, region=getattr(summary, "region", ""),
            mechanism_drivers=list(getattr(summary, "mechanism_drivers", [])),
            firewall_driver=getattr(summary, "firewall_driver", ""),
            type_drivers=list(getattr(summary, "type_drivers", [])),
            services=list(getattr(summary, "services", [])),
            report=_relative(state.html, directory), junit=_relative(state.junit, directory),
            boots=history.boots_from(events), tests=list(self.results.values()))
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        try:
            history.write_run(directory, run)
            done = index.update(directory, self.keep, self.days)
        except OSError as e:  # the run's own reports are written; a history that cannot be is said in one line
            if reporter is not None:
                reporter.write_line(f"oslab: history not written: {e}", red=True)
            return
        if reporter is not None and config.get_verbosity() >= 0:
            pruned = f", pruned {len(done.removed)} file(s)" if done.removed else ""
            reporter.write_line(f"oslab: history: {done.index} ({len(done.runs)} runs{pruned})")
