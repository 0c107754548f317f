"""The report side of the pytest plugin: default report files, the cloud summary, evidence panels, the topology.

Registered by ``pytest_oslab.plugin`` (``pytest_plugins``); its options sit in the same "oslab" group. It reads
the run's session through ``pytest_oslab.stash`` and the evidence records through ``pytest_oslab.evidence``.

- A run against a cloud writes ``reports/oslab-<cloud>-<UTC time>[-<phase>].html`` (pytest-html, one
  self-contained file) and the JUnit XML beside it, unless ``--html`` / ``--junitxml`` name files already (each
  is left to the user separately) or ``--oslab-no-report`` is given. ``--oslab-report-dir`` moves them.
- Per test: the failure as expected against actual and the evidence the check judged (``test_panel``).
- Above the results: the cloud (region, service versions, drivers, nodes checked), the upgrade gate when
  ``--oslab-phase`` ran, and the topology of what the run built, collected on each process at its last test
  (before the session's resources are deleted) and merged on the controller under xdist.
- At the very end, the written files are scrubbed once more for the run's secrets and private keys.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import pytest
from _pytest import junitxml  # its LogXML's stash key: suite-level properties
from pytest_html import extras as html_extras
from pytest_metadata.plugin import metadata_key  # pytest-html's metadata table (pytest-html depends on it)

from pytest_oslab import evidence
from pytest_oslab.outcomes import one_line
from pytest_oslab.report import dataplane, history, snapshot, topology
from pytest_oslab.report.probe import probe_html
from pytest_oslab.report import html as report_html
from pytest_oslab.report.summary import gather, summary_html
from pytest_oslab.stash import cloud_session

REPORT = pytest.StashKey["ReportState"]()
PICTURE = pytest.StashKey[dict]()


@dataclass
class ReportState:
    html: Optional[Path] = None
    junit: Optional[Path] = None
    files: List[Path] = field(default_factory=list)  # written by this run: scrubbed at the end
    titles: Counter = field(default_factory=Counter)  # evidence titles seen ("node: command")
    seen: dataplane.Seen = field(default_factory=dataplane.Seen)
    reached: set = field(default_factory=set)  # nodes the checks ran commands on, in this process
    pictures: List[dict] = field(default_factory=list)
    gates: List[dict] = field(default_factory=list)  # upgrade gate results (pytest_oslab.gate)
    summary: object = None  # summary.CloudSummary
    boots: Optional[history.BootTimes] = None  # the run's boot timings, read by pytest_oslab.report.recorder


def state_of(config) -> ReportState:
    state = config.stash.get(REPORT, None)
    if state is None:
        state = config.stash[REPORT] = ReportState()
    return state


@pytest.hookimpl(trylast=True)  # after pytest_oslab.plugin made the "oslab" group
def pytest_addoption(parser):
    group = parser.getgroup("oslab")
    group.addoption("--oslab-report-dir", dest="oslab_report_dir", default=None, metavar="DIR",
                    help="where a run against a cloud writes its HTML report and JUnit XML, named after the cloud "
                         "and the time (default: reports) [ini: oslab_report_dir]")
    group.addoption("--oslab-no-report", dest="oslab_no_report", action="store_true", default=False,
                    help="write no default HTML report or JUnit XML (--html and --junitxml still work)")
    parser.addini("oslab_report_dir", "directory of the default reports (default: reports)", default="")


def cloud_named(config) -> Optional[str]:
    """The cloud of the run as pytest_oslab.plugin reads it: --cloud, the ini key, then $OS_CLOUD."""
    try:
        value = config.getoption("oslab_cloud")
    except ValueError:
        return None
    if not value:
        try:
            value = config.getini("oslab_cloud")
        except ValueError:
            value = ""
    return value or os.environ.get("OS_CLOUD") or None


def phase_named(config) -> Optional[str]:
    """The upgrade gate's phase of the run (--oslab-phase, ini oslab_phase; checked by pytest_oslab.gate.plugin): the
    report's file name carries it."""
    try:
        return config.getoption("oslab_phase") or config.getini("oslab_phase") or None
    except ValueError:
        return None


def report_dir(config) -> Path:
    value = config.getoption("oslab_report_dir") or config.getini("oslab_report_dir") or "reports"
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else config.invocation_params.dir / path


def writes_reports(config) -> bool:
    option = config.option
    return not (getattr(config, "workerinput", None) is not None or option.help or option.version
                or getattr(option, "collectonly", False) or getattr(option, "oslab_no_report", False))


@pytest.hookimpl(tryfirst=True)  # before pytest-html and junitxml read their paths
def pytest_configure(config):
    state = state_of(config)
    cloud = cloud_named(config)
    if not cloud or not writes_reports(config):
        return
    config.pluginmanager.register(_Writer(config), "oslab-report-writer")
    want_html = not getattr(config.option, "htmlpath", None) and config.pluginmanager.hasplugin("html")
    want_junit = not getattr(config.option, "xmlpath", None)
    if not (want_html or want_junit):
        state.html = Path(config.option.htmlpath) if getattr(config.option, "htmlpath", None) else None
        return
    directory = report_dir(config)
    directory.mkdir(parents=True, exist_ok=True)
    phase = phase_named(config)
    paths = report_html.default_paths(directory, cloud, phase, want_html, want_junit)
    if paths.html is not None:
        config.option.htmlpath = str(paths.html)
        config.option.self_contained_html = True
    if paths.junit is not None:
        config.option.xmlpath = str(paths.junit)
    state.html = Path(config.option.htmlpath) if getattr(config.option, "htmlpath", None) else None
    state.junit = Path(config.option.xmlpath) if getattr(config.option, "xmlpath", None) else None
    state.files += [p for p in (state.html, state.junit) if p is not None]


def pytest_report_header(config):
    state = config.stash.get(REPORT, None)
    if state is None or not (state.html or state.junit):
        return []
    where = [f"{kind} {path}" for kind, path in (("HTML", state.html), ("JUnit", state.junit)) if path]
    return [f"oslab: reports: {', '.join(where)}"]


def _draws(config) -> bool:
    """Whether this run's HTML report is wanted (on an xdist worker: whether the controller writes one)."""
    workerinput = getattr(config, "workerinput", None)
    wanted = workerinput.get("oslab_draw") if workerinput is not None else getattr(config.option, "htmlpath", None)
    return bool(wanted) and cloud_session(config) is not None


def pytest_oslab_worker_input(config) -> dict:
    """What an xdist worker is told (the plugin's one channel, pytest_oslab.hooks): whether the controller writes
    the HTML report, so whether the worker reads the topology for it."""
    if not cloud_named(config) or not writes_reports(config):
        return {}
    return {"oslab_draw": bool(getattr(config.option, "htmlpath", None))}


# --- on the process that runs the tests ---------------------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Before the last test's fixtures go (and with them the session's resources), read the data plane of
    everything the run's tests were given."""
    if nextitem is None and _draws(item.config):
        state = state_of(item.config)
        if state.seen:
            item.stash[PICTURE] = dataplane.collect(cloud_session(item.config), state.seen.as_dict(), state.reached)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Everything the run puts on a test's report, in one place (the plugin's only report hook): a core error as
    its one line (no traceback), the test's evidence records (sections and ``oslab_evidence``), secrets masked; the
    upgrade gate's result (``oslab_gate``, a phase step's); with a cloud, the nodes reached, what the test was
    given, the boot timings read since the last report (``oslab_boots``, for the history) and, at the last
    teardown, the topology picture. What is put on the report travels to the xdist controller with it."""
    report = yield
    if call.excinfo is not None and report.failed:  # whichever fixture or check met it: the one line, no traceback
        report.longrepr = one_line(call.excinfo.value) or report.longrepr
    evidence.move_to_report(item, report)
    evidence.redact_report(report)
    gate = getattr(item, "gate", None)  # pytest_oslab.gate.plugin.PhaseItem
    if call.when == "call" and gate is not None:
        report.oslab_gate = gate
    if cloud_session(item.config) is not None:
        state = state_of(item.config)
        state.reached.update(r.node for r in evidence.of_report(report) if r.node)
        if call.when in ("setup", "call"):
            for value in getattr(item, "funcargs", {}).values():
                state.seen.note(value)
        if call.when == "teardown" and PICTURE in item.stash:
            report.oslab_picture = item.stash[PICTURE]
        if state.boots is not None and state.boots.events:
            report.oslab_boots = state.boots.take()
    return report


# --- on the process that writes the reports -----------------------------------------------------------------

def _logreport(config, report) -> None:
    state = state_of(config)
    state.titles.update(r.title for r in evidence.of_report(report))
    picture = getattr(report, "oslab_picture", None)
    if picture:
        state.pictures.append(picture)
    gate = getattr(report, "oslab_gate", None)
    if gate:
        state.gates.append(gate)
    if state.html is None:
        return
    panel = report_html.test_panel(report)
    if panel:
        report.extras = list(getattr(report, "extras", []) or []) + [html_extras.html(panel)]


class _Writer:
    """The hooks of the process that writes the reports (not an xdist worker), registered by
    ``pytest_configure``."""

    def __init__(self, config):
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        _logreport(self.config, report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session):
        state = state_of(self.config)
        oslab = cloud_session(self.config)
        junit = self.config.stash.get(junitxml.xml_key, None)
        if (state.html is None and junit is None) or oslab is None:
            return
        state.summary = gather(oslab, state.titles.elements())
        if junit is not None:  # before junitxml's own sessionfinish writes the file
            for name, value in state.summary.junit_properties(oslab.settings.run_id):
                junit.add_global_property(name, value)
        if state.html is None:
            return
        metadata = self.config.stash.get(metadata_key, None)
        if metadata is not None:
            rest = list(metadata.items())
            metadata.clear()
            metadata.update(state.summary.metadata())
            metadata.update(rest)

    def pytest_html_results_summary(self, prefix, summary, postfix, session):
        state = state_of(self.config)
        parts = [report_html.stylesheet()]
        if state.summary is not None:
            files = {"JUnit XML": str(state.junit)} if state.junit else {}
            parts.append(summary_html(state.summary, files))
        for gate in state.gates:
            parts.append(probe_html(gate["probe"]) if "probe" in gate else snapshot.gate_html(gate))
        picture = dataplane.merge(state.pictures) if state.pictures else None
        cloud = state.summary.cloud if state.summary is not None else ""
        parts.append(topology.topology_html(picture, f"What the run built in cloud {cloud}".strip()))
        postfix.extend(parts)

    def pytest_html_results_table_html(self, report, data):
        data[:] = report_html.without_evidence(list(data))

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config):
        for path in state_of(config).files:
            report_html.scrub_file(path)


