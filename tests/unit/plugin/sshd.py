"""A real SSH server for the unit tests: paramiko's ServerInterface on 127.0.0.1, one thread per connection.

It plays a node: ``exec`` runs the command with ``sh -c`` on this machine (as this user) and returns its
output and exit status, except what the test tells it to do instead:

- ``hang``: commands containing this text never answer (the channel stays open until the client closes it);
- ``refuse_sudo``: ``sudo`` commands exit 1 with sudo's "a password is required";
- ``drop_after``: the connection is closed by the server after that many commands (a node that rebooted);
- ``silent``: the server accepts TCP and never speaks SSH;
- ``sudo_password``: ``sudo -S`` commands read it from stdin first (wrong: sudo's "incorrect password").

As a bastion it forwards ``direct-tcpip`` channels to 127.0.0.1 ports (``forward_to`` lists the destinations
asked for); ``redirect`` sends a destination elsewhere (``{("198.51.100.77", 22): ("127.0.0.1", port)}``: an
address of no network here, played by a local server). Only the key given is accepted. ``connections`` counts the
SSH sessions it served.
"""
from __future__ import annotations

import socket
import subprocess
import threading
import time
from typing import List, Optional

import paramiko


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: "TestSSHServer"):
        self.server = server

    def check_auth_publickey(self, username, key):
        ok = key.get_base64() == self.server.accepted.get_base64() and username == self.server.user
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username):
        return "publickey"

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(self, chanid, origin, destination):
        self.server.forward_to.append(destination)
        self.server.pending[chanid] = destination
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel, command):
        threading.Thread(target=self.server.execute, args=(channel, command.decode()), daemon=True).start()
        return True


class TestSSHServer:
    __test__ = False  # not a test class

    def __init__(self, client_key: paramiko.PKey, user: str = "stack", hang: Optional[str] = None,
                 refuse_sudo: bool = False, drop_after: Optional[int] = None, silent: bool = False,
                 sudo_password: Optional[str] = None, redirect: Optional[dict] = None):
        self.accepted = client_key
        self.user = user
        self.hang = hang
        self.refuse_sudo = refuse_sudo
        self.drop_after = drop_after
        self.silent = silent
        self.sudo_password = sudo_password
        self.redirect = dict(redirect or {})
        self.host_key = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") else \
            paramiko.RSAKey.generate(2048)
        self.commands: List[str] = []
        self.forward_to: List[tuple] = []
        self.pending = {}  # direct-tcpip channel id -> destination, until the channel is joined to it
        self.connections = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        self._transports: List[paramiko.Transport] = []
        self._open: List[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self._open.append(sock)
            if self.silent:
                continue
            transport = paramiko.Transport(sock)
            transport.add_server_key(self.host_key)
            self._transports.append(transport)
            try:
                transport.start_server(server=_Interface(self))
            except (paramiko.SSHException, EOFError, OSError):
                continue  # the client gave up during key exchange (a host key it refused)
            self.connections += 1
            threading.Thread(target=self._serve_forwards, args=(transport,), daemon=True).start()

    def _serve_forwards(self, transport: paramiko.Transport):
        """Join each accepted direct-tcpip channel to its destination (a bastion's job)."""
        while transport.is_active() and not self._stop.is_set():
            channel = transport.accept(1)
            if channel is None or channel.chanid not in self.pending:  # exec sessions are served by their request
                continue
            destination = tuple(self.pending.pop(channel.chanid))
            host, port = self.redirect.get(destination, destination)
            try:
                upstream = socket.create_connection((host, port), 5)
            except OSError:
                channel.close()
                continue
            for a, b in ((channel, upstream), (upstream, channel)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def execute(self, channel: paramiko.Channel, command: str):
        try:
            self._execute(channel, command)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the client went away first (it gave up on a hanging command, or closed its session)

    def _execute(self, channel: paramiko.Channel, command: str):
        time.sleep(0.1)  # let paramiko answer the exec request before the channel may close
        self.commands.append(command)
        if self.drop_after is not None and len(self.commands) > self.drop_after:
            channel.get_transport().close()
            self.drop_after = None  # the node came back: the next connection works
            return
        if self.hang and self.hang in command:
            return  # never answers; the client has to give up
        if self.refuse_sudo and command.startswith("sudo"):
            channel.sendall_stderr(b"sudo: a password is required\n")
            channel.send_exit_status(1)
            channel.close()
            return
        if self.sudo_password and command.startswith("sudo -S -p '' "):
            given = channel.makefile("rb").readline().decode().rstrip("\n")
            if given != self.sudo_password:
                channel.sendall_stderr(b"Sorry, try again.\nsudo: 1 incorrect password attempt\n")
                channel.send_exit_status(1)
                channel.close()
                return
            command = command[len("sudo -S -p '' "):]
        result = subprocess.run(["sh", "-c", command], capture_output=True, timeout=30)
        channel.sendall(result.stdout)
        channel.sendall_stderr(result.stderr)
        channel.send_exit_status(result.returncode)
        channel.close()

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}\n"

    def close(self):
        self._stop.set()
        self._listener.close()
        for t in self._transports:
            t.close()
        for s in self._open:
            s.close()


def _pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except (OSError, EOFError):
        pass
    finally:
        for end in (src, dst):
            try:
                end.close()
            except (OSError, EOFError):  # a channel whose transport has ended raises EOFError on close
                pass
