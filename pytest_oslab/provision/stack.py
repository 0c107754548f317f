"""A stack of created resources, deleted in reverse order, each deletion waited for, even on failure or Ctrl-C.

``push`` records a resource as soon as the API returned it (before tagging or waiting, so a failure in between
still deletes it). ``close`` deletes from the top: servers before their ports, interfaces before routers,
subnets before networks; each deletion is polled until the resource is gone, bounded by the timeout. Servers
pushed one after the other depend on none of each other: they are deleted together, then waited for together. An error
deleting one resource is reported and the rest still go. A second Ctrl-C during ``close`` stops it and says
what is left and how to remove it (``oslab cleanup``). With ``keep`` nothing is deleted: the stack lists what
stays.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

from pytest_oslab.cloud.errors import describe

log = logging.getLogger("pytest_oslab.provision")


@dataclass
class Entry:
    kind: str  # "server", "port", ...
    label: str  # name (id) for messages
    delete: Callable[[], None]
    exists: Callable[[], bool]


BATCHED = ("server",)  # kinds whose consecutive entries are deleted together, then waited for together


class ResourceStack:
    def __init__(self, timeout: float, keep: bool = False, report: Callable[[str], None] = log.warning,
                 cleanup_hint: str = "oslab cleanup", poll: float = 1.0):
        self.timeout = timeout
        self.keep = keep
        self.report = report
        self.cleanup_hint = cleanup_hint
        self.poll = poll
        self._entries: List[Entry] = []
        self._lock = threading.Lock()

    def push(self, kind: str, label: str, delete: Callable[[], None], exists: Callable[[], bool]) -> None:
        with self._lock:
            self._entries.append(Entry(kind, label, delete, exists))

    def __len__(self) -> int:
        return len(self._entries)

    def labels(self) -> List[str]:
        return [f"{e.kind} {e.label}" for e in self._entries]

    def _pop(self) -> List[Entry]:
        """The newest entry, with the entries of its kind just below it when its kind is ``BATCHED``."""
        with self._lock:
            batch = [self._entries.pop()] if self._entries else []
            while batch and batch[0].kind in BATCHED and self._entries and self._entries[-1].kind == batch[0].kind:
                batch.append(self._entries.pop())
            return batch

    def _wait_gone(self, entry: Entry, deadline: float) -> None:
        while True:
            if not entry.exists():
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"still there after {self.timeout:.0f}s")
            time.sleep(self.poll)

    def close(self) -> List[str]:
        """Delete everything, newest first; return one line per resource that could not be deleted."""
        if self.keep:
            if self._entries:
                self.report(f"oslab: --oslab-keep: leaving {len(self._entries)} resources: "
                            + ", ".join(reversed(self.labels())))
            self._entries.clear()
            return []
        problems = []

        def failed(entry: Entry, e: Exception) -> None:  # one resource's failure must not leave the others behind
            line = f"oslab: could not delete {entry.kind} {entry.label}: {describe(e)}"
            problems.append(line)
            self.report(line)
        try:
            while True:
                batch = self._pop()
                if not batch:
                    break
                deleting = []
                try:
                    for entry in list(batch):
                        try:
                            entry.delete()
                            deleting.append(entry)
                        except Exception as e:
                            failed(entry, e)
                        batch.remove(entry)
                    deadline = time.monotonic() + self.timeout
                    while deleting:
                        entry = deleting[0]
                        try:
                            self._wait_gone(entry, deadline)
                            log.info("deleted %s %s", entry.kind, entry.label)
                        except Exception as e:
                            failed(entry, e)
                        deleting.pop(0)
                except KeyboardInterrupt:
                    self._entries.extend(reversed(deleting + batch))  # what is not known gone is left behind
                    raise
        except KeyboardInterrupt:
            self.report(f"oslab: cleanup interrupted; left behind: {', '.join(reversed(self.labels()))}; "
                        f"remove them with: {self.cleanup_hint}")
            self._entries.clear()
            raise
        return problems
