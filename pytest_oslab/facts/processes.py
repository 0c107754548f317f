"""Processes from ``ps -eo pid,args`` (or ``ps -ef``) and from ``/proc/<pid>/cmdline``."""
from dataclasses import dataclass
from typing import List, Tuple

from ._parse import ParseError, lines


@dataclass(frozen=True)
class Process:
    pid: int
    args: str                 # the command line as ps prints it
    user: str = None          # with ps -ef

    @property
    def argv(self) -> Tuple[str, ...]:
        return tuple(self.args.split())

    @property
    def program(self):
        """Basename of argv[0]: ``dnsmasq``, ``haproxy``, ``qemu-system-x86_64``..."""
        return self.argv[0].rsplit("/", 1)[-1] if self.argv else ""


def parse_ps(text) -> List[Process]:
    """``ps -eo pid,args`` (header ``PID COMMAND`` optional) or ``ps -ef`` (``UID PID PPID C STIME TTY TIME CMD``,
    header optional) -> ``[Process]``."""
    rows = lines(text)
    if not rows:
        return []
    header = rows[0].split()
    if header[:2] == ["UID", "PID"] or (header[0] != "PID" and not header[0].isdigit()):
        return [_ps_ef(line) for line in rows if line.split()[:2] != ["UID", "PID"]]
    return [_ps_pid_args(line) for line in rows if line.split()[:1] != ["PID"]]


def _ps_pid_args(line):
    pid, _, args = line.strip().partition(" ")
    if not pid.isdigit() or not args.strip():
        raise ParseError("ps -eo pid,args", "expected 'PID ARGS'", line)
    return Process(pid=int(pid), args=args.strip())


def _ps_ef(line):
    words = line.split(None, 7)
    if len(words) < 8 or not words[1].isdigit():
        raise ParseError("ps -ef", "expected 'UID PID PPID C STIME TTY TIME CMD'", line)
    return Process(pid=int(words[1]), args=words[7], user=words[0])


def parse_proc_cmdline(data) -> Tuple[str, ...]:
    """``/proc/<pid>/cmdline`` (NUL-separated, bytes or str) -> argv."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if not data.strip("\0"):
        raise ParseError("/proc/<pid>/cmdline", "empty (kernel thread or exited process)", data)
    return tuple(arg for arg in data.split("\0") if arg)


def find(processes, program, *contains) -> List[Process]:
    """Processes whose program is ``program`` and whose command line holds every string of ``contains``
    (``find(ps, "dnsmasq", "/var/lib/neutron/dhcp/<net>/")``)."""
    return [p for p in processes if p.program == program and all(text in p.args for text in contains)]
