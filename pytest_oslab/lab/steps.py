"""The lab is built from steps: each checks its own result, can be re-run, and says what failed.

A step has a ``name``, a cheap ``done(lab)`` test (true when its result is already there and healthy) and a
``run(lab)`` that makes it so. ``run_steps`` prints progress with elapsed time, keeps a ticker going while a
long step runs so it never looks hung, and turns any failure into one ``LabError`` line naming the step.
"""
from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Optional, TextIO


class LabError(Exception):
    """A lab failure, reported to the user as one line: what failed, and where its log is."""

    def __init__(self, message: str, log: Optional[str] = None):
        self.log = log
        super().__init__(message + (f" (log: {log})" if log else ""))


class Step:
    """One idempotent piece of the lab. Subclasses set ``name`` and implement ``done`` and ``run``."""

    name = "step"

    def done(self, lab) -> bool:  # pragma: no cover - overridden
        return False

    def run(self, lab) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def say(self, text: str) -> None:
        """A line of progress from inside ``run`` (``run_steps`` shows it under the step's name)."""


class FuncStep(Step):
    """A step made of two callables, for the many steps that need no state of their own."""

    def __init__(self, name: str, run: Callable, done: Optional[Callable] = None):
        self.name = name
        self._run = run
        self._done = done

    def done(self, lab) -> bool:
        return bool(self._done and self._done(lab))

    def run(self, lab) -> None:
        self._run(lab)


class Progress:
    """Step-by-step output: ``[ 12.3s] name ... ok (4.2s)``; a ticker line every ``tick`` seconds."""

    def __init__(self, out: TextIO = sys.stdout, tick: float = 15.0, prefix: str = ""):
        self.out = out
        self.tick = tick
        self.prefix = prefix
        self.t0 = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def line(self, text: str) -> None:
        self.out.write(f"[{self.elapsed():6.1f}s] {self.prefix}{text}\n")
        self.out.flush()

    def run(self, name: str, fn: Callable[[], None]) -> float:
        start = time.monotonic()
        stop = threading.Event()

        def ticker():
            while not stop.wait(self.tick):
                self.line(f"{name} ... still running ({time.monotonic() - start:.0f}s)")

        thread = threading.Thread(target=ticker, daemon=True)
        thread.start()
        try:
            fn()
        finally:
            stop.set()
            thread.join()
        return time.monotonic() - start


def _safe_done(step: Step, lab) -> bool:
    try:
        return bool(step.done(lab))
    except Exception:
        return False


def run_steps(steps: Iterable[Step], lab, progress: Optional[Progress] = None) -> None:
    """Run each step that is not already done; raise LabError naming the first step that fails.

    The steps' ``done`` checks are read-only, so they are first made all at once (a lab that is up answers
    in the time of its slowest check); once a step has run, the checks after it are made again in order.
    """
    steps = list(steps)
    progress = progress or Progress()
    with ThreadPoolExecutor(max_workers=8) as pool:
        known = list(pool.map(lambda st: _safe_done(st, lab), steps))
    changed = False
    for index, step in enumerate(steps):
        if (_safe_done(step, lab) if changed else known[index]):
            progress.line(f"{step.name} ... already done")
            continue
        changed = True
        progress.line(f"{step.name} ...")
        step.say = lambda text, name=step.name: progress.line(f"{name}: {text}")
        try:
            took = progress.run(step.name, lambda: step.run(lab))
        except LabError as exc:
            raise LabError(f"step {step.name!r} failed: {exc}") from exc
        except Exception as exc:  # any other fault still becomes one line naming the step
            raise LabError(f"step {step.name!r} failed: {type(exc).__name__}: {exc}") from exc
        if not step.done(lab):
            raise LabError(f"step {step.name!r} ran but its result is not there")
        progress.line(f"{step.name} ... ok ({took:.1f}s)")
