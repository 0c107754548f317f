"""The lab's daemons: each started directly (no init system), logging to its own file, its PID recorded.

A daemon is started in a session of its own, so its PID is also the process group of what it forks
(uwsgi workers, RabbitMQ's Erlang VM, dnsmasq under the DHCP agent); stopping it signals that group only.
A recorded PID counts as the lab's only while ``/proc/<pid>/cmdline`` still shows the daemon's program,
so a PID reused after a reboot is never signalled. Beside the PID is a fingerprint of what the daemon was started
with (its command line, environment and configuration files): a daemon running with an older one is restarted by
the next ``start``, so ``lab up`` after a configuration change (or a new version of the lab) applies it.
"""
from __future__ import annotations

import grp
import hashlib
import os
import pwd
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from . import proc
from .steps import LabError

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Daemon:
    """One lab service: how to start it, as whom, where it logs and how to tell it is ready."""

    name: str
    argv: Sequence[str]
    user: str = "root"
    log: Optional[Path] = None
    port: Optional[int] = None  # a TCP port on 127.0.0.1 it must own
    http: Optional[str] = None  # a URL that must answer (any HTTP status) once ready
    ready: Optional[Callable[[], bool]] = None  # an extra readiness test
    env: Dict[str, str] = field(default_factory=dict)
    timeout: float = 120.0
    prepare: Optional[Callable[[], None]] = None  # run (as root) before each start
    own_logs: Sequence[Path] = ()  # log files the daemon writes itself (made writable for its user)
    settle: float = 8.0  # with nothing to probe, how long it must stay up to count as started
    configs: Sequence[Path] = ()  # configuration files it reads besides the /etc paths on its command line
    logs_owner: Optional[str] = None  # who writes its own logs, when not ``user`` (a container's user)

    def pid_file(self, pid_dir: Path) -> Path:
        return pid_dir / f"{self.name}.pid"

    @property
    def program(self) -> str:
        return os.path.basename(self.argv[0])


PORT_FREE_WAIT = 10.0


def config_files(daemon: Daemon) -> List[str]:
    """The .conf/.ini files under /etc on its command line (not a database such as OVS's conf.db), and configs."""
    return ([a for a in daemon.argv if a.startswith("/etc/") and a.endswith((".conf", ".ini"))]
            + [str(c) for c in daemon.configs])


def fingerprint(daemon: Daemon) -> str:
    """A digest of what the daemon starts with: command line, environment, and its configuration files' contents
    (hashed, never stored: they hold passwords)."""
    digest = hashlib.sha256("\0".join(daemon.argv).encode())
    digest.update(repr(sorted(daemon.env.items())).encode())
    for path in config_files(daemon):
        try:
            content = Path(path).read_bytes()
        except OSError:
            content = b"\0missing"
        digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()[:16]


def started_with(daemon: Daemon, pid_dir: Path) -> Optional[str]:
    """The fingerprint recorded when the daemon was started (None for a PID file without one)."""
    try:
        fields = daemon.pid_file(pid_dir).read_text().split()
    except OSError:
        return None
    return fields[1] if len(fields) > 1 else None


def outdated(daemon: Daemon, pid_dir: Path) -> bool:
    """Whether the daemon (which the caller found running) was started with another command line, environment or
    configuration than it would be now."""
    return started_with(daemon, pid_dir) != fingerprint(daemon)


def recorded_pid(daemon: Daemon, pid_dir: Path) -> Optional[int]:
    """The daemon's PID if the recorded process is alive and still runs the daemon's program."""
    path = daemon.pid_file(pid_dir)
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    joined = " ".join(proc.command_line(pid))
    if not joined:
        return None
    if daemon.program not in joined and daemon.name not in joined:
        return None
    return pid


def port_owner(port: int) -> Optional[str]:
    """Who listens on 127.0.0.1:port (or any address), as 'pid N (name)', or None when the port is free."""
    try:
        out = subprocess.run(["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    if not out.strip():
        return None
    if 'pid=' in out:
        name = out.split('(("', 1)[1].split('"', 1)[0] if '(("' in out else "?"
        pid = out.split("pid=", 1)[1].split(",", 1)[0]
        return f"pid {pid} ({name})"
    return "another process"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def http_answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=3).close()
        return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the service is serving
    except (OSError, ValueError):
        return False


def is_ready(daemon: Daemon) -> bool:
    if daemon.port and not port_open(daemon.port):
        return False
    if daemon.http and not http_answers(daemon.http):
        return False
    if daemon.ready and not daemon.ready():
        return False
    return True


def log_tail(path: Optional[Path], lines: int = 1) -> str:
    if not path or not Path(path).exists():
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 8192))
        text = fh.read().decode(errors="replace").strip().splitlines()
    interesting = [l for l in text if any(w in l for w in ("ERROR", "CRITICAL", "Error", "error", "Traceback"))]
    return " | ".join((interesting or text)[-lines:])[:300]


def start(daemon: Daemon, pid_dir: Path) -> int:
    """Start the daemon unless it already runs as it is now configured (one running with an outdated fingerprint
    is stopped first); return its PID. Does not wait for readiness."""
    pid = recorded_pid(daemon, pid_dir)
    if pid and not outdated(daemon, pid_dir):
        return pid
    if pid:
        stop(daemon, pid_dir)
    if daemon.port:
        owner, deadline = port_owner(daemon.port), time.monotonic() + PORT_FREE_WAIT
        while owner and time.monotonic() < deadline:  # a process just stopped may still be closing its socket
            time.sleep(0.5)
            owner = port_owner(daemon.port)
        if owner:
            raise LabError(f"{daemon.name}: port {daemon.port} already in use by {owner}", log=str(daemon.log))
    if daemon.prepare:
        daemon.prepare()
    pw = pwd.getpwnam(daemon.user)
    groups = os.getgrouplist(daemon.user, pw.pw_gid)
    env = {"PATH": SYSTEM_PATH, "HOME": pw.pw_dir, "LANG": "C.UTF-8", "USER": daemon.user}
    env.update(daemon.env)
    log = daemon.log or Path("/dev/null")
    writer = pwd.getpwnam(daemon.logs_owner) if daemon.logs_owner else pw
    for path in (log, *daemon.own_logs):
        if str(path) == "/dev/null":
            continue
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).touch(exist_ok=True)
        owner = writer if path in daemon.own_logs else pw
        os.chown(path, owner.pw_uid, owner.pw_gid)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(daemon.argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd="/", env=env,
            start_new_session=True,
            user=None if daemon.user == "root" else pw.pw_uid,
            group=None if daemon.user == "root" else pw.pw_gid,
            extra_groups=None if daemon.user == "root" else groups,
        )
    daemon.pid_file(pid_dir).parent.mkdir(parents=True, exist_ok=True)
    daemon.pid_file(pid_dir).write_text(f"{proc.pid} {fingerprint(daemon)}\n")
    # /proc/<pid>/cmdline shows the new program only once the child has exec'd: wait for that (or its exit)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and proc.poll() is None and not recorded_pid(daemon, pid_dir):
        time.sleep(0.02)
    return proc.pid


def wait_ready(daemon: Daemon, pid_dir: Path, timeout: Optional[float] = None) -> None:
    """Wait until the daemon answers; fail naming it and its log if it exits or does not answer in time."""
    started = time.monotonic()
    deadline = started + (timeout or daemon.timeout)
    # a daemon with nothing to probe must at least stay up for a while: many die on their first error
    settle = 0.0 if (daemon.port or daemon.http or daemon.ready) else daemon.settle
    while True:
        if not recorded_pid(daemon, pid_dir):
            tail = log_tail(daemon.log)
            raise LabError(f"{daemon.name} exited at start" + (f": {tail}" if tail else ""), log=str(daemon.log))
        if is_ready(daemon) and time.monotonic() - started >= settle:
            return
        if time.monotonic() > deadline:
            raise LabError(f"{daemon.name} not ready after {timeout or daemon.timeout:.0f}s", log=str(daemon.log))
        time.sleep(0.3)


def stop(daemon: Daemon, pid_dir: Path, timeout: float = 20.0) -> bool:
    """Stop the daemon's process group by its recorded PID. Return True when something was stopped."""
    pid = recorded_pid(daemon, pid_dir)
    daemon.pid_file(pid_dir).unlink(missing_ok=True)
    if not pid:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    # a daemon with a port is stopped when its whole group is gone (workers hold the listening socket); others when
    # the recorded process is (agents' privsep helpers may linger in the group, as they did before)
    def lingering() -> List[int]:
        return proc.group(pid) if daemon.port else []

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive(pid) and not lingering():
            return True
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + 5
    while lingering() and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def uwsgi(name: str, user: str, port: int, wsgi_file: str, log: Path, env: Optional[Dict[str, str]] = None) -> Daemon:
    """A WSGI API under uwsgi from the command line (Debian's .ini files load apparmor and start many workers)."""
    argv = [
        "/usr/bin/uwsgi_python311", "--plugins", "python3", "--master", "--die-on-term", "--enable-threads",
        "--lazy-apps", "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", wsgi_file, "--processes", "2",
        "--threads", "1", "--buffer-size", "65535", "--add-header", "Connection: close", "--chdir", "/",
        "--procname-prefix-spaced", name, "--logto", str(log),
    ]
    return Daemon(name=name, argv=argv, user=user, log=log.with_suffix(".out"), port=port,
                  http=f"http://127.0.0.1:{port}/", env=env or {}, own_logs=(log,),
                  configs=(Path(f"/etc/{name}/{name}.conf"),))


def run_as(user: str, argv: Sequence[str], log: Optional[Path] = None, timeout: float = 600,
           what: Optional[str] = None, env: Optional[Dict[str, str]] = None, input: Optional[str] = None) -> str:
    """Run a one-shot command (a db sync, a manage command) as a service user; fail with its log on error.

    Secrets go through ``env`` or ``input``, never ``argv``: the command line is written to the log.
    """
    pw = pwd.getpwnam(user)
    run_env = {"PATH": SYSTEM_PATH, "HOME": pw.pw_dir, "LANG": "C.UTF-8"}
    run_env.update(env or {})
    kwargs = {}
    if user != "root":
        kwargs = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=os.getgrouplist(user, pw.pw_gid))
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, cwd="/", env=run_env,
                              input=input, **kwargs)
    except subprocess.TimeoutExpired:
        raise LabError(f"{what or argv[0]} did not finish in {timeout:.0f}s", log=str(log) if log else None)
    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as fh:
            fh.write(f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or [""]
        raise LabError(f"{what or ' '.join(argv[:3])} exited {proc.returncode}: {last[0][:200]}",
                       log=str(log) if log else None)
    return proc.stdout


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False
