"""testinfra hosts for the cloud's nodes: one connection per node for the whole run, checked once.

The first use of a node connects and proves two things with a bounded wait: the node answers (``true``) and,
when root commands go through sudo, that sudo works without a password (``sudo -n true``). A failure is one
``NodeError`` line (unreachable, wrong user or key, sudo refused) remembered for the rest of the run, so later
tests fail at once with the same line instead of waiting again.
"""
from __future__ import annotations

import getpass
import os
import shlex
import socket
import threading
from typing import Dict, Optional, Tuple

from pytest_oslab.access.inventory import Inventory, Node


class NodeError(Exception):
    """A node that cannot be used; the message is one line naming the node and the cause."""


def host_spec(node: Node, default_user: Optional[str], default_key: Optional[str],
              timeout: float) -> Tuple[str, dict, bool]:
    """(testinfra spec, keyword args, uses sudo) for a node. SSH nodes use paramiko: one transport, reused."""
    spec = node.host or f"ssh://{node.name}"
    if "://" not in spec:
        spec = f"ssh://{spec}"
    scheme, rest = spec.split("://", 1)
    if scheme == "local":
        sudo = node.sudo if node.sudo is not None else os.geteuid() != 0
        return "local://", {"sudo": sudo}, sudo
    if scheme not in ("ssh", "paramiko"):
        sudo = bool(node.sudo)
        return spec, {"sudo": sudo}, sudo
    rest = rest.split("?", 1)[0]
    userpart, _, address = rest.rpartition("@")
    user = node.user or userpart or default_user or getpass.getuser()
    if node.port and ":" not in address:
        address = f"{address}:{node.port}"
    sudo = node.sudo if node.sudo is not None else user != "root"
    kwargs = {"sudo": sudo, "timeout": int(max(1, timeout))}
    key = node.key or default_key
    if key:
        kwargs["ssh_identity_file"] = os.path.expanduser(key)
    return f"paramiko://{user + '@' if user else ''}{address}", kwargs, sudo


def describe_connect_error(node: Node, target: str, exc: BaseException, timeout: float) -> str:
    import paramiko
    where = f"node {node.name} ({target}, from {node.source})"
    if isinstance(exc, paramiko.AuthenticationException):
        return f"{where}: SSH authentication failed: wrong user or key? (--oslab-node-user/--oslab-node-key)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"{where}: no answer within {timeout:.0f}s (--oslab-ssh-timeout)"
    if isinstance(exc, (paramiko.ssh_exception.NoValidConnectionsError, ConnectionError, socket.gaierror, OSError)):
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"{where}: unreachable: {reason}"
    if isinstance(exc, paramiko.SSHException):
        return f"{where}: SSH failed: {exc}"
    return f"{where}: {type(exc).__name__}: {exc}"


class NodePool:
    """testinfra hosts by node name, made and checked on first use, kept for the run."""

    def __init__(self, inventory: Inventory, timeout: float):
        self.inventory = inventory
        self.timeout = timeout
        self._hosts: Dict[str, object] = {}
        self._errors: Dict[str, str] = {}
        self._sudo: Dict[str, bool] = {}
        self._lock = threading.Lock()

    def uses_sudo(self, node: Node) -> bool:
        return self._sudo.get(node.name, False)

    def host(self, node: Node):
        """The testinfra host of ``node``; NodeError (one line) when it cannot be reached or sudo is refused."""
        with self._lock:
            if node.name in self._errors:
                raise NodeError(self._errors[node.name])
            if node.name not in self._hosts:
                try:
                    self._hosts[node.name] = self._connect(node)
                except NodeError as e:
                    self._errors[node.name] = str(e)
                    raise
            return self._hosts[node.name]

    def _connect(self, node: Node):
        import testinfra
        spec, kwargs, sudo = host_spec(node, self.inventory.default_user, self.inventory.default_key, self.timeout)
        host = testinfra.get_host(spec, **{**kwargs, "sudo": False})  # checks run plain; sudo is set after
        try:
            answer = host.run("true")
            if answer.rc != 0:
                raise NodeError(f"node {node.name} ({spec}): 'true' exited {answer.rc}: "
                                f"{answer.stderr.strip()[:200]}")
            if sudo:
                check = host.run("sudo -n true")
                if check.rc != 0:
                    reason = (check.stderr.strip().splitlines() or ["exit %d" % check.rc])[-1]
                    raise NodeError(f"node {node.name} ({spec}): sudo refused: {reason} "
                                    f"(root commands need passwordless sudo)")
        except NodeError:
            raise
        except Exception as e:  # paramiko/socket errors while connecting
            raise NodeError(describe_connect_error(node, spec, e, self.timeout)) from None
        host.backend.sudo = sudo
        self._sudo[node.name] = sudo
        return host

    def relay_command(self, node: Node, namespace: str, ip: str, port: int = 22) -> str:
        """A command run on ``node`` that joins its stdin/stdout to ip:port inside ``namespace``."""
        inner = (f"command -v nc >/dev/null 2>&1 && exec nc {ip} {port}; "
                 f"exec python3 -c {shlex.quote(RELAY)} {ip} {port}")
        sudo = "sudo -n " if self.uses_sudo(node) else ""
        return f"{sudo}ip netns exec {shlex.quote(namespace)} sh -c {shlex.quote(inner)}"

    def open_relay(self, node: Node, namespace: str, ip: str, port: int = 22):
        """A socket-like object reaching ip:port from inside ``namespace`` on ``node``, for paramiko's ``sock``.

        Local nodes run the relay as a subprocess; SSH nodes run it in a new channel of the node's one
        transport (no new connection).
        """
        import paramiko
        host = self.host(node)
        command = self.relay_command(node, namespace, ip, port)
        backend = host.backend
        if getattr(backend, "NAME", "") == "local":
            return paramiko.ProxyCommand(command)
        if getattr(backend, "NAME", "") == "paramiko":
            channel = backend.client.get_transport().open_session()
            channel.exec_command(command)
            return channel
        raise NodeError(f"node {node.name}: reaching guests through it needs a local:// or SSH node, "
                        f"not {backend.NAME}://")

    def close(self) -> None:
        for host in self._hosts.values():
            client = getattr(host.backend, "__dict__", {}).get("client")  # only if it was ever opened
            if client is not None:
                client.close()
        self._hosts.clear()


# A byte relay between stdin/stdout and a TCP connection, for nodes without nc (python3 is on every
# OpenStack node). Run as: python3 -c RELAY IP PORT
RELAY = """
import os, select, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 10)
i, o = sys.stdin.fileno(), sys.stdout.fileno()
while True:
    r = select.select([s, i], [], [])[0]
    if s in r:
        d = s.recv(65536)
        if not d:
            break
        while d:
            d = d[os.write(o, d):]
    if i in r:
        d = os.read(i, 65536)
        if not d:
            break
        s.sendall(d)
"""
