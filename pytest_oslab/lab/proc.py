"""The machine's processes, as the lab asks about them, read through psutil (no hand-written /proc parsing).

A process that is gone, a zombie, or not readable counts as not there: every answer is about live processes.
Namespaces are the one thing psutil does not know; ``in_namespaces`` reads their inodes from /proc.
"""
from __future__ import annotations

import os
import signal
import time
from typing import Callable, Dict, Iterable, List, Optional

import psutil

_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except _GONE:
        return False


def command_line(pid: int) -> List[str]:
    """The argv of a live process ([] when it is gone or a zombie). An agent that retitles itself shows its
    arguments as one word: ``" ".join`` the list to search it."""
    try:
        process = psutil.Process(pid)
        return [] if process.status() == psutil.STATUS_ZOMBIE else process.cmdline()
    except _GONE:
        return []


def started_at(pid: int) -> Optional[float]:
    """When a live process started (seconds since the epoch), None when it is gone."""
    try:
        return psutil.Process(pid).create_time()
    except _GONE:
        return None


def session(pid: int) -> Optional[int]:
    """The session a live process belongs to (its leader's PID as this machine sees it), None when it is gone. A
    daemon the lab starts through ``setsid`` leads its own session, and what it forks (a ``--monitor``'s child) stays
    in it."""
    try:
        return os.getsid(pid) if alive(pid) else None
    except OSError:
        return None


def children(pid: int) -> List[int]:
    """The live direct children of ``pid``."""
    try:
        return [c.pid for c in psutil.Process(pid).children() if alive(c.pid)]
    except _GONE:
        return []


def _live() -> Iterable[psutil.Process]:
    for process in psutil.process_iter(["status"]):
        if process.info["status"] != psutil.STATUS_ZOMBIE:
            yield process


def group(pgid: int) -> List[int]:
    """The live members of process group ``pgid`` (a daemon's workers outlive its master a while and keep its
    listening socket)."""
    found = []
    for process in _live():
        try:
            if os.getpgid(process.pid) == pgid:
                found.append(process.pid)
        except OSError:
            continue
    return found


def named(name: str) -> set:
    """The live processes whose name (``comm``) is ``name``."""
    return {p.pid for p in _live() if name_of(p.pid) == name}


def name_of(pid: int) -> Optional[str]:
    """A live process's name (``comm``), None when it is gone."""
    try:
        return psutil.Process(pid).name()
    except _GONE:
        return None


def matching(wanted: Callable[[str], bool]) -> List[int]:
    """The live processes whose command line, as one string, ``wanted`` accepts."""
    return [p.pid for p in _live() if wanted(" ".join(command_line(p.pid)))]


def end(pids: Iterable[int], timeout: float, kill_wait: float = 5.0) -> List[int]:
    """SIGTERM to each of ``pids``, SIGKILL to those still alive after ``timeout`` seconds; those still alive
    ``kill_wait`` seconds after that (empty: all ended)."""
    left = list(pids)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, kill_wait)):
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while True:
            left = [p for p in left if alive(p)]
            if not left:
                return []
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    return left


def namespace_ids(pid: int) -> Dict[str, int]:
    """The inode of each namespace of the process ``pid`` (mnt, net, pid, uts)."""
    return {kind: os.stat(f"/proc/{pid}/ns/{kind}").st_ino for kind in ("mnt", "net", "pid", "uts")}


def in_namespaces(ids: Dict[str, int]) -> List[int]:
    """The live processes in any of the namespaces ``ids`` (as ``namespace_ids`` gave them)."""
    found = []
    for process in _live():
        for kind, inode in ids.items():
            try:
                if os.stat(f"/proc/{process.pid}/ns/{kind}").st_ino == inode:
                    found.append(process.pid)
                    break
            except OSError:
                break
    return found


def command_lines_in_pid_namespace(pid: int) -> Dict[int, str]:
    """{PID as the machine sees it: command line as one string} of the live processes in the PID namespace of
    ``pid``."""
    return {p: " ".join(command_line(p)) for p in in_namespaces({"pid": namespace_ids(pid)["pid"]})}
