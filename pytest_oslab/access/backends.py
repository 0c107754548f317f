"""testinfra backends whose every command is bounded: local, paramiko (a client made by ``access.ssh``) and OpenSSH.

testinfra's own backends wait for a command as long as it runs (its paramiko exec and its subprocesses have no
timeout). These keep testinfra's ``Host`` and modules and bound each command's total time: past it, the command
is stopped (the local process group killed, the SSH channel closed) and ``CommandTimeout`` names the node, the
command and the bound, so the check fails and the run goes on. Root commands go through ``sudo -n`` (never a
password prompt), or ``sudo -S`` fed the become password on stdin when the inventory gives one.

The paramiko backend notices a session that died between commands (the node rebooted, a firewall dropped it),
reconnects once and says so through ``progress``.
"""
from __future__ import annotations

import functools
import os
import signal
import subprocess
import threading
from typing import Callable, Optional

import paramiko
from testinfra.backend.local import LocalBackend
from testinfra.backend.paramiko import ParamikoBackend
from testinfra.backend.ssh import SshBackend

from pytest_oslab.access import ssh
from pytest_oslab.access.ssh import CommandTimeout


class _Bounded:
    """What the three backends share: the bound, the node's name for messages, sudo without a prompt."""

    label = "node"
    bound = 60.0
    sudo_password: Optional[str] = None

    def get_sudo_command(self, command: str, sudo_user: Optional[str]) -> str:
        sudo = "sudo -S -p ''" if self.sudo_password else "sudo -n"
        if sudo_user is None:
            return self.quote(f"{sudo} /bin/sh -c %s", command)
        return self.quote(f"{sudo} -u %s /bin/sh -c %s", sudo_user, command)

    def stdin(self) -> Optional[bytes]:
        return (self.sudo_password + "\n").encode() if self.sudo and self.sudo_password else None

    def timed_out(self, command: str) -> CommandTimeout:
        return CommandTimeout(f"node {self.label}: `{command}` did not finish within {self.bound:.0f}s "
                              f"(--oslab-command-timeout); stopped it")

    def run_local(self, command: str, *args: str, stdin: Optional[bytes] = None, shown: Optional[str] = None):
        """testinfra's run_local, bounded: the command runs in a process group of its own, killed at the bound."""
        command = self.quote(command, *args)
        cmd = self.encode(command)
        process = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = process.communicate(input=stdin, timeout=self.bound)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise self.timed_out(shown or command) from None
        return self.result(process.returncode, cmd, out, err)


class BoundedLocal(_Bounded, LocalBackend):
    def __init__(self, label: str, bound: float, **kwargs):
        super().__init__(**kwargs)
        self.label, self.bound = label, bound

    def run(self, command: str, *args: str, **kwargs):
        return self.run_local(self.get_command(command, *args), stdin=self.stdin(), shown=self.quote(command, *args))


class BoundedOpenSSH(_Bounded, SshBackend):
    """testinfra's OpenSSH backend (``ssh`` itself: ssh_config, ControlMaster, ProxyJump), bounded."""

    def __init__(self, hostspec: str, label: str, bound: float, **kwargs):
        super().__init__(hostspec, **kwargs)
        self.label, self.bound = label, bound

    def run(self, command: str, *args: str, **kwargs):
        cmd, cmd_args = self._build_ssh_command(self.get_command(command, *args))
        out = self.run_local(" ".join(cmd), *cmd_args, stdin=self.stdin(), shown=self.quote(command, *args))
        if out.rc == 255:  # ssh's own failure, not the command's
            raise ssh.SSHError(f"node {self.label}: ssh failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
        return out


class BoundedParamiko(_Bounded, ParamikoBackend):
    """testinfra's paramiko backend over a client made by ``connect`` (bastions, host keys), bounded."""

    def __init__(self, hostspec: str, label: str, bound: float, connect: Callable[[], paramiko.SSHClient],
                 progress: Callable[[str], None] = lambda line: None, **kwargs):
        super().__init__(hostspec, **kwargs)
        self.label, self.bound, self._connect, self.progress = label, bound, connect, progress
        self._reconnecting = threading.Lock()

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        return self._connect()

    def _exec(self, command: str, shown: str):
        try:
            return ssh.run(self.client.get_transport(), command, self.bound, stdin=self.stdin(), pty=self.get_pty)
        except CommandTimeout:
            raise self.timed_out(shown) from None

    def run(self, command: str, *args: str, **kwargs):
        shown, full = self.quote(command, *args), self.get_command(command, *args)
        try:
            rc, out, err = self._exec(full, shown)
        except (paramiko.SSHException, EOFError, OSError) as e:
            transport = self.client.get_transport()
            if transport is not None and transport.is_active():
                raise
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            with self._reconnecting:  # one reconnection, whichever thread noticed first
                if self.client.get_transport() is transport:
                    self.progress(f"node {self.label}: the SSH session was gone ({reason}); reconnected once")
                    self.client.close()
                    del self.client
            try:
                rc, out, err = self._exec(full, shown)
            except ssh.SSHError as again:
                raise ssh.SSHError(f"node {self.label}: the SSH session was gone ({reason}) and reconnecting "
                                   f"failed: {again}") from None
        return self.result(rc, self.encode(full), out, err)

    def close(self) -> None:
        client = self.__dict__.get("client")  # only if it was ever opened
        if client is not None:
            client.close()
