"""What this machine's CPUs did while the bench measured something (issue 17): the CPU-seconds of every core, the
busy share of all cores over time, and the CPU-seconds of each program, read through psutil as the lab reads its
processes (``pytest_oslab/lab/proc.py``): on the lab the cloud runs on the same cores as the suite, so the run's own
work and the cloud's are told apart.
"""
from __future__ import annotations

import collections
import os
import statistics
import threading
import time
from typing import Dict, List, Tuple

import psutil

PYTHONS = ("python", "python3")


def cpu_seconds() -> tuple:
    """(busy, total) CPU-seconds of all CPUs since boot (iowait counts as idle; a guest's time is in user's)."""
    t = psutil.cpu_times()
    idle = t.idle + t.iowait
    busy = t.user + t.nice + t.system + t.irq + t.softirq + t.steal
    return busy, busy + idle


def program_of(argv: List[str]) -> str:
    """The program a process runs, from its command line split at its NULs (as ``/proc/<pid>/cmdline`` holds it;
    psutil splits a rewritten title at its blanks instead): the executable's
    name; a Python interpreter's script or module (``nova-compute``, ``pytest``); a title the process set itself
    (``neutron-server: api worker (...)``, ``keystone uWSGI worker 1``, ``sshd: stack@notty``) by its first word;
    "kernel" for the kernel's threads (no command line)."""
    if not argv or not argv[0].strip():
        return "kernel"
    if " " in argv[0]:  # a title written over the command line (setproctitle; what follows is what was left)
        argv = argv[0].split()
    first = argv[0].split(":")[0]
    name = os.path.basename(first)
    if name.startswith(PYTHONS) and len(argv) > 1:
        rest = argv[1:]
        if rest[0] == "-m" and len(rest) > 1:
            return rest[1]
        if rest[0].startswith("-m") and len(rest[0]) > 2:
            return rest[0][2:]
        if rest[0].startswith("-"):  # a script on stdin or -c: the interpreter itself
            return name
        return os.path.basename(rest[0])
    return name


def processes() -> Dict[Tuple[int, float], Tuple[str, float]]:
    """(pid, start time) -> (program, CPU-seconds used so far: user + system, its own) of every process now; one
    that ended meanwhile is left out, a zombie has no command line."""
    found = {}
    for process in psutil.process_iter(["cmdline", "cpu_times", "create_time"]):
        info = process.info
        if info["cpu_times"] is None or info["create_time"] is None:  # ended, or not readable
            continue
        found[(process.pid, info["create_time"])] = (program_of(info["cmdline"] or []),
                                                    info["cpu_times"].user + info["cpu_times"].system)
    return found


def merged(seen: Dict, now: Dict) -> Dict:
    """``seen`` updated with the snapshot ``now``, each process keeping the program it was first seen running: one
    that is ending (a guest's QEMU as its server is deleted) has no command line left and would pass for the
    kernel's."""
    for key, (program, used) in now.items():
        first = seen.get(key, (program, 0))[0]
        seen[key] = (first if program == "kernel" else program, used)
    return seen


def per_program(before: Dict, after: Dict) -> Dict[str, float]:
    """CPU-seconds each program used between two ``processes()`` snapshots (processes born meanwhile from zero)."""
    used: Dict[str, float] = collections.Counter()
    for key, (program, seconds) in after.items():
        used[program] += seconds - before.get(key, (program, 0))[1]
    return dict(used)


class CpuMeter:
    """The CPU-seconds used by everything on this machine while it is entered, one busy fraction per ``every``
    seconds (the share of all cores in use) and, with ``programs``, the CPU-seconds of each program (processes
    read at every sample: one that ends between two samples loses what it used since the last, and a command
    too short to be seen is left out; ``unaccounted`` says how much that was)."""

    def __init__(self, every: float = 1.0, programs: bool = False):
        self.every = every
        self.programs = programs
        self.samples: list = []  # (seconds since the start, busy fraction of all cores)
        self.by_program: Dict[str, float] = {}
        self._stop = threading.Event()

    def _sample(self) -> None:
        last = cpu_seconds()
        while not self._stop.wait(self.every):
            now = cpu_seconds()
            busy, total = now[0] - last[0], now[1] - last[1]
            self.samples.append((time.monotonic() - self.t0, busy / total if total else 0.0))
            last = now
            if self.programs:
                merged(self._seen, processes())

    def __enter__(self) -> "CpuMeter":
        self.t0, self.start = time.monotonic(), cpu_seconds()
        if self.programs:
            self._first = processes()
            self._seen = dict(self._first)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        end = cpu_seconds()
        self.cpu_seconds = end[0] - self.start[0]
        self.cores = os.cpu_count() or 1
        if self.programs:
            merged(self._seen, processes())
            self.by_program = {p: used for p, used in per_program(self._first, self._seen).items() if used > 0}

    @property
    def floor(self) -> float:
        """The wall time the run's CPU work needs at the least on this machine: its CPU-seconds on every core."""
        return self.cpu_seconds / self.cores

    @property
    def unaccounted(self) -> float:
        return self.cpu_seconds - sum(self.by_program.values())

    def profile(self, bucket: float = 10.0) -> list:
        """The busy share of all cores, in percent, per ``bucket`` seconds of the run (the mean of its samples)."""
        buckets: dict = {}
        for t, busy in self.samples:
            buckets.setdefault(int((t - self.every / 2) // bucket), []).append(busy)
        return [round(100 * statistics.mean(buckets[i])) if i in buckets else None
                for i in range(max(buckets) + 1 if buckets else 0)]

    def heaviest(self, most: int = 8) -> List[Tuple[str, float]]:
        """The ``most`` programs that used the most CPU-seconds, most first."""
        return sorted(self.by_program.items(), key=lambda item: -item[1])[:most]
