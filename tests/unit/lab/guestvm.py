"""Boot the lab's guest image in plain QEMU (software emulation), for the image's end-to-end tests.

Networking is QEMU's user-mode stack with ``restrict=on``: the guest's traffic stays inside the QEMU process
and no network device is made on the host. SSH reaches the guest through a ``hostfwd`` port on 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

import paramiko

QEMU = "qemu-system-x86_64"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def make_key(path: Path) -> paramiko.PKey:
    key = paramiko.RSAKey.generate(2048)
    key.write_private_key_file(str(path))
    return key


def public_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()} guestvm-test"


def config_drive(path: Path, public_key: str, hostname: str = "vm-test.novalocal") -> Path:
    """An ISO 9660 config drive (label config-2) with openstack/latest/meta_data.json, as nova writes it."""
    tree = path.with_suffix(".d")
    meta = tree / "openstack" / "latest"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "meta_data.json").write_text(json.dumps(meta_data(public_key, hostname)))
    subprocess.run(["genisoimage", "-quiet", "-o", str(path), "-V", "config-2", "-r", "-J", str(tree)], check=True)
    shutil.rmtree(tree)
    return path


METADATA_SERVER = r'''
import json, sys
# One HTTP exchange of a fake metadata service, run by QEMU for each guest connection (guestfwd cmd:).
document = json.load(open(sys.argv[1]))
request = sys.stdin.buffer.readline().decode(errors="replace").split()
while sys.stdin.buffer.readline() not in (b"\r\n", b"\n", b""):
    pass
path = request[1] if len(request) > 1 else "/"
if path == "/openstack/latest/meta_data.json":
    status, body = "200 OK", json.dumps(document).encode()
else:
    status, body = "404 Not Found", b"not found"
sys.stdout.buffer.write(f"HTTP/1.0 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
sys.stdout.buffer.flush()
'''


def meta_data(public_key: str, hostname: str = "vm-test.novalocal") -> dict:
    """A meta_data.json document as nova writes it."""
    return {"uuid": "0d3c4b6e-0000-4000-8000-000000000001", "hostname": hostname, "name": "vm-test",
            "public_keys": {"test": public_key + "\n"},
            "keys": [{"name": "test", "type": "ssh", "data": public_key + "\n"}]}


def metadata_netdev(workdir: Path, document: dict) -> str:
    """Options for a user-mode network on 169.254.169.0/24 whose 169.254.169.254:80 serves ``document``."""
    (workdir / "meta_data.json").write_text(json.dumps(document))
    (workdir / "metadata.py").write_text(METADATA_SERVER)
    command = f"{sys.executable} {workdir / 'metadata.py'} {workdir / 'meta_data.json'}"
    return f"net=169.254.169.0/24,guestfwd=tcp:169.254.169.254:80-cmd:{command}"


class Guest:
    """One QEMU guest booted from a GuestImage; ``stop()`` kills the QEMU process it started, by PID."""

    def __init__(self, image, workdir: Path, cmdline: Optional[str] = None, drive: Optional[Path] = None,
                 memory: int = 256, host: str = "127.0.0.1", netdev_options: str = ""):
        self.image = image
        self.workdir = Path(workdir)
        self.cmdline = cmdline or image.os_command_line
        self.drive = drive
        self.memory = memory
        self.host = host
        self.netdev_options = netdev_options
        self.port = free_port(host)
        self.console_log = self.workdir / "console.log"
        self.monitor_path = self.workdir / "monitor.sock"
        self.proc: Optional[subprocess.Popen] = None
        self.started = 0.0

    def argv(self) -> List[str]:
        argv = [QEMU, "-machine", "pc,accel=tcg", "-m", str(self.memory), "-smp", "1",
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd), "-append", self.cmdline,
                "-drive", f"file={self.image.disk},format=raw,if=virtio,snapshot=on",
                "-netdev", ",".join(filter(None, ["user,id=net0,restrict=on", self.netdev_options,
                                                  f"hostfwd=tcp:{self.host}:{self.port}-:22"])),
                "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56",
                "-serial", f"file:{self.console_log}",
                "-monitor", f"unix:{self.monitor_path},server=on,wait=off"]
        if os.environ.get("GUESTVM_PCAP"):
            argv += ["-object", f"filter-dump,id=dump0,netdev=net0,file={os.environ['GUESTVM_PCAP']}"]
        if self.drive is not None:
            argv += ["-drive", f"file={self.drive},media=cdrom,if=ide,readonly=on"]
        return argv

    def start(self) -> "Guest":
        if self.proc is not None:
            raise RuntimeError("this guest was started already")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        with open(self.workdir / "qemu.log", "wb") as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def console(self) -> str:
        try:
            return self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def markers(self) -> List[str]:
        return [line.strip() for line in self.console().splitlines() if line.startswith("GUEST: ")]

    def wait_console(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.console())
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"qemu exited ({self.proc.returncode}) before {pattern!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} on the console after {timeout}s:\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.console().splitlines()[-lines:])

    def monitor(self, command: str) -> str:
        """Run a QEMU (HMP) monitor command; its output."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(self.monitor_path))
            self._read_prompt(s)
            s.sendall(command.encode() + b"\n")
            reply = self._read_prompt(s).replace("\r", "")
            # drop the monitor's echo of the command (the first line) and its closing prompt
            return reply.split("\n", 1)[-1].rsplit("(qemu) ", 1)[0]

    @staticmethod
    def _read_prompt(s: socket.socket) -> str:
        data = b""
        while not data.endswith(b"(qemu) "):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", data.decode(errors="replace"))

    def ssh(self, key: paramiko.PKey, timeout: float = 30) -> paramiko.SSHClient:
        deadline = time.monotonic() + timeout
        while True:
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(self.host, self.port, username="root", pkey=key, look_for_keys=False,
                               allow_agent=False, timeout=10, banner_timeout=20, auth_timeout=20)
                return client
            except (OSError, paramiko.SSHException):
                client.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def run(client: paramiko.SSHClient, command: str, timeout: float = 30) -> str:
    """``command``'s output in the guest; AssertionError when it fails."""
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode(errors="replace")
    status = stdout.channel.recv_exit_status()
    if status != 0:
        raise AssertionError(f"{command!r} exited {status}: {out}{stderr.read().decode(errors='replace')}")
    return out


def wait_until(what: str, probe, timeout: float, interval: float = 0.5):
    """Call ``probe`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout}s")
        time.sleep(interval)
