"""Evidence: the command outputs and logs a test's checks judged, kept as records on the running test.

The bottom of the package (it imports nothing of it but ``secrets``). One tracker says which test is running:
the plugin binds every test item (``bind``) for its setup, call and teardown, so a check anywhere, in the suites
or in a user's own conftest, attaches to it; ``attach(title, text)`` keeps a ``Record(node, command, text)``
(a title ``node: command`` names the node; other titles have none), trimmed and with the run's secrets masked.
The plugin's report hook moves the pending records onto the phase's report (``move_to_report``): as sections
(printed under a failure in the terminal, kept in JUnit XML) and as ``report.oslab_evidence``, which travels
to the xdist controller with the report and which the HTML report renders (``of_report``), once.
"""
from __future__ import annotations

import threading
from typing import List, NamedTuple

import pytest

from pytest_oslab.secrets import SECRETS

EVIDENCE = pytest.StashKey[List["Record"]]()
LIMIT = 8000  # characters kept per attachment: the tail, where the latest lines are
SECTION_PREFIX = "oslab: "  # the report sections that carry evidence
_ITEM = [None]  # the running test item, shared by every thread of the run (checks may run in threads)
_LOCK = threading.Lock()


class Record(NamedTuple):
    """One output a check judged: the node it ran on ('' when none), the command (or what the text is), the text."""

    node: str
    command: str
    text: str

    @property
    def title(self) -> str:
        return f"{self.node}: {self.command}" if self.node else self.command

    @classmethod
    def of(cls, title: str, text: str) -> "Record":
        """``vm: ip -j addr`` names node ``vm``; a title whose first part is not one word names no node."""
        node, sep, command = title.partition(": ")
        if sep and node and " " not in node and command:
            return cls(node, command, text)
        return cls("", title, text)


def bind(item) -> None:
    """The test whose evidence the checks that follow attach (``None``: no test runs)."""
    with _LOCK:
        _ITEM[0] = item


def current():
    """The test bound now (None between tests)."""
    return _ITEM[0]


def trim(text: str, limit: int = LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters trimmed ...]\n" + text[-limit:]


def attach(title: str, text: str, item=None) -> None:
    """Keep ``text`` under ``title`` on ``item``, by default the running test (nothing when none runs)."""
    item = item if item is not None else current()
    if item is None:
        return
    item.stash.setdefault(EVIDENCE, []).append(Record.of(str(title), trim(SECRETS.redact(str(text or "")))))


def move_to_report(item, report) -> None:
    """Move the item's pending records onto ``report``: its sections and ``report.oslab_evidence``."""
    pending = item.stash.get(EVIDENCE, [])
    if not pending:
        return
    item.stash[EVIDENCE] = []
    for record in pending:
        report.sections.append((f"{SECTION_PREFIX}{record.title}", record.text))
    report.oslab_evidence = [tuple(record) for record in pending]  # plain tuples: serialized with it under xdist


def of_report(report) -> List[Record]:
    """The records a report carries (see ``move_to_report``)."""
    return [Record(*r) for r in getattr(report, "oslab_evidence", None) or ()]


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
