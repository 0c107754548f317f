"""The probe's figures in the report: per guest and path "lost N of M, longest gap X s" against the limits, and
the loss over time as inline SVG (no script, nothing fetched).

``figures`` turns the series (``pytest_oslab.facts.probe``) into a small dict that travels on the phase step's
report (``gate["probe"]``); ``probe_html`` draws it.
"""
from __future__ import annotations

from typing import List, Optional

from pytest_oslab.facts.probe import Series, loss_over_time, over_limits
from pytest_oslab.report.html import esc, section

BUCKETS = 60
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def figures(series: List[Series], max_loss: Optional[float], max_gap: Optional[float], notes: List[str]) -> dict:
    start = min((s.start for s in series if s.times), default=0.0)
    end = max((s.end for s in series if s.times), default=start)
    return {
        "start": start, "end": end, "limits": {"max_loss": max_loss, "max_gap": max_gap}, "notes": notes,
        "over": over_limits(series, max_loss, max_gap),
        "series": [{"guest": s.guest, "path": s.path, "lost": s.lost, "total": s.total,
                    "loss_percent": round(s.loss_percent, 2), "gap": s.longest_gap, "renewals": s.renewals,
                    "line": s.line(),
                    "buckets": [None if p is None else round(p, 1)
                                for _, p in loss_over_time(s, start, end, BUCKETS)]} for s in series],
    }


def chart_svg(fig: dict, width: int = 720, height: int = 220) -> str:
    """Loss (percent of each slice's probes) over the probe's time, a line per guest and path."""
    left, right, top, bottom = 44, 10, 10, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    duration = max(fig["end"] - fig["start"], 1e-9)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 18 * len(fig["series"])}" '
             f'class="oslab-probe-chart" role="img" aria-label="probe loss over time">',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>']
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{pct}%</text>')
    for i in range(5):
        x = left + plot_w * i / 4
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" font-size="10" text-anchor="middle">'
                     f'{duration * i / 4:.0f} s</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h + 30}" font-size="10" text-anchor="middle">'
                 f'time since the first probe (lost share of each {duration / BUCKETS:.1f} s slice)</text>')
    for n, s in enumerate(fig["series"]):
        colour = COLOURS[n % len(COLOURS)]
        buckets = s["buckets"]
        step = plot_w / max(len(buckets), 1)
        runs: List[List[str]] = [[]]
        for i, p in enumerate(buckets):
            if p is None:
                runs.append([])
                continue
            runs[-1].append(f"{left + step * (i + 0.5):.1f},{top + plot_h * (1 - p / 100):.1f}")
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2" fill="{colour}"/>')
            elif run:
                parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        y = height + 18 * n + 4
        parts.append(f'<rect x="{left}" y="{y}" width="12" height="3" fill="{colour}"/>'
                     f'<text x="{left + 18}" y="{y + 5}" font-size="11">{esc(s["line"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def probe_html(fig: dict) -> str:
    limits = fig.get("limits") or {}
    shown = [f"--oslab-max-loss {limits['max_loss']:g}%" if limits.get("max_loss") is not None else
             "no --oslab-max-loss", f"--oslab-max-gap {limits['max_gap']:g} s" if limits.get("max_gap") is not None
             else "no --oslab-max-gap"]
    over = fig.get("over") or []
    verdict = (f'<span class="oslab-bad">{len(over)} over the limits</span>' if over
               else '<span class="oslab-good">within the limits</span>')
    rows = "".join(
        f'<tr class="{"oslab-must" if any(o.startswith(s["line"]) for o in over) else ""}"><td>{esc(s["guest"])}</td>'
        f'<td>{esc(s["path"])}</td><td>lost {s["lost"]} of {s["total"]} ({s["loss_percent"]:.1f}%)</td>'
        f'<td>{s["gap"]:.1f} s</td></tr>' for s in fig["series"])
    notes = "".join(f"<li>{esc(n)}</li>" for n in fig.get("notes") or [])
    body = (f"<p>{verdict}: {esc('; '.join(shown))}.</p>"
            f'<table class="oslab-changes"><tr><th>guest</th><th>path</th><th>loss</th><th>longest gap</th></tr>'
            f"{rows}</table>" + (f"<ul>{notes}</ul>" if notes else "") + chart_svg(fig))
    return section("Data plane during the upgrade (probe)", body, "oslab-probe")
