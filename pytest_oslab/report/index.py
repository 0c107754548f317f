"""``reports/index.html``: the history of the runs kept in a report directory, as one self-contained page.

Per series (cloud, mechanism drivers, firewall, phase: runs that can be compared), newest series first:
- what the last run changed against the one before: new failures, fixes, still failing, environment changes;
- durations over the runs (inline SVG): the suite's, and the cloud's own create -> ACTIVE and create -> SSH
  answered (median over the servers the run booted); the slowest tests of the last run with their trend;
- the tests that flipped between passing and failing, with how often;
- the grid: each test (grouped by documented fact) by run, each cell linking to that run's HTML report;
- the runs, newest first: when, run id, its HTML report and JUnit XML, duration, counts, new failures and fixes.

Nothing is fetched: the stylesheet is inline, there is no script, the charts are SVG in the page, and the only
links are relative ones to the runs' own reports. Every text is escaped (and scrubbed of secrets) by ``esc``.

``update`` reads the history, prunes it and writes the page; ``main`` is ``oslab history``, which does the same
from the history alone (after a run was killed, or to prune by hand).
"""
from __future__ import annotations

import argparse
import math
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote

from pytest_oslab.report import history
from pytest_oslab.report.history import FAILING, Run
from pytest_oslab.report.html import esc

COLOURS = {"suite": "#1f5fbf", "active": "#7a3fbf", "ssh": "#d07000"}
SLOWEST = 8  # tests shown in "the slowest tests of the last run"


# --- pieces ----------------------------------------------------------------------------------------------------

def short(nodeid: str) -> str:
    """``suites/test_x.py::test_y[p]`` -> ``test_x.py::test_y[p]``."""
    path, sep, rest = nodeid.partition("::")
    return f"{path.rsplit('/', 1)[-1]}{sep}{rest}"


def href(name: str) -> str:
    return esc(quote(name, safe="/"))


def seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value >= 120:
        return f"{value / 60:.1f} min"
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def axis_top(top: float, ticks: int = 4) -> float:
    """The top of a chart's axis: ``ticks`` round steps (1, 2, 2.5 or 5 times a power of ten) covering ``top``."""
    if top <= 0:
        return float(ticks)
    power = 10.0 ** math.floor(math.log10(top / ticks))
    step = next(power * f for f in (1, 2, 2.5, 5, 10) if power * f * ticks >= top)
    return step * ticks


def line_chart(title: str, labels: Sequence[str], lines: Sequence[Tuple[str, str, Sequence[Optional[float]]]],
               width: int = 560, height: int = 200) -> str:
    """An inline SVG chart: one polyline per (name, colour, values), a point per run with its value as tooltip; a run
    without a value leaves a gap."""
    values = [v for _, _, vs in lines for v in vs if v is not None]
    if not values:
        return f'<p class="note">{esc(title)}: no run measured it.</p>'
    left, right, top, bottom = 52, 40, 24, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = axis_top(max(values))
    n = len(labels)

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / top_value

    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">',
             f'<text x="{left}" y="15" font-weight="bold">{esc(title)}</text>']
    for k in range(5):
        v = top_value * k / 4
        parts.append(f'<line class="grid-line" x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
                     f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{esc(seconds(v))}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}"/>')
    step = max(1, (n + 5) // 6)
    for i, label in enumerate(labels):
        if i % step == 0 or i == n - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{height - 18}" text-anchor="middle">{esc(label)}</text>')
    for j, (name, colour, vs) in enumerate(lines):
        segment: List[str] = []
        for i, v in enumerate(list(vs) + [None]):
            if v is not None:
                segment.append(f"{x(i):.1f},{y(v):.1f}")
            elif segment:
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(segment)}"/>')
                segment = []
        for i, v in enumerate(vs):
            if v is not None:
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                             f'<title>{esc(f"{name}, run of {labels[i]}: {seconds(v)}")}</title></circle>')
        parts.append(f'<rect x="{left + 150 * j}" y="{height - 11}" width="10" height="8" fill="{colour}"/>'
                     f'<text x="{left + 150 * j + 14}" y="{height - 3}">{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def sparkline(values: Sequence[Optional[float]], width: int = 120, height: int = 18) -> str:
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return ""
    top = max(known) or 1.0
    n = len(values)
    points = " ".join(f"{2 + (width - 4) * i / (n - 1):.1f},{height - 2 - (height - 4) * v / top:.1f}"
                      for i, v in enumerate(values) if v is not None)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="durations">'
            f'<polyline fill="none" stroke="{COLOURS["suite"]}" stroke-width="1.5" points="{points}"/></svg>')


def listed(nodeids: Sequence[str], run: Run, messages: bool = True) -> str:
    """Tests with their facts, and the first line of a failure under each (or, when not ``messages``, in its
    tooltip: the runs table stays a line or two per run)."""
    if not nodeids:
        return ""
    results = run.results()
    items = []
    for nodeid in nodeids:
        result = results.get(nodeid)
        facts = f" ({', '.join(result.facts)})" if result and result.facts else ""
        message = result.message if result and result.outcome in FAILING else ""
        tip = f"{nodeid}: {message}" if message and not messages else nodeid
        below = f'<div class="msg">{esc(message)}</div>' if message and messages else ""
        items.append(f'<li><code title="{esc(tip)}">{esc(short(nodeid))}</code>{esc(facts)}{below}</li>')
    return f'<ul class="tests">{"".join(items)}</ul>'


def report_links(run: Run) -> str:
    links = [f'<a href="{href(name)}">{kind}</a>' for kind, name in (("HTML", run.report), ("JUnit", run.junit))
             if name]
    return " ".join(links) or "-"


# --- one series ----------------------------------------------------------------------------------------------------

def series_title(key: Tuple[str, str, str, str]) -> str:
    cloud, drivers, firewall, phase = key
    text = f"cloud {cloud}: ML2 {drivers or '?'}, firewall {firewall or '?'}"
    return text + (f", phase {phase}" if phase else "")


def last_changes(runs: Sequence[Run], changes: Sequence[history.Changes]) -> str:
    run, found = runs[-1], changes[-1]
    against = f"against the run of {runs[-2].when()} UTC" if len(runs) > 1 else "(the first run kept)"
    rows = [("New failures", "bad", found.new), ("Fixed", "good", found.fixed), ("Still failing", "", found.still)]
    parts = [f'<p>Last run {esc(run.when())} UTC ({report_links(run)}) {esc(against)}:</p>']
    for title, css, nodeids in rows:
        count = f'<span class="{css}">{len(nodeids)}</span>' if nodeids and css else str(len(nodeids))
        parts.append(f"<div><b>{esc(title)}</b>: {count}{listed(nodeids, run)}</div>")
    if found.environment:
        parts.append("<div><b>Environment changed</b>: " + "; ".join(esc(e) for e in found.environment) + "</div>")
    return "".join(parts)


def runs_table(runs: Sequence[Run], changes: Sequence[history.Changes]) -> str:
    head = ("<tr><th>#</th><th>started (UTC)</th><th>run</th><th>report</th><th>duration</th><th>passed</th>"
            "<th>failed</th><th>errors</th><th>skipped</th><th>exit</th><th>new failures</th><th>fixed</th>"
            "<th>environment changes</th></tr>")
    rows = []
    for i in reversed(range(len(runs))):
        run, found, counts = runs[i], changes[i], runs[i].counts()
        bad = lambda n: f'<span class="bad">{n}</span>' if n else "0"  # noqa: E731 - one cell's format
        rows.append(
            f'<tr id="{esc(run.name)}"><td class="num">{i + 1}</td><td>{esc(run.when())}</td>'
            f'<td><code>{esc(run.run_id)}</code></td><td>{report_links(run)}</td>'
            f'<td class="num">{esc(seconds(run.duration))}</td><td class="num">{counts["passed"]}</td>'
            f'<td class="num">{bad(counts["failed"])}</td><td class="num">{bad(counts["error"])}</td>'
            f'<td class="num">{counts["skipped"]}</td><td class="num">{run.exitstatus}</td>'
            f'<td class="new">{listed(found.new, run, False)}</td>'
            f'<td class="fixed">{listed(found.fixed, run, False)}</td>'
            f'<td class="environment">{"<br>".join(esc(e) for e in found.environment)}</td></tr>')
    return f'<table class="runs">{head}{"".join(rows)}</table>'


def duration_charts(runs: Sequence[Run]) -> str:
    labels = [time.strftime("%m-%d %H:%M", time.gmtime(r.start)) for r in runs]
    medians = [r.boot_medians() for r in runs]
    suite = line_chart("Suite duration", labels, [("suite", COLOURS["suite"], [r.duration for r in runs])])
    boots = line_chart("Boot (median over the run's servers)", labels,
                       [("create -> ACTIVE", COLOURS["active"], [m[0] for m in medians]),
                        ("create -> SSH answered", COLOURS["ssh"], [m[1] for m in medians])])
    note = ('<p class="note">create -> SSH answered counts the servers whose guest was tried before it answered, or '
            f'within {history.PROMPT_LOGIN:.0f} s of ACTIVE; a guest that answered its first login at once, long after '
            'ACTIVE, was ready by then (that times the test order, not the boot).</p>')
    return f'<div class="charts">{suite}{boots}</div>{note}'


def slowest_tests(runs: Sequence[Run]) -> str:
    last = sorted(runs[-1].tests, key=lambda t: -t.duration)[:SLOWEST]
    if not last:
        return ""
    by_run = [{t.nodeid: t.duration for t in r.tests} for r in runs]
    rows = "".join(f'<tr><td><code title="{esc(t.nodeid)}">{esc(short(t.nodeid))}</code></td>'
                   f'<td class="num">{esc(seconds(t.duration))}</td>'
                   f'<td>{sparkline([d.get(t.nodeid) for d in by_run])}</td></tr>' for t in last)
    return (f'<h3>Slowest tests of the last run</h3><table class="slow"><tr><th>test</th><th>last run</th>'
            f'<th>over the runs</th></tr>{rows}</table>')


def flips_table(runs: Sequence[Run]) -> str:
    counts = {k: v for k, v in history.flips(runs).items() if v}
    if not counts:
        return f'<p class="note">No test flipped between passing and failing over these {len(runs)} runs.</p>'
    judged = {nodeid: sum(1 for r in runs if r.outcomes().get(nodeid) in ("passed",) + FAILING) for nodeid in counts}
    facts = latest_facts(runs)
    results = [run.results() for run in runs]
    rows = []
    for nodeid in sorted(counts, key=lambda k: (-counts[k], k)):
        rate = counts[nodeid] / max(1, judged[nodeid] - 1)
        strip = "".join(cell(r, results[i].get(nodeid)) for i, r in enumerate(runs))
        rows.append(f'<tr><td><code title="{esc(nodeid)}">{esc(short(nodeid))}</code></td>'
                    f'<td>{esc(", ".join(facts.get(nodeid, [])))}</td><td class="num flips">{counts[nodeid]}</td>'
                    f'<td class="num">{rate:.0%}</td><td><table class="grid"><tr>{strip}</tr></table></td></tr>')
    return ('<table class="flips"><tr><th>test</th><th>fact</th><th>flips</th><th>flip rate</th>'
            f'<th>outcomes, oldest first</th></tr>{"".join(rows)}</table>')


def latest_facts(runs: Sequence[Run]) -> Dict[str, List[str]]:
    found: Dict[str, List[str]] = {}
    for run in runs:
        for t in run.tests:
            found[t.nodeid] = list(t.facts)
    return found


def cell(run: Run, result: Optional[history.Result], change: str = "") -> str:
    """A test's square in a run: its outcome's colour and letter, a tooltip with the message, a link to the report."""
    if result is None or not result.outcome:
        return f'<td class="o-none" title="{esc(f"not run on {run.when()}")}"></td>'
    tip = f"{run.when()} UTC: {change + ' ' if change else ''}{result.outcome}, {seconds(result.duration)}"
    if result.message:
        tip += f": {result.message}"
    letter = result.outcome[0].upper()
    target = f' href="{href(run.report)}"' if run.report else ""
    css = f"o-{result.outcome}" + (f" {change}" if change else "")
    return f'<td class="{css}"><a{target} title="{esc(tip)}">{letter}</a></td>'


def fact_order(fact: str):
    """C1, C3, I2, I10, ... then "no fact": by letter, then by number."""
    return (fact == "no fact", [(int(part) if part.isdigit() else part) for part in re.split(r"(\d+)", fact)])


def grid(runs: Sequence[Run], changes: Sequence[history.Changes]) -> str:
    results = [run.results() for run in runs]
    facts = latest_facts(runs)
    flip = history.flips(runs)
    groups: Dict[str, List[str]] = {}
    for nodeid in sorted(facts):
        groups.setdefault(", ".join(facts[nodeid]) or "no fact", []).append(nodeid)
    head = "".join(f'<th title="{esc(r.when())} UTC, run {esc(r.run_id)}">{i + 1}</th>' for i, r in enumerate(runs))
    marks = [({n: "new" for n in c.new} | {n: "fixed" for n in c.fixed}) for c in changes]
    rows = []
    for fact in sorted(groups, key=fact_order):
        rows.append(f'<tr class="fact"><th colspan="{len(runs) + 2}">{esc(fact)}</th></tr>')
        for nodeid in groups[fact]:
            cells = "".join(cell(r, results[i].get(nodeid), marks[i].get(nodeid, "")) for i, r in enumerate(runs))
            rows.append(f'<tr><th><code title="{esc(nodeid)}">{esc(short(nodeid))}</code></th>'
                        f'<td class="flips" title="flips">{flip.get(nodeid, 0) or ""}</td>{cells}</tr>')
    legend = ('<p class="legend"><span class="o-passed">P passed</span><span class="o-failed">F failed</span>'
              '<span class="o-error">E error</span><span class="o-skipped">S skipped</span>'
              '<span class="o-none">not run</span> a black frame: a new failure; a dashed one: fixed. The number '
              'after a test is its flips; the columns are the runs of the table below (1 = oldest). Each cell links '
              'to its run\'s report.</p>')
    return (f'{legend}<table class="grid"><thead><tr><th></th><th></th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def series_html(key: Tuple[str, str, str, str], runs: Sequence[Run]) -> str:
    changes = [history.changes(runs[i - 1] if i else None, run) for i, run in enumerate(runs)]
    anchor = esc("s-" + "-".join(p or "none" for p in key))
    return (f'<section id="{anchor}"><h2>{esc(series_title(key))}: {len(runs)} run{"s" if len(runs) != 1 else ""}'
            f'</h2>{last_changes(runs, changes)}'
            f'<h3>Durations</h3>{duration_charts(runs)}{slowest_tests(runs)}'
            f'<h3>Flips between passing and failing (flaky tests flip often)</h3>{flips_table(runs)}'
            f'<h3>Tests by run</h3>{grid(runs, changes)}'
            f'<h3>Runs, newest first</h3>{runs_table(runs, changes)}</section>')


# --- the page ------------------------------------------------------------------------------------------------------

def render(runs: Sequence[Run], problems: Sequence[str] = (), removed: Sequence[str] = (),
           now: Optional[float] = None) -> str:
    css = resources.files("pytest_oslab.report").joinpath("assets", "history.css").read_text()
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() if now is None else now))
    series = history.series_of(runs)
    body = [f"<h1>pytest-oslab history</h1>",
            f'<p class="meta">{len(runs)} run{"s" if len(runs) != 1 else ""} kept in <code>history/</code>, '
            f'{len(series)} series (same cloud, drivers and phase); written {esc(when)} UTC.</p>']
    if problems:
        body.append('<p class="problems">' + "<br>".join(esc(p) for p in problems) + "</p>")
    if removed:
        body.append(f'<p class="note">Pruned now: {esc(", ".join(removed))}</p>')
    if not runs:
        body.append('<p>No run recorded yet: a run against a cloud (<code>pytest --cloud NAME</code>) records one.</p>')
    body += [series_html(key, rs) for key, rs in series.items()]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>pytest-oslab history</title>'
            f'<style>{css}</style></head><body>{"".join(body)}</body></html>\n')


@dataclass
class Updated:
    runs: List[Run] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    index: Optional[Path] = None


def update(report_dir: Path, keep: int = 0, days: float = 0, now: Optional[float] = None) -> Updated:
    """Read the history of ``report_dir``, prune it (``keep`` runs per series, ``days``; 0: no limit), drop what
    runs killed while writing left, and write ``index.html`` (atomically)."""
    report_dir = Path(report_dir)
    runs, problems = history.read_runs(report_dir)
    drop = history.prune(runs, keep, days, now)
    kept = [r for r in runs if r not in drop]
    removed = history.remove(report_dir, drop, kept) + history.remove_stale_temps(report_dir, now)
    path = report_dir / history.INDEX
    report_dir.mkdir(parents=True, exist_ok=True)
    history.write_atomically(path, render(kept, problems, removed, now))
    return Updated(kept, problems, removed, path)


def limits(keep, days) -> Tuple[int, float]:
    """(keep, days) from option or ini text; ValueError naming the bad one."""
    try:
        count = int(keep or 0)
    except ValueError:
        raise ValueError(f"history keep: {keep!r} is not a number of runs") from None
    try:
        age = float(days or 0)
    except ValueError:
        raise ValueError(f"history days: {days!r} is not a number of days") from None
    if count < 0 or age < 0:
        raise ValueError("history keep and days must be 0 (no limit) or more")
    return count, age


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="oslab history", description="write index.html from the history of the "
                                     "runs kept in a report directory (and prune it)")
    parser.add_argument("--report-dir", default="reports", help="the report directory (default: reports)")
    parser.add_argument("--keep", default="0", metavar="N", help="keep the newest N runs of each series (0: all)")
    parser.add_argument("--days", default="0", metavar="D", help="drop runs older than D days (0: none)")
    args = parser.parse_args(argv)
    try:
        keep, days = limits(args.keep, args.days)
    except ValueError as e:
        parser.error(str(e))
    done = update(Path(args.report_dir), keep, days)
    for line in done.problems:
        print(f"oslab history: {line}")
    if done.removed:
        print(f"oslab history: pruned {', '.join(done.removed)}")
    print(f"oslab history: {done.index} ({len(done.runs)} runs)")
    return 0
