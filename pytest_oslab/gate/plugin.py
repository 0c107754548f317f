"""The upgrade gate's pytest side: ``--oslab-phase pre|post|cleanup`` (see ``pytest_oslab.gate``), its limits
(``--oslab-max-loss``, ``--oslab-max-gap``), the phase's steps as test items of their own run first and in order,
and what each step does with the workload (``gate.workload``), its checks (``gate.checks``) and its snapshots
(``gate.snapshots``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import pytest

from pytest_oslab import evidence
from pytest_oslab.checks.core import CheckFailed
from pytest_oslab.gate.checks import check_chains, check_guests, check_instances
from pytest_oslab.gate.snapshots import counts_text, take_snapshot
from pytest_oslab.gate.workload import (WORKLOAD_TAG, Workload, WorkloadMissing, create_workload, find_workload,
                                        probe_agents, probe_path, remove_workloads, stop_probe)
from pytest_oslab.outcomes import outcome
from pytest_oslab.probe import control as probe
from pytest_oslab.report import html, snapshot
from pytest_oslab.report.plugin import report_dir, state_of
from pytest_oslab.report.probe import figures
from pytest_oslab.report.snapshot import CATEGORIES
from pytest_oslab.stash import session_of

PHASES = ("pre", "post", "cleanup")
PHASE = pytest.StashKey["PhaseRun"]()


# --- the phase's test items ----------------------------------------------------------------------------------

class PhaseItem(pytest.Item):
    """One step of the phase, run as a test so that its outcome and evidence are in every report."""

    def __init__(self, *, step: Callable[["PhaseItem"], None], doc: str = "", **kwargs):
        super().__init__(**kwargs)
        self.step = step
        self.doc = doc
        self.gate: Optional[dict] = None

    def runtest(self) -> None:
        with outcome("the upgrade workload"):  # the plugin bound this item: its evidence goes to its report
            self.step(self)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (CheckFailed, WorkloadMissing)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, self.nodeid


class PhaseRun:
    """The phase's state in one process: the workload, the snapshots and what changed."""

    def __init__(self, config, phase: str):
        self.config = config
        self.phase = phase
        self.workload: Optional[Workload] = None
        self.before: Optional[dict] = None
        self.before_path: Optional[Path] = None
        self.changes = None
        self.after_path: Optional[Path] = None
        self.broken: Optional[str] = None  # why the step that makes or finds the workload failed
        self.probe: Optional[dict] = None  # the probe's figures (pytest_oslab.report.probe.figures)

    @property
    def oslab(self):
        return session_of(self.config)

    def _note(self, workload: Workload) -> None:
        seen = state_of(self.config).seen
        for res in workload.resources():
            seen.note(res)

    def _path(self, phase: str) -> Path:
        state = state_of(self.config)
        directory = report_dir(self.config)
        if state.html is not None and state.html.parent == directory and state.html.stem.endswith(f"-{phase}"):
            path = state.html.with_suffix(".json")
        else:
            path = directory / (html.free_stem(directory, html.stem(self.oslab.settings.cloud, phase)) + ".json")
        state.files.append(path)
        return path

    def need_workload(self) -> Workload:
        if self.broken is not None:
            pytest.skip(f"no workload to check: {self.broken}")
        if self.workload is None:
            oslab = self.oslab
            wid = self.before.get("workload") if self.before else None
            self.workload = find_workload(oslab, wid)
            self._note(self.workload)
        return self.workload

    # steps --------------------------------------------------------------------------------------------------
    def first(self, step: Callable[[PhaseItem], None]) -> Callable[[PhaseItem], None]:
        """The step that makes or finds the workload: when it fails, the steps that need the workload skip."""
        def run(item: PhaseItem) -> None:
            try:
                step(item)
            except BaseException as e:
                self.broken = (str(e).splitlines() or [type(e).__name__])[0]
                raise
        return run

    def create(self, item: PhaseItem) -> None:
        oslab = self.oslab
        try:
            self.workload = find_workload(oslab)
            evidence.attach("workload",
                            f"workload {self.workload.id} from an earlier pre phase found: reused, re-snapshotted")
        except WorkloadMissing:
            self.workload = create_workload(oslab)
            evidence.attach("workload", f"workload {self.workload.id} created: " + ", ".join(
                f"{r.name or r.id}" for r in self.workload.resources()))
        self._note(self.workload)

    def find(self, item: PhaseItem) -> None:
        given = self.config.getoption("oslab_snapshot")
        try:
            self.before_path = Path(given) if given else snapshot.newest_pre(report_dir(self.config),
                                                                             self.oslab.settings.cloud)
            self.before = snapshot.load(self.before_path)
        except snapshot.SnapshotError as e:
            raise WorkloadMissing(str(e)) from None
        workload = self.need_workload()
        evidence.attach("workload", f"pre snapshot {self.before_path} (taken {self.before.get('taken')}, run "
                           f"{self.before.get('run')}); workload {workload.id} found: "
                           + ", ".join(f"{r.name or r.id}" for r in workload.resources()))

    def instances(self, item: PhaseItem) -> None:
        check_instances(self.oslab, self.need_workload())

    def chains(self, item: PhaseItem) -> None:
        check_chains(self.oslab, self.need_workload())

    def guests(self, item: PhaseItem) -> None:
        check_guests(self.oslab, self.need_workload())

    def save(self, item: PhaseItem) -> None:
        taken = take_snapshot(self.oslab, self.need_workload(), "pre")
        path = snapshot.save(taken, self._path("pre"))
        item.gate = snapshot.gate("pre", taken["workload"], str(path), [])
        evidence.attach("snapshot", f"{path}\n" + counts_text(taken))

    def compare(self, item: PhaseItem) -> None:
        if self.before is None:
            pytest.skip("no pre snapshot was loaded (see the step that finds the workload)")
        taken = take_snapshot(self.oslab, self.need_workload(), "post")
        self.changes = snapshot.diff(self.before, taken)
        taken["compared_with"] = str(self.before_path)
        taken["changes"] = [c.__dict__ for c in self.changes]
        if self.probe is not None:  # what the guests felt in between, for whoever reads the snapshots
            taken["probe"] = {k: v for k, v in self.probe.items() if k != "series"}
            taken["probe"]["series"] = [{k: v for k, v in s.items() if k != "buckets"} for s in self.probe["series"]]
        self.after_path = snapshot.save(taken, self._path("post"))
        item.gate = snapshot.gate("post", taken["workload"], str(self.after_path), self.changes, str(self.before_path),
                                  snapshot.version_changes(self.before, taken))
        lines = [c.line() for c in self.changes] or ["no difference"]
        evidence.attach("changes since the pre snapshot", "\n".join(lines))

    def unchanged(self, category: str) -> Callable[[PhaseItem], None]:
        def step(item: PhaseItem) -> None:
            if self.changes is None:
                pytest.skip("the snapshots were not compared (see the step that compares them)")
            failing = snapshot.must(self.changes, category)
            told = [c for c in self.changes if c.category == category and c.severity == "may"]
            if told:
                evidence.attach(f"{category}: changes reported, not failed", "\n".join(c.line() for c in told))
            if failing:
                raise CheckFailed(snapshot.failure_text(failing, category, str(self.before_path)))
        return step

    def reported(self, item: PhaseItem) -> None:
        if self.changes is None:
            pytest.skip("the snapshots were not compared (see the step that compares them)")
        told = [c for c in self.changes if c.severity == "may"]
        evidence.attach("what may change and did", "\n".join(c.line() for c in told) or "nothing")

    def start_probe(self, item: PhaseItem) -> None:
        oslab, workload = self.oslab, self.need_workload()
        path = probe_path(oslab.settings.cloud, workload.id)
        if path.exists():  # a second pre: the earlier agents are stopped, their figures dropped
            stop_probe(oslab, probe.Record.load(path), path.with_suffix(""))
        record = probe.Record(workload.id)
        for agent in probe_agents(oslab, workload):
            record.agents.append(probe.start(oslab.facts_of(agent.node), agent))
        record.save(path)
        evidence.attach("probe started", "\n".join(
            f"agent {a.pid} on {a.node} in {a.namespace} ({a.directory}), at most {probe.LIFETIME} s: "
            + ", ".join(f"{t.name} ({t.ip})" for t in a.targets) + f"; paths: {', '.join(a.paths())}"
            for a in record.agents) + f"\nrecord: {path}")

    def read_probe(self, item: PhaseItem) -> None:
        oslab, workload = self.oslab, self.need_workload()
        path = probe_path(oslab.settings.cloud, workload.id)
        if not path.exists():
            pytest.skip(f"no probe was started for workload {workload.id} (no {path}): its pre phase ran elsewhere "
                        f"or before the probe existed")
        series, lines = stop_probe(oslab, probe.Record.load(path), path.with_suffix(""))
        path.unlink()
        max_loss, max_gap = limit_of(self.config, "oslab_max_loss"), limit_of(self.config, "oslab_max_gap")
        self.probe = figures(series, max_loss, max_gap, lines)
        item.gate = {"phase": "post", "probe": self.probe}
        evidence.attach("probe", "\n".join(lines + [s.line() for s in series]
                                           + [f"files: {path.with_suffix('')}"]))

    def probe_limits(self, item: PhaseItem) -> None:
        if self.probe is None:
            pytest.skip("no probe figures (see the step that reads the probe back)")
        if self.probe["over"]:
            raise CheckFailed("the workload's data plane during the upgrade, per guest and path, over the limits:\n"
                              + "\n".join(f"  - {line}" for line in self.probe["over"]))
        if self.probe["limits"]["max_loss"] is None and self.probe["limits"]["max_gap"] is None:
            evidence.attach("probe limits", "no --oslab-max-loss nor --oslab-max-gap: figures reported only")

    def cleanup(self, item: PhaseItem) -> None:
        lines = remove_workloads(self.oslab)
        evidence.attach("cleanup",
                        "\n".join(lines) or f"no workload (tag {WORKLOAD_TAG}) in this cloud: nothing to remove")

    def steps(self):
        """(name, step, what it does) of this phase, in order."""
        common = [("instances: ACTIVE, dnsmasq entries and lease, domain and tap (I1-I7)", self.instances),
                  ("security groups: the ports' chains (S1-S3)", self.chains),
                  ("guests: SSH, NIC, the peer answers ping (G1-G2)", self.guests)]
        if self.phase == "pre":
            return ([("create or reuse the workload", self.first(self.create))] + common
                    + [("snapshot the workload's data plane", self.save),
                       ("probe: start watching the guests (ICMP, TCP 22, DHCP leases)", self.start_probe)])
        if self.phase == "post":
            return ([("find the workload of the pre snapshot", self.first(self.find)),
                     ("probe: stop it and read back what the guests felt", self.read_probe)] + common
                    + [("compare with the pre snapshot", self.compare)]
                    + [(f"unchanged: {snapshot_category}", self.unchanged(key))
                       for key, snapshot_category in _must_categories()]
                    + [("reported: what may change", self.reported),
                       ("probe: loss and longest gap within --oslab-max-loss and --oslab-max-gap",
                        self.probe_limits)])
        return [("remove the workload", self.cleanup)]


def _must_categories():
    return [(k, v) for k, v in CATEGORIES.items() if k != "reported"]


# --- hooks -----------------------------------------------------------------------------------------------------

@pytest.hookimpl(trylast=True)  # after pytest_oslab.plugin made the "oslab" group
def pytest_addoption(parser):
    group = parser.getgroup("oslab")
    group.addoption("--oslab-phase", dest="oslab_phase", default=None, choices=PHASES,
                    help="upgrade gating: pre (make a workload that stays, check it, snapshot it), post (find it, "
                         "check it, compare with the pre snapshot), cleanup (remove it) [ini: oslab_phase]")
    group.addoption("--oslab-snapshot", dest="oslab_snapshot", default=None, metavar="PATH",
                    help="the pre snapshot --oslab-phase post compares with (default: the newest of the cloud in "
                         "the report directory)")
    parser.addini("oslab_phase", "upgrade gating phase: pre, post or cleanup", default="")
    for option, ini, text in LIMITS:
        group.addoption(option, dest=ini, default=None, metavar=option.split("-")[-1].upper(),
                        help=f"{text} [ini: {ini}]")
        parser.addini(ini, text, default="")


LIMITS = [
    ("--oslab-max-loss", "oslab_max_loss", "post fails when a guest lost more than this percent of its probes "
     "along a path (ICMP, TCP 22, DHCP lease) during the upgrade; default: reported only"),
    ("--oslab-max-gap", "oslab_max_gap", "post fails when a guest went longer than these seconds without an answer "
     "along a path during the upgrade; default: reported only"),
]


def limit_of(config, ini: str) -> Optional[float]:
    value = config.getoption(ini)
    if value in (None, ""):
        value = config.getini(ini) or None
    if value is None:
        return None
    try:
        number = float(str(value).rstrip("%s").strip())
    except ValueError:
        raise pytest.UsageError(f"oslab: {ini}: {value!r} is not a number") from None
    if number < 0:
        raise pytest.UsageError(f"oslab: {ini}: {value!r} is negative")
    return number


def phase_of(config) -> Optional[str]:
    value = config.getoption("oslab_phase") or config.getini("oslab_phase") or None
    if value is not None and value not in PHASES:
        raise pytest.UsageError(f"oslab: oslab_phase: {value!r} is not one of {', '.join(PHASES)}")
    return value


@pytest.hookimpl(tryfirst=True)  # the report's file name carries the phase
def pytest_configure(config):
    phase = phase_of(config)
    if phase is None:
        return
    config.option.oslab_phase = phase
    for _, ini, _ in LIMITS:
        limit_of(config, ini)  # a wrong value stops the run before the workload is touched
    config.stash[PHASE] = PhaseRun(config, phase)
    if getattr(config, "workerinput", None) is None and config.pluginmanager.hasplugin("xdist"):
        if getattr(config.option, "dist", "no") in ("load", "worksteal"):  # the steps stay together, in order
            config.option.dist = "loadgroup"


def pytest_oslab_worker_input(config) -> dict:
    """What an xdist worker is told (the plugin's one channel, pytest_oslab.hooks): to group the phase's steps
    (xdist's own grouping of marked items runs before the steps exist)."""
    if PHASE not in config.stash:
        return {}
    return {"oslab_group": getattr(config.option, "dist", "no") == "loadgroup"}


@pytest.hookimpl(trylast=True)  # after -k/-m: the phase's steps always run
def pytest_collection_modifyitems(session, config, items):
    run = config.stash.get(PHASE, None)
    if run is None:
        return
    group = "@oslab-workload" if (getattr(config, "workerinput", None) or {}).get("oslab_group") else ""
    mine = [PhaseItem.from_parent(session, name=f"{run.phase}::{name}",
                                  nodeid=f"workload::{run.phase}::{name}{group}", step=step)
            for name, step in run.steps()]
    if run.phase == "cleanup" and items:
        config.hook.pytest_deselected(items=list(items))
        items[:] = mine
    else:
        items[:0] = mine
