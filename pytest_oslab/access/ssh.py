"""SSH as the run uses it: a paramiko client per machine, reached as OpenSSH would reach it, and bounded commands.

``Target`` says where one machine is and how to log in: address, port, user, key, and how to get there (a
``ProxyJump`` chain of bastions or a ``ProxyCommand``), merged from the run's own sources and the operator's
``ssh_config`` (read with ``paramiko.SSHConfig``, as OpenSSH reads it: first value wins). ``connect`` opens a
client for a target (its bastions first, each a client of its own, asked for a ``direct-tcpip`` channel) with
the host-key policy the run chose; ``run`` executes one command on a client's transport within a bound of total
time, ``CommandTimeout`` when it passes (the channel is closed; the transport stays usable).

Host-key policies (``--oslab-host-key-policy``): ``accept-new`` (OpenSSH's ``StrictHostKeyChecking=accept-new``:
an unknown key is accepted and added to known_hosts, a changed one refused), ``strict`` (only known keys), and
``ignore`` (accept anything, remember nothing). Known keys come from ``~/.ssh/known_hosts``, the system's, and the
``UserKnownHostsFile`` of ssh_config.
"""
from __future__ import annotations

import os
import select
import shlex
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import paramiko

HOST_KEY_POLICIES = ("accept-new", "strict", "ignore")


class CommandTimeout(Exception):
    """A command that did not finish within its bound; the message names the machine, the command and the bound."""


class SSHError(Exception):
    """A machine that cannot be reached over SSH; the message is one line naming why (the caller names the node)."""


@dataclass
class Target:
    """One machine to reach over SSH. ``jump``: the bastions in order (``user@host:port`` each, ProxyJump form)."""

    host: str
    port: int = 22
    user: Optional[str] = None
    key: Optional[str] = None
    jump: List[str] = field(default_factory=list)
    proxy_command: Optional[str] = None
    known_hosts: List[str] = field(default_factory=list)
    alias: str = ""  # the name the target was asked by (ssh_config's Host), for messages

    def __str__(self) -> str:
        via = f" via {','.join(self.jump)}" if self.jump else (" via ProxyCommand" if self.proxy_command else "")
        return f"{self.user + '@' if self.user else ''}{self.host}:{self.port}{via}"


def parse_hop(text: str) -> Tuple[Optional[str], str, Optional[int]]:
    """``user@host:port`` (a ProxyJump hop, ``ssh://`` allowed) -> (user, host, port)."""
    text = text.strip()
    if text.startswith("ssh://"):
        text = text[len("ssh://"):]
    user, _, rest = text.rpartition("@")
    port = None
    if rest.startswith("["):  # [v6]:port
        address, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port = int(tail[1:])
        return user or None, address, port
    if rest.count(":") == 1:
        rest, _, p = rest.partition(":")
        port = int(p)
    return user or None, rest, port


def proxy_from_args(args: str) -> Tuple[List[str], Optional[str]]:
    """(ProxyJump hops, ProxyCommand) named in OpenSSH arguments (``-J``, ``-o ProxyJump=``, ``-o ProxyCommand=``),
    as in Ansible's ``ansible_ssh_common_args``."""
    jump, command = [], None
    words = shlex.split(args or "")
    i = 0
    while i < len(words):
        word = words[i]
        value = None
        if word == "-J" and i + 1 < len(words):
            jump, i = words[i + 1].split(","), i + 2
            continue
        if word == "-o" and i + 1 < len(words):
            value, i = words[i + 1], i + 2
        elif word.startswith("-o"):
            value, i = word[2:], i + 1
        else:
            i += 1
            continue
        key, _, v = value.partition("=") if "=" in value else value.partition(" ")
        if key.strip().lower() == "proxyjump" and v.strip().lower() != "none":
            jump = v.strip().split(",")
        elif key.strip().lower() == "proxycommand" and v.strip().lower() != "none":
            command = v.strip()
    return jump, command


def ssh_config(path: Optional[str]) -> paramiko.SSHConfig:
    """The operator's ssh_config (``path``, else ``~/.ssh/config`` when it exists; empty otherwise)."""
    path = os.path.expanduser(path or "~/.ssh/config")
    if not os.path.isfile(path):
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(path)
    except (OSError, paramiko.ConfigParseError, ValueError) as e:
        raise SSHError(f"ssh_config {path} cannot be read: {e}") from None


def resolve(alias: str, config: paramiko.SSHConfig, port: Optional[int] = None, user: Optional[str] = None,
            key: Optional[str] = None, jump: Optional[List[str]] = None, proxy_command: Optional[str] = None,
            default_user: Optional[str] = None, default_key: Optional[str] = None) -> Target:
    """The target for ``alias``: what the run was told first, then ssh_config's values, then the defaults."""
    found = config.lookup(alias)
    ssh_jump = [h for h in (found.get("proxyjump") or "").split(",") if h and h.lower() != "none"]
    ssh_command = found.get("proxycommand")
    if ssh_command and ssh_command.lower() == "none":
        ssh_command = None
    keys = found.get("identityfile") or []
    known = [os.path.expanduser(p) for p in (found.get("userknownhostsfile") or "").split() if p]
    if not (jump or proxy_command):
        jump, proxy_command = ssh_jump, (None if ssh_jump else ssh_command)
    return Target(host=found.get("hostname", alias), port=int(port or found.get("port") or 22),
                  user=user or found.get("user") or default_user, key=key or (keys[0] if keys else default_key),
                  jump=list(jump or []), proxy_command=proxy_command, known_hosts=known, alias=alias)


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """OpenSSH's accept-new: remember an unknown key in known_hosts (a changed key never reaches a policy)."""

    def __init__(self, path: str):
        self.path = path

    def missing_host_key(self, client, hostname, key):
        client.get_host_keys().add(hostname, key.get_name(), key)
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        except OSError:
            pass  # a read-only home: the key is still accepted for this run


class _Ignore(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        pass


def _client(target: Target, policy: str) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    if policy != "ignore":
        client.load_system_host_keys()  # ~/.ssh/known_hosts and what OpenSSH reads system-wide, if present
        for path in ["/etc/ssh/ssh_known_hosts"] + target.known_hosts:
            if os.path.isfile(path):
                client.get_host_keys().load(path)
    known = (target.known_hosts or [os.path.expanduser("~/.ssh/known_hosts")])[0]
    client.set_missing_host_key_policy({"accept-new": _AcceptNew(known), "strict": paramiko.RejectPolicy(),
                                        "ignore": _Ignore()}[policy])
    return client


def connect(target: Target, timeout: float, policy: str = "accept-new",
            hop: Callable[[str], paramiko.SSHClient] = None, password: Optional[str] = None) -> paramiko.SSHClient:
    """An authenticated client for ``target``; ``hop(spec)`` gives the connected client of a bastion.

    Raises ``SSHError`` with one line: the key file that is missing, the time the machine stayed silent, the
    authentication refused, the host key rejected, the address unreachable.
    """
    if target.key and not os.path.isfile(os.path.expanduser(target.key)):
        raise SSHError(f"key file {os.path.expanduser(target.key)} does not exist")
    sock = None
    try:
        if target.jump:
            bastion = hop(",".join(target.jump))  # the last bastion, itself reached through the ones before it
            sock = bastion.get_transport().open_channel("direct-tcpip", (target.host, target.port), ("127.0.0.1", 0),
                                                        timeout=timeout)
        elif target.proxy_command:
            sock = paramiko.ProxyCommand(target.proxy_command)
    except (paramiko.SSHException, OSError) as e:
        raise SSHError(f"bastion {target.jump[-1]} cannot reach {target.host}:{target.port}: {_reason(e)}") from None
    client = _client(target, policy)
    key = os.path.expanduser(target.key) if target.key else None
    try:
        client.connect(target.host, port=target.port, username=target.user, key_filename=key, password=password,
                       sock=sock, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       allow_agent=key is None, look_for_keys=key is None)
    except Exception as e:
        client.close()
        raise SSHError(describe(e, target, timeout, policy)) from None
    return client


def _reason(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)  # paramiko's NoValidConnectionsError: one socket error per address
    if isinstance(errors, dict) and errors:
        exc = next(iter(errors.values()))
    text = getattr(exc, "strerror", None) or (str(exc).splitlines() or [""])[0]
    return text or type(exc).__name__


def describe(exc: BaseException, target: Target, timeout: float, policy: str) -> str:
    """One line for what went wrong connecting to ``target``."""
    if isinstance(exc, paramiko.BadHostKeyException):
        return (f"host key of {target.host} changed (got {exc.key.get_name()} {exc.key.get_fingerprint().hex()}); "
                f"if that is expected, remove its line from known_hosts")
    if isinstance(exc, paramiko.AuthenticationException) or "No authentication methods" in str(exc):
        return f"SSH authentication failed as {target.user}: wrong user or key? (--oslab-node-user/--oslab-node-key)"
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
        return f"host key of {target.host} is not in known_hosts and --oslab-host-key-policy is {policy}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:.0f}s (--oslab-ssh-timeout)"
    if isinstance(exc, paramiko.SSHException) and any(
            s in str(exc) for s in ("banner", "No existing session", "Timeout", "timeout")):
        return f"timed out after {timeout:.0f}s: the SSH server did not answer (--oslab-ssh-timeout)"
    if isinstance(exc, (paramiko.ssh_exception.NoValidConnectionsError, OSError, EOFError)):
        return f"unreachable: {_reason(exc)}"
    if isinstance(exc, paramiko.SSHException):
        return f"SSH failed: {_reason(exc)}"
    return f"{type(exc).__name__}: {_reason(exc)}"


def run(transport: paramiko.Transport, command: str, bound: float, stdin: Optional[bytes] = None,
        pty: bool = False, open_within: Optional[float] = None) -> Tuple[int, bytes, bytes]:
    """(exit status, stdout, stderr) of ``command`` over ``transport``; ``CommandTimeout`` after ``bound`` seconds
    in all (the channel is then closed). paramiko's ``SSHException``/``EOFError`` when the session is gone, or
    when no channel opens within ``open_within`` seconds (a session whose peer went silent)."""
    deadline = time.monotonic() + bound
    chan = transport.open_session(timeout=min(bound, open_within or bound))
    try:
        if pty:
            chan.get_pty()
        chan.exec_command(command)
        if stdin:
            chan.sendall(stdin)
        chan.shutdown_write()
        out, err = bytearray(), bytearray()
        while True:
            if chan.recv_ready():
                out += chan.recv(65536)
                continue
            if chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
                continue
            if chan.exit_status_ready() and (chan.eof_received or chan.closed):
                status = chan.recv_exit_status()
                if status != -1 or transport.is_active():  # -1: closed with no exit status (the session died)
                    return status, bytes(out), bytes(err)
            if not transport.is_active():
                raise EOFError("the SSH session closed while the command ran")
            left = deadline - time.monotonic()
            if left <= 0:
                raise CommandTimeout(f"{command!r} did not finish within {bound:.0f}s")
            select.select([chan], [], [], min(left, 1.0))
    finally:
        chan.close()

