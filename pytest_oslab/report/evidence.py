"""Evidence for a test's report: command outputs and logs attached while it runs, shown where it failed.

``attach(item, title, text)`` keeps a trimmed text on the test item; the plugin's report hook moves it into
the phase's report as a section (printed under the failure in the terminal, kept in JUnit XML) and, with
pytest-html, as an extra. Texts are trimmed so reports stay small, and secrets are masked on the way out.
"""
from __future__ import annotations

from typing import List, Tuple

import pytest

from pytest_oslab.secrets import SECRETS

EVIDENCE = pytest.StashKey[List[Tuple[str, str]]]()
LIMIT = 8000  # characters kept per attachment: the tail, where the latest lines are


def trim(text: str, limit: int = LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters trimmed ...]\n" + text[-limit:]


def attach(item, title: str, text: str) -> None:
    if item is None:
        return
    item.stash.setdefault(EVIDENCE, []).append((title, trim(SECRETS.redact(text or ""))))


def move_to_report(item, report) -> None:
    """Move the item's pending evidence into ``report`` (sections, and pytest-html extras when present)."""
    pending = item.stash.get(EVIDENCE, [])
    if not pending:
        return
    item.stash[EVIDENCE] = []
    try:
        from pytest_html import extras as html_extras
    except ImportError:  # pragma: no cover - pytest-html is a dependency, but a report without it still works
        html_extras = None
    extras = list(getattr(report, "extras", []))
    for title, text in pending:
        report.sections.append((f"oslab: {title}", text))
        if html_extras is not None:
            extras.append(html_extras.text(text, name=title))
    report.extras = extras


def redact_report(report) -> None:
    """Mask secrets in a report's failure text and captured sections before anyone writes it anywhere."""
    if not len(SECRETS):
        return
    report.sections = [(title, SECRETS.redact(text)) for title, text in report.sections]
    if report.longrepr is not None:
        text = report.longreprtext if hasattr(report, "longreprtext") else str(report.longrepr)
        clean = SECRETS.redact(text)
        if clean != text:
            if isinstance(report.longrepr, tuple):  # skip: (file, line, reason)
                report.longrepr = report.longrepr[:2] + (SECRETS.redact(report.longrepr[2]),)
            else:
                report.longrepr = clean
