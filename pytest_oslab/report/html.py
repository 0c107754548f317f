"""What the HTML report shows beyond pytest-html's own table: where it goes, and how each part is drawn.

- ``default_paths``: ``reports/oslab-<cloud>-<UTC time>[-<phase>].html`` and the JUnit XML beside it, for a run
  whose user gave neither ``--html`` nor ``--junitxml``.
- ``test_panel``: per test, the failure as expected against actual, then the evidence the check judged (one
  collapsed block per record of ``pytest_oslab.evidence``: node, command, trimmed output), the one rendering of
  the evidence, so nothing is written beside the report and the report stays one file.
- ``summary_block``: the cloud (region, service versions, drivers, nodes checked), the upgrade gate when a
  phase ran, and the topology picture (inline SVG), shown above the results table.

Every text goes through ``scrub``: the run's registered secrets and anything shaped like a password, a
credential in a URL, a token or a private key are masked, whatever command printed them.
"""
from __future__ import annotations

import html
import json
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

from pytest_oslab.evidence import SECTION_PREFIX, Record, of_report
from pytest_oslab.secrets import MASK, SECRETS

PASSED_LIMIT = 3000  # characters of one output kept for a passing test: the head and the tail
FAILED_LIMIT = 8000  # for a failing one (evidence.py already keeps at most this much, the tail)

_PATTERNS = [
    # -----BEGIN OPENSSH PRIVATE KEY----- ... -----END OPENSSH PRIVATE KEY-----, or a cut-off head of one
    (re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|\Z)", re.S),
     f"[private key {MASK}]"),
    # scheme://user:secret@host (transport_url, database connection, proxies)
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@", re.I), rf"\g<1>{MASK}@"),
    # password = x, "password": "x", admin_token: x, secret=x
    (re.compile(r"""((?:pass(?:word|wd|phrase)?|secret|token|api[_-]?key)["']?\s*[:=]\s*["']?)"""
                r"""(?!<redacted>)[^\s"',;}]{3,}""", re.I), rf"\g<1>{MASK}"),
    # --os-password x, --token=x
    (re.compile(r"(--[\w-]*(?:password|token|secret)[\w-]*[ =])(?!<redacted>)\S+", re.I), rf"\g<1>{MASK}"),
    # HTTP headers carrying a token
    (re.compile(r"((?:X-(?:Auth|Subject)-Token|Authorization)\s*:\s*)\S+", re.I), rf"\g<1>{MASK}"),
]


def scrub(text: str) -> str:
    """``text`` with the run's secrets and anything shaped like a credential masked."""
    if not text:
        return text or ""
    text = SECRETS.redact(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def esc(value) -> str:
    return html.escape(scrub("" if value is None else str(value)), quote=True)


# --- where the report goes ----------------------------------------------------------------------------------

def stem(cloud: str, phase: Optional[str] = None, now: Optional[float] = None) -> str:
    """``oslab-lab-20250101-120000`` (UTC), ``-pre`` etc. appended for a phase; the cloud name made file-safe."""
    when = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", cloud or "cloud").strip("-") or "cloud"
    return f"oslab-{safe}-{when}" + (f"-{phase}" if phase else "")


def free_stem(directory: Path, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... so that no earlier report of the same second is overwritten."""
    candidate, n = base, 1
    while any((directory / f"{candidate}{ext}").exists() for ext in (".html", ".xml", ".json")):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


@dataclass
class ReportPaths:
    html: Optional[Path]
    junit: Optional[Path]


def default_paths(directory: Path, cloud: str, phase: Optional[str], want_html: bool, want_junit: bool,
                  now: Optional[float] = None) -> ReportPaths:
    """The default report files of a run; None for those the user named (or turned off) themselves."""
    name = free_stem(directory, stem(cloud, phase, now))
    return ReportPaths(html=directory / f"{name}.html" if want_html else None,
                       junit=directory / f"{name}.xml" if want_junit else None)


# --- per test: failure and evidence -------------------------------------------------------------------------

@dataclass
class Mismatch:
    what: str
    expected: str
    actual: str
    source: str = ""


@dataclass
class Failure:
    """One failed fact as ``pytest_oslab.checks.core.Check`` words it: statement, objects, problems."""

    statement: str
    where: str = ""
    note: str = ""
    mismatches: List[Mismatch] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)


_HEADER = re.compile(r"^(?P<statement>.*?)(?: \[(?P<where>.*)\])?:(?: \((?P<note>still so after [^)]*)\))?\s*$")
_MISMATCH = re.compile(r"^(?P<what>.+?): expected (?P<expected>.+?)(?: \((?P<source>[^()]*)\))?, "
                       r"actual (?P<actual>.+)$")
_EXC_PREFIX = re.compile(r"^(?:[\w.]*\.)?(?:CheckFailed|AssertionError|Failed|Exception): ")


def failure_message(report) -> str:
    """The failure's message without the traceback: the exception text, or the one line of a ``pytest.fail``."""
    longrepr = getattr(report, "longrepr", None)
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else (report.longreprtext or "")
    return _EXC_PREFIX.sub("", text.strip(), count=1)


def parse_failures(message: str) -> List[Failure]:
    """The facts a message says failed: ``statement [where]:`` then ``  - what: expected X (source), actual Y``.

    Lines that do not have that shape are kept as they are (``problems``); a message with no such header is one
    failure whose statement is its first line."""
    failures: List[Failure] = []
    for line in message.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("- ") and failures:
            item = stripped[2:]
            m = _MISMATCH.match(item)
            if m:
                failures[-1].mismatches.append(Mismatch(m["what"], m["expected"], m["actual"], m["source"] or ""))
            else:
                failures[-1].problems.append(item)
            continue
        header = _HEADER.match(stripped) if stripped.endswith(":") or "still so after" in stripped else None
        if header and not line.startswith(" "):
            failures.append(Failure(header["statement"], header["where"] or "", header["note"] or ""))
        elif failures:
            failures[-1].problems.append(stripped)
        else:
            failures.append(Failure(stripped))
    return failures


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters: the first third and the last two thirds, with the cut said in the middle."""
    if len(text) <= limit:
        return text
    head, tail = limit // 3, limit - limit // 3
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters trimmed ...]\n{text[-tail:]}"


def readable(text: str) -> str:
    """A JSON list printed on one line (``ip -j``, ``ovs-vsctl --format=json``) as one element per line; other
    text as it is."""
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]") and "\n" not in stripped):
        return text
    try:
        items = json.loads(stripped)
    except ValueError:
        return text
    if not isinstance(items, list):
        return text
    return "[\n" + ",\n".join(json.dumps(item, separators=(",", ":")) for item in items) + "\n]\n"


def _size(text: str) -> str:
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    size = len(text.encode())
    human = f"{size} B" if size < 1024 else f"{size / 1024:.1f} kB"
    return f"{lines} line{'s' if lines != 1 else ''}, {human}"


def evidence_html(records: Sequence[Record], failed: bool, phase: str = "call") -> str:
    if not records:
        return ""
    limit = FAILED_LIMIT if failed else PASSED_LIMIT
    blocks = []
    for node, command, text in records:
        text = readable(text or "")
        body = shorten(text, limit) if text.strip() else "(no output)"
        who = f'<span class="oslab-node">{esc(node)}</span> ' if node else ""
        blocks.append(f'<details class="oslab-ev"><summary>{who}<code>{esc(command)}</code> '
                      f'<span class="oslab-size">{_size(text)}</span></summary><pre>{esc(body)}</pre></details>')
    where = "" if phase == "call" else f" ({phase})"
    count = len(records)
    return (f'<div class="oslab-evidence"><div class="oslab-h">Evidence{where}: {count} output'
            f'{"s" if count != 1 else ""} the check judged</div>{"".join(blocks)}</div>')


def failure_html(failures: Sequence[Failure]) -> str:
    parts = []
    for f in failures:
        rows = "".join(f'<tr><td>{esc(m.what)}</td><td>{esc(m.expected)}'
                       f'{f" <span class=oslab-src>({esc(m.source)})</span>" if m.source else ""}</td>'
                       f'<td class="oslab-bad">{esc(m.actual)}</td></tr>' for m in f.mismatches)
        table = (f'<table class="oslab-expect"><tr><th></th><th>expected</th><th>actual</th></tr>{rows}</table>'
                 if rows else "")
        problems = "".join(f"<li>{esc(p)}</li>" for p in f.problems)
        note = f' <span class="oslab-src">({esc(f.note)})</span>' if f.note else ""
        where = f'<div class="oslab-where">{esc(f.where)}</div>' if f.where else ""
        parts.append(f'<div class="oslab-failure"><div class="oslab-statement">{esc(f.statement)}{note}</div>'
                     f'{where}{table}{f"<ul>{problems}</ul>" if problems else ""}</div>')
    return "".join(parts)


def test_panel(report) -> str:
    """The HTML a test's row shows above its log: the failure (expected vs actual) and the evidence."""
    failed = bool(getattr(report, "failed", False))
    parts = []
    if failed:
        parts.append(failure_html(parse_failures(failure_message(report))))
    parts.append(evidence_html(of_report(report), failed, getattr(report, "when", "call")))
    body = "".join(p for p in parts if p)
    return f'<div class="oslab-panel">{body}</div>' if body else ""


def without_evidence(log_parts: List[str]) -> List[str]:
    """pytest-html's log cell without the evidence sections (the panel shows them)."""
    prefix = html.escape(SECTION_PREFIX)  # a section's header line: " oslab: title " centred in dashes (or longer)
    kept = [part for part in log_parts if not part.split("\n", 1)[0].strip("- ").startswith(prefix)]
    return [html.escape(scrub(html.unescape(part)), quote=False) for part in kept] or ["No log output captured."]


# --- above the results: cloud, gate, topology ---------------------------------------------------------------

def table(rows: Iterable[Tuple[str, str]], css: str = "oslab-kv") -> str:
    """A two-column table; values are HTML already (escape them with ``esc``)."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{css}">{body}</table>'


def section(title: str, body: str, anchor: str) -> str:
    return f'<section class="oslab-section" id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def stylesheet() -> str:
    css = resources.files("pytest_oslab.report").joinpath("assets", "oslab.css").read_text()
    return f"<style>{css}</style>"


_KEY_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|$)", re.S | re.M)


def scrub_file(path: Path) -> bool:
    """Mask, in a written report file, every secret the run registered and any private key block; True when
    something had to be masked (the file is rewritten then)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    clean = _KEY_BLOCK.sub(f"[private key {MASK}]", SECRETS.redact(text))
    if clean == text:
        return False
    Path(path).write_text(clean, encoding="utf-8")
    return True
