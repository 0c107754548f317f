"""SSH sessions into guests through paramiko: one per guest for the run.

A guest is reached by its floating IP when it has one, otherwise through the DHCP namespace of its network on
a node that serves it: a relay (``ip netns exec qdhcp-<net> nc <ip> 22``) runs over the node's own connection
and serves as paramiko's ``sock``. ``connect`` retries until SSH answers with the run's key, bounded by the
timeout; when it never does, ``GuestError`` says why and the caller attaches the console log.
"""
from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from typing import Callable, Optional

import paramiko

from pytest_oslab.access import ssh


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
    """How to reach a guest: ``address`` directly, or ``address`` inside ``namespace`` on ``node``."""

    address: str
    namespace: Optional[str] = None
    node: object = None  # access.inventory.Node

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.address} via {self.namespace} on {getattr(self.node, 'name', self.node)}"
        return f"{self.address} directly"


class Guest:
    """An open SSH session into one server; ``run`` executes a command in it, bounded by ``command_timeout``
    seconds in all (``CommandTimeout`` names the guest, the command and the bound)."""

    def __init__(self, server, user: str, client, route: Route, timeout: float, command_timeout: float = 60.0):
        self.server = server
        self.user = user
        self.client = client
        self.route = route
        self.timeout = timeout
        self.command_timeout = command_timeout

    def run(self, command: str, timeout: Optional[float] = None) -> Result:
        bound = timeout or self.command_timeout
        try:
            rc, out, err = ssh.run(self.client.get_transport(), command, bound)
        except ssh.CommandTimeout:
            raise ssh.CommandTimeout(f"guest {self.server.name}: `{command}` did not finish within {bound:.0f}s "
                                     f"(--oslab-command-timeout); stopped it") from None
        return Result(rc, out.decode(errors="replace"), err.decode(errors="replace"))

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
            command_timeout: float = 60.0) -> Guest:
    """Retry SSH to the guest until it answers with ``pkey`` or ``timeout`` passes (GuestError then)."""
    # a guest still booting makes every attempt fail; paramiko would log each one with a traceback
    quiet = logging.getLogger("paramiko.transport")
    level, quiet.level = quiet.level, logging.CRITICAL
    try:
        return _connect(server, user, pkey, route, timeout, open_sock, attempt_timeout, pause, progress,
                        command_timeout)
    finally:
        quiet.level = level


def _connect(server, user, pkey, route, timeout, open_sock, attempt_timeout, pause, progress,
             command_timeout) -> Guest:
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
            return Guest(server, user, client, route, timeout, command_timeout)
        except (paramiko.SSHException, socket.error, EOFError) as e:
            last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            client.close()
            if sock is not None and hasattr(sock, "close"):
                sock.close()
        if time.monotonic() + pause >= deadline:
            raise GuestError(f"guest {server.name} ({server.id}): no SSH as {user}@{route} within {timeout:.0f}s "
                             f"({attempts} attempts; last: {last}) (--oslab-ssh-timeout)")
        time.sleep(pause)
