"""The nightly history: one small JSON file per run beside the reports, read back to say what changed.

Pure functions and plain data, no pytest: the recording plugin (``pytest_oslab.report.recorder``) builds a ``Run``
from the reports it sees, ``write_run`` stores it, ``read_runs`` reads every stored run back (skipping files that
cannot be read: a run killed while writing leaves at most a temporary file, never a half record under a final
name, and a damaged file is skipped with one line), ``prune`` says which runs to drop by count or age, and
``series_of`` / ``changes`` / ``flips`` say what the index shows: new failures and fixes since the previous run of
the same cloud and driver, and how often each test flipped between passing and failing. ``BootTimes`` reads the
run's progress lines for the servers' boot timings (``boot_event``, ``boots_from``).

Layout: ``<report dir>/history/<UTC start>-<run id>.json``, ``<report dir>/index.html``.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

FORMAT = "pytest-oslab history 1"
HISTORY_DIR = "history"
INDEX = "index.html"
FAILING = ("failed", "error")
OUTCOMES = ("passed", "failed", "error", "skipped")
MESSAGE_LIMIT = 300  # characters of a test's message kept (its first line)
STALE_TEMP = 24 * 3600.0  # a temporary file older than this was left by a run that died while writing
PROMPT_LOGIN = 10.0  # a first SSH attempt within this many seconds of ACTIVE measures the boot, not the test order
WAITED = 2.0  # a first SSH answer this long after the first attempt: the guest was not ready when first tried


# --- what a run records ------------------------------------------------------------------------------------------

@dataclass
class Result:
    nodeid: str
    facts: List[str] = field(default_factory=list)
    outcome: str = ""  # passed, failed, error, skipped ("" until a phase decided)
    duration: float = 0.0  # seconds, setup + call + teardown
    message: str = ""  # first line of the failure, error or skip reason


@dataclass
class Boot:
    """One server the run booted: seconds from create to ACTIVE, to its first SSH answer, to the first attempt."""
    server: str
    active: Optional[float] = None
    ssh_ready: Optional[float] = None
    first_try: Optional[float] = None

    @property
    def timed(self) -> bool:
        """Whether ``ssh_ready`` times the boot: the guest was tried before it answered (its first SSH answer came
        after waiting), or as soon as it was ACTIVE. A first login that answered at once long after ACTIVE only says
        the guest was ready by then (the test order, not the boot)."""
        if self.ssh_ready is None or self.first_try is None:
            return False
        waited = self.ssh_ready - self.first_try >= WAITED
        return waited or (self.active is not None and self.first_try - self.active <= PROMPT_LOGIN)


@dataclass
class Run:
    run_id: str
    cloud: str
    start: float  # epoch seconds
    duration: float = 0.0
    exitstatus: int = 0
    phase: str = ""
    region: str = ""
    mechanism_drivers: List[str] = field(default_factory=list)
    firewall_driver: str = ""
    type_drivers: List[str] = field(default_factory=list)
    services: List[Tuple[str, str]] = field(default_factory=list)  # (service type, version text)
    report: str = ""  # the run's HTML report, relative to the report directory ("" when none)
    junit: str = ""
    boots: List[Boot] = field(default_factory=list)
    tests: List[Result] = field(default_factory=list)
    file: str = ""  # the history file it was read from (not stored)

    @property
    def series(self) -> Tuple[str, str, str, str]:
        """Runs compared with each other: same cloud, mechanism drivers, firewall and phase."""
        return (self.cloud, ",".join(self.mechanism_drivers), self.firewall_driver, self.phase)

    @property
    def name(self) -> str:
        return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(self.start))}-{self.run_id or 'run'}"

    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.start))

    def results(self) -> Dict[str, Result]:
        return {t.nodeid: t for t in self.tests}

    def outcomes(self) -> Dict[str, str]:
        return {t.nodeid: t.outcome for t in self.tests if t.outcome}

    def counts(self) -> Dict[str, int]:
        found = {o: 0 for o in OUTCOMES}
        for t in self.tests:
            if t.outcome in found:
                found[t.outcome] += 1
        return found

    def boot_medians(self) -> Tuple[Optional[float], Optional[float]]:
        """Median seconds create -> ACTIVE over every boot, and create -> SSH answered over the timed ones."""
        active = [b.active for b in self.boots if b.active is not None]
        ready = [b.ssh_ready for b in self.boots if b.timed]
        return (median(active) if active else None), (median(ready) if ready else None)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("file")
        data["services"] = [list(s) for s in self.services]
        return {"format": FORMAT, **data}

    @classmethod
    def from_dict(cls, data: dict) -> "Run":
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT!r} record (format {data.get('format')!r})")
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "file"}
        fields["services"] = [tuple(s) for s in data.get("services", [])]
        fields["boots"] = [Boot(**b) for b in data.get("boots", [])]
        fields["tests"] = [Result(**t) for t in data.get("tests", [])]
        run = cls(**fields)
        if not isinstance(run.start, (int, float)) or not run.cloud:
            raise ValueError("no start time or cloud")
        return run


def first_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The first line of a message; a check's header (``statement [where]:``) with its first mismatch after it."""
    lines = [s.strip() for s in (text or "").splitlines() if s.strip()]
    line = lines[0] if lines else ""
    if line.endswith(":") and len(lines) > 1:
        line = f"{line} {lines[1].removeprefix('- ')}"
    return line if len(line) <= limit else line[:limit - 3] + "..."


def note_phase(results: Dict[str, Result], nodeid: str, facts: Sequence[str], when: str, outcome: str,
               duration: float, message: str) -> None:
    """Fold one phase of a test (pytest's setup/call/teardown report: outcome passed/failed/skipped) into its result,
    as pytest counts it: a failed call is a failure, a failed setup or teardown an error, a skip a skip."""
    result = results.setdefault(nodeid, Result(nodeid))
    result.facts += [f for f in facts if f not in result.facts]
    result.duration = round(result.duration + (duration or 0.0), 3)
    if outcome == "failed":
        if result.outcome not in FAILING:  # the first failure of a test is its message
            result.outcome = "failed" if when == "call" else "error"
            result.message = first_line(message)
    elif outcome == "skipped" and when in ("setup", "call"):
        result.outcome, result.message = "skipped", first_line(message)
    elif outcome == "passed" and when == "call":
        result.outcome = "passed"


# --- boot timings, from the progress lines of the run -----------------------------------------------------------

_STATE = re.compile(r"^server (?P<server>\S+): (?P<state>[A-Z_]+)(?:/\S+)? after (?P<after>\d+(?:\.\d+)?)s$")
_SSH = re.compile(r"^guest (?P<server>\S+): SSH answered after (?P<after>\d+(?:\.\d+)?)s\b")


def boot_event(line: str, now: float) -> Optional[dict]:
    """A progress line of pytest_oslab.provision.servers or access.guests as an event with its wall time ``now``:
    ``server NAME: ACTIVE after 12.3s`` and ``guest NAME: SSH answered after 4.1s (route)``; None for others."""
    m = _STATE.match(line)
    if m:
        return {"server": m["server"], "state": m["state"], "after": float(m["after"]), "at": now}
    m = _SSH.match(line)
    if m:
        return {"server": m["server"], "ssh_after": float(m["after"]), "at": now}
    return None


class BootTimes:
    """Reads the progress lines of the run (``OslabSession.progress``) for boot events, until a report takes them."""

    def __init__(self):
        self.events: List[dict] = []

    def wrap(self, progress: Callable[[str], None]) -> Callable[[str], None]:
        def tee(line: str) -> None:
            event = boot_event(line, time.time())
            if event is not None:
                self.events.append(event)
            progress(line)
        return tee

    def take(self) -> List[dict]:
        taken, self.events = self.events, []
        return taken


def boots_from(events: Iterable[dict]) -> List[Boot]:
    """Per server: create -> ACTIVE (as the boot loop timed it), create -> first SSH answer and create -> first SSH
    attempt (wall times against the create time that the state lines imply)."""
    created: Dict[str, float] = {}
    found: Dict[str, Boot] = {}
    ssh: Dict[str, dict] = {}
    for e in events:
        name = e["server"]
        if "state" in e:
            created[name] = min(created.get(name, e["at"]), e["at"] - e["after"])
            boot = found.setdefault(name, Boot(name))
            if e["state"] == "ACTIVE" and boot.active is None:
                boot.active = round(e["after"], 1)
        elif name not in ssh:
            ssh[name] = e
    for name, e in ssh.items():
        if name in created:
            boot = found.setdefault(name, Boot(name))
            boot.ssh_ready = round(e["at"] - created[name], 1)
            boot.first_try = round(e["at"] - e["ssh_after"] - created[name], 1)
    return [found[n] for n in sorted(found)]


# --- files ---------------------------------------------------------------------------------------------------------

def history_dir(report_dir: Path) -> Path:
    return Path(report_dir) / HISTORY_DIR


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, synced, then renamed over it: a reader sees the
    old file or the new one, and a process killed meanwhile leaves only the temporary file (a dot-file)."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)


def write_run(report_dir: Path, run: Run) -> Path:
    directory = history_dir(report_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run.name}.json"
    write_atomically(path, json.dumps(run.to_dict(), indent=1, sort_keys=True) + "\n")
    return path


def read_runs(report_dir: Path) -> Tuple[List[Run], List[str]]:
    """Every run recorded in ``report_dir``, oldest first, and one line per file that could not be read."""
    runs, problems = [], []
    directory = history_dir(report_dir)
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            run = Run.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as e:
            problems.append(f"{HISTORY_DIR}/{path.name} skipped: {type(e).__name__}: {first_line(str(e), 120)}")
            continue
        run.file = path.name
        runs.append(run)
    runs.sort(key=lambda r: (r.start, r.run_id))
    return runs, problems


def prune(runs: Sequence[Run], keep: int = 0, days: float = 0, now: Optional[float] = None) -> List[Run]:
    """The runs to drop: beyond the newest ``keep`` of each series, or started more than ``days`` ago (0: no limit)."""
    now = time.time() if now is None else now
    drop = []
    for series in series_of(runs).values():
        for i, run in enumerate(reversed(series)):
            if (keep and i >= keep) or (days and now - run.start > days * 86400):
                drop.append(run)
    return sorted(drop, key=lambda r: r.start)


def remove(report_dir: Path, runs: Iterable[Run], kept: Iterable[Run] = ()) -> List[str]:
    """Delete the history files of ``runs`` and their report files in ``report_dir``, except a report file a
    ``kept`` run names too (a ``--html`` name given every night); the names removed."""
    report_dir = Path(report_dir)
    needed = {name for run in kept for name in (run.report, run.junit)}
    removed = []
    for run in runs:
        paths = [history_dir(report_dir) / run.file] if run.file else []
        paths += [report_dir / name for name in (run.report, run.junit)
                  if name and "/" not in name and name not in needed]
        for path in paths:
            try:
                path.unlink()
                removed.append(str(path.relative_to(report_dir)))
            except FileNotFoundError:
                continue
    return removed


def remove_stale_temps(report_dir: Path, now: Optional[float] = None) -> List[str]:
    """Temporary files that runs killed while writing left behind, once a day old (a live writer's are younger)."""
    now = time.time() if now is None else now
    removed = []
    directory = history_dir(report_dir)
    for path in directory.glob(".*.tmp") if directory.is_dir() else []:
        try:
            if now - path.stat().st_mtime > STALE_TEMP:
                path.unlink()
                removed.append(path.name)
        except FileNotFoundError:
            continue
    return removed


# --- what changed --------------------------------------------------------------------------------------------------

def series_of(runs: Iterable[Run]) -> Dict[Tuple[str, str, str, str], List[Run]]:
    """Runs by series (``Run.series``), each oldest first; the series with the newest run first."""
    found: Dict[Tuple[str, str, str, str], List[Run]] = {}
    for run in sorted(runs, key=lambda r: (r.start, r.run_id)):
        found.setdefault(run.series, []).append(run)
    return dict(sorted(found.items(), key=lambda item: -item[1][-1].start))


@dataclass
class Changes:
    new: List[str] = field(default_factory=list)  # failing now, not failing in the previous run
    fixed: List[str] = field(default_factory=list)  # passing now, failing in the previous run
    still: List[str] = field(default_factory=list)  # failing in both
    environment: List[str] = field(default_factory=list)  # versions, drivers, region that differ


def changes(previous: Optional[Run], run: Run) -> Changes:
    """What ``run`` shows against the run before it in its series (all its failures are new for the first)."""
    now = run.outcomes()
    before = previous.outcomes() if previous is not None else {}
    found = Changes()
    for nodeid, outcome in now.items():
        was = before.get(nodeid)
        if outcome in FAILING:
            (found.still if was in FAILING else found.new).append(nodeid)
        elif outcome == "passed" and was in FAILING:
            found.fixed.append(nodeid)
    if previous is not None:
        old, new = dict(previous.services), dict(run.services)
        for service in sorted(set(old) | set(new)):
            if old.get(service) != new.get(service):
                found.environment.append(f"{service}: {old.get(service, 'absent')} -> {new.get(service, 'absent')}")
        if previous.region != run.region:
            found.environment.append(f"region: {previous.region or '?'} -> {run.region or '?'}")
        if previous.type_drivers != run.type_drivers:
            found.environment.append(f"network types: {', '.join(previous.type_drivers) or '?'} -> "
                                     f"{', '.join(run.type_drivers) or '?'}")
    return found


def flips(runs: Sequence[Run]) -> Dict[str, int]:
    """Per test: how many times it went from passing to failing or back across ``runs`` (oldest first); runs where
    it was skipped or absent are left out, so a skip between two passes is no flip."""
    last: Dict[str, bool] = {}
    count: Dict[str, int] = {}
    for run in runs:
        for nodeid, outcome in run.outcomes().items():
            if outcome not in ("passed",) + FAILING:
                continue
            failing = outcome in FAILING
            if nodeid in last and last[nodeid] != failing:
                count[nodeid] = count.get(nodeid, 0) + 1
            last[nodeid] = failing
            count.setdefault(nodeid, 0)
    return count
