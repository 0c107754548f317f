"""SSH sessions into guests through paramiko: one per guest for the run.

A guest is reached by its floating IP when it has one (or when the caller asks for it: ``Route.floating``),
otherwise through the DHCP namespace of its network on a node that serves it: a relay (``ip netns exec qdhcp-<net>
nc <ip> 22``) runs over the node's own connection and serves as paramiko's ``sock``. When no such node can be
reached (a member's run without node access), the run gives the guest a floating IP of its own
(``GUEST_ROUTES``; the session decides). ``connect`` retries until SSH answers with the run's key, bounded by the
timeout; when it never does, ``GuestError`` says why and the caller attaches the console log.

A session that dies mid-run (the guest's NIC re-plugged, its address changed, a relay that ended) is noticed
when a command cannot run over it (closed, or no channel within ``OPEN_WITHIN`` seconds): it is reopened once
within ``REOPEN_TIMEOUT`` (the guest has booted already), by the route the caller decides again (``reroute``: a
server that moved is reached through its new host, as OVN removes a network's ``ovnmeta-`` namespace from a chassis
its last VM left) or else by the same route, the command runs again, and ``note`` (the run's evidence) says so.
When reopening fails, ``GuestError`` names why the session died and why it could not be reopened; the next command
tries again.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import paramiko

from pytest_oslab.access import ssh

REOPEN_TIMEOUT = 30.0  # seconds to reopen a session that died: the guest answered SSH once already
OPEN_WITHIN = 10.0     # seconds for a live session to open a channel (it takes milliseconds): else it is dead
Note = Callable[[str, str], None]  # (title, text) into the run's evidence


# --oslab-guest-route: how a guest without a floating IP is reached (session.OslabSession.guest_route)
GUEST_ROUTES = ("auto", "namespace", "floating")


class GuestError(Exception):
    """A guest that cannot be reached; one line naming the server, the route tried and the last error."""


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.rc == 0


@dataclass
class Route:
    """How to reach a guest: ``address`` directly, or ``address`` inside ``namespace`` on ``node``; ``what`` the
    address is, when it says more than the number (``floating IP``)."""

    address: str
    namespace: Optional[str] = None
    node: object = None  # access.inventory.Node

    lacking: Tuple[str, ...] = ()  # hosts tried before ``node`` that did not hold ``namespace``
    what: str = ""

    @classmethod
    def floating(cls, address: str) -> "Route":
        """A guest's floating IP, reached from outside the cloud (this machine, or the cloud's bastion)."""
        return cls(address, what="floating IP")

    @property
    def is_floating(self) -> bool:
        return self.what == "floating IP"

    def __str__(self) -> str:
        address = f"{self.address} ({self.what})" if self.what else self.address
        if self.namespace:
            text = f"{address} via {self.namespace} on {getattr(self.node, 'name', self.node)}"
            return text + (f" (not on {', '.join(self.lacking)})" if self.lacking else "")
        return f"{address} directly"


def route_hosts(serving: Iterable[str], server_host: Optional[str] = None) -> List[str]:
    """The hosts to reach a guest through, best first: those ``serving`` its network (DHCP agents; on OVN the
    metadata agents), its own host first when it is one of them (on OVN, ``ovnmeta-<net>`` exists only on chassis
    hosting a port of the network, and the guest's own host hosts one), then the others by name."""
    hosts = sorted(set(serving))
    short = (server_host or "").split(".")[0]
    own = [h for h in hosts if short and h.split(".")[0] == short]
    return own + [h for h in hosts if h not in own]


def first_holding(hosts: Sequence[str], holds: Callable[[str], bool]) -> Tuple[Optional[str], List[str]]:
    """(the first of ``hosts`` for which ``holds(host)``, or None; the hosts asked before it that did not)."""
    lacking = []
    for host in hosts:
        if holds(host):
            return host, lacking
        lacking.append(host)
    return None, lacking


class Guest:
    """An open SSH session into one server; ``run`` executes a command in it, bounded by ``command_timeout``
    seconds in all (``CommandTimeout`` names the guest, the command and the bound). ``reopen() -> (client,
    route)`` opens a new session (None: a dead session stays dead)."""

    def __init__(self, server, user: str, client, route: Route, timeout: float, command_timeout: float = 60.0,
                 reopen: Optional[Callable[[], Tuple[paramiko.SSHClient, Route]]] = None,
                 note: Note = lambda title, text: None):
        self.server = server
        self.user = user
        self.client = client
        self.route = route
        self.timeout = timeout
        self.command_timeout = command_timeout
        self.reopen = reopen
        self.note = note
        self._reopening = threading.Lock()

    def run(self, command: str, timeout: Optional[float] = None) -> Result:
        bound = timeout or self.command_timeout
        client = self.client
        try:
            rc, out, err = self._exec(client, command, bound)
        except (paramiko.SSHException, EOFError, OSError) as e:
            if self.reopen is None:
                raise
            self._reopen(client, str(e).splitlines()[0] if str(e) else type(e).__name__)
            rc, out, err = self._exec(self.client, command, bound)
        return Result(rc, out.decode(errors="replace"), err.decode(errors="replace"))

    def _exec(self, client, command: str, bound: float):
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise EOFError("the SSH session is closed")
        try:
            return ssh.run(transport, command, bound, open_within=OPEN_WITHIN)
        except ssh.CommandTimeout:
            raise ssh.CommandTimeout(f"guest {self.server.name}: `{command}` did not finish within {bound:.0f}s "
                                     f"(--oslab-command-timeout); stopped it") from None

    def _reopen(self, dead, reason: str) -> None:
        """Replace the session ``dead`` (unless another thread already did), once; GuestError when it fails."""
        with self._reopening:
            if self.client is not dead:
                return
            dead.close()
            start, was = time.monotonic(), self.route
            try:
                self.client, self.route = self.reopen()
            except GuestError as e:
                self.note(f"guest {self.server.name}: SSH session died, not reopened",
                          f"the session was gone ({reason}); reopening it failed: {e}")
                raise GuestError(f"guest {self.server.name} ({self.server.id}): the SSH session died mid-run "
                                 f"({reason}) and reopening it failed: {e}") from None
            self.note(f"guest {self.server.name}: SSH session reopened",
                      f"the session was gone ({reason}); reopened once after {time.monotonic() - start:.1f}s "
                      f"({self.user}@{self.route})" + ("" if str(self.route) == str(was) else f"; it was {was}"))

    def check_output(self, command: str, timeout: Optional[float] = None) -> str:
        result = self.run(command, timeout)
        if result.rc != 0:
            raise GuestError(f"guest {self.server.name}: {command!r} exited {result.rc}: {result.stderr.strip()}")
        return result.stdout

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"Guest({self.server.name!r}, {self.user}@{self.route})"


def connect(server, user: str, pkey, route: Route, timeout: float,
            open_sock: Optional[Callable[[], object]] = None, attempt_timeout: float = 10.0,
            pause: float = 1.0, progress: Callable[[str], None] = lambda line: None,
            command_timeout: float = 60.0, note: Note = lambda title, text: None,
            reopen_timeout: float = REOPEN_TIMEOUT,
            reroute: Optional[Callable[[], Tuple[Route, Optional[Callable[[], object]]]]] = None) -> Guest:
    """Retry SSH to the guest until it answers with ``pkey`` or ``timeout`` passes (GuestError then). The session
    is reopened once, within ``reopen_timeout``, when it dies mid-run, and ``note`` says so: by ``reroute() ->
    (route, open_sock)`` when given (the route decided again: the server may have moved), else by the same route."""
    def open_client(route: Route, open_sock, bound: float) -> paramiko.SSHClient:
        # a guest still booting makes every attempt fail; paramiko would log each one with a traceback
        quiet = logging.getLogger("paramiko.transport")
        level, quiet.level = quiet.level, logging.CRITICAL
        try:
            return _connect(server, user, pkey, route, bound, open_sock, attempt_timeout, pause, progress)
        finally:
            quiet.level = level

    def reopen() -> Tuple[paramiko.SSHClient, Route]:
        again, sock = route, open_sock
        if reroute is not None:
            try:
                again, sock = reroute()
            except GuestError:
                raise
            except Exception as e:  # the route could not be decided again: the session stays dead, saying why
                raise GuestError(f"guest {server.name} ({server.id}): deciding its route again failed: "
                                 f"{type(e).__name__}: {e}") from None
        return open_client(again, sock, min(timeout, reopen_timeout)), again
    return Guest(server, user, open_client(route, open_sock, timeout), route, timeout, command_timeout,
                 reopen=reopen, note=note)


def _connect(server, user, pkey, route, timeout, open_sock, attempt_timeout, pause, progress) -> paramiko.SSHClient:
    start = time.monotonic()
    deadline = start + timeout
    last = "no attempt made"
    attempts = 0
    while True:
        attempts += 1
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a fresh guest's key is new by nature
        sock = None
        try:
            sock = open_sock() if open_sock else None
            left = max(1.0, min(attempt_timeout, deadline - time.monotonic()))
            client.connect(route.address, port=22, username=user, pkey=pkey, sock=sock, timeout=left,
                           banner_timeout=left, auth_timeout=left, allow_agent=False, look_for_keys=False)
            progress(f"guest {server.name}: SSH answered after {time.monotonic() - start:.1f}s ({route})")
            return client
        except (paramiko.SSHException, socket.error, EOFError) as e:
            last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            client.close()
            if sock is not None and hasattr(sock, "close"):
                sock.close()
        if time.monotonic() + pause >= deadline:
            raise GuestError(f"guest {server.name} ({server.id}): no SSH as {user}@{route} within {timeout:.0f}s "
                             f"({attempts} attempts; last: {last}) (--oslab-ssh-timeout)")
        time.sleep(pause)
