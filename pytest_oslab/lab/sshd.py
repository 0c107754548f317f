"""How the lab's nodes are logged into: the non-root user with passwordless sudo and its key pair, each node's sshd
(its configuration and host key), and the lab's known_hosts entries.

Every node of the lab runs an sshd on its management address: the compute nodes inside their namespaces
(``node.py``), the controller (this machine) in the machine's namespace on the tunnel address, its own address on the
management network (``services.node_access``). The suites reach each node as an operator does: SSH as ``NODE_USER``
with the lab's key, root commands through sudo, the host keys known in advance from the machine's
``/etc/ssh/ssh_known_hosts`` (lines for the lab's addresses replaced, every other line kept).
"""
from __future__ import annotations

import os
import pwd
import socket
import subprocess
from pathlib import Path
from typing import Dict, List

from .context import Lab
from .steps import LabError

NODE_USER = "oslab"
SUDOERS = Path("/etc/sudoers.d/oslab")
SSHD = "/usr/sbin/sshd"
KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")
HOST_KEY = "ssh_host_ed25519_key"


def run(*argv: str, timeout: float = 30) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(argv)}` did not finish in {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed: {(proc.stderr or proc.stdout).strip()[:200]}")
    return proc.stdout


def key_file(lab: Lab) -> Path:
    """The private key of the lab's node user (0600, beside the lab's secrets)."""
    return lab.etc / "node_key"


def access_done(lab: Lab) -> bool:
    try:
        home = Path(pwd.getpwnam(NODE_USER).pw_dir)
    except KeyError:
        return False
    keys = home / ".ssh" / "authorized_keys"
    pub = key_file(lab).with_suffix(".pub")
    return (key_file(lab).exists() and pub.exists() and keys.exists()
            and pub.read_text().strip() in keys.read_text()
            and SUDOERS.exists() and SUDOERS.read_text() == _sudoers())


def _sudoers() -> str:
    return f"# written by pytest-oslab: the lab's node user runs root commands without a password\n" \
           f"{NODE_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n"


def ensure_access(lab: Lab) -> None:
    """The non-root user nodes are reached as, its passwordless sudo and the lab's key pair (idempotent)."""
    try:
        pwd.getpwnam(NODE_USER)
    except KeyError:
        # password '*': no password login, yet not a locked account (sshd without PAM refuses locked ones)
        run("useradd", "--create-home", "--home-dir", f"/home/{NODE_USER}", "--shell", "/bin/sh",
            "--password", "*", NODE_USER)
    user = pwd.getpwnam(NODE_USER)
    key = key_file(lab)
    if not key.exists():
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "oslab-nodes", "-f", str(key))
    os.chmod(key, 0o600)
    ssh = Path(user.pw_dir) / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    keys = ssh / "authorized_keys"
    keys.write_text(key.with_suffix(".pub").read_text())
    for path, mode in ((ssh, 0o700), (keys, 0o600)):
        os.chown(path, user.pw_uid, user.pw_gid)
        os.chmod(path, mode)
    draft = SUDOERS.with_name(".oslab.new")
    draft.write_text(_sudoers())
    os.chmod(draft, 0o440)
    run("visudo", "-cqf", str(draft))
    draft.replace(SUDOERS)


def host_key(ssh_dir: Path, name: str) -> Path:
    """The node's host key in ``ssh_dir``, made once (its public half is what known_hosts says)."""
    ssh_dir.mkdir(parents=True, exist_ok=True)
    key = ssh_dir / HOST_KEY
    if not key.exists():
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}", "-f", str(key))
    return key


def config(name: str, address: str, ssh_dir: Path, pid_file: str) -> str:
    """sshd_config of a lab node: its management address only, its own host key, keys only, no root login."""
    return "\n".join([
        "# written by pytest-oslab for lab node " + name,
        f"ListenAddress {address}:22",
        f"HostKey {ssh_dir / HOST_KEY}",
        f"PidFile {pid_file}",
        "PermitRootLogin no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "AuthorizedKeysFile .ssh/authorized_keys",
        # each guest session the suites hold goes through its node's connection as one exec channel (nc in the
        # network's namespace), beside the checks' commands: OpenSSH's default of 10 refused a channel
        "MaxSessions 64",
        "Subsystem sftp /usr/lib/openssh/sftp-server",
        "",
    ])


def answers(address: str, timeout: float = 2.0) -> bool:
    """An SSH banner comes back from ``address``:22."""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64).startswith(b"SSH-2.0")
    except OSError:
        return False


def known_hosts_text(current: str, keys: Dict[str, Path]) -> str:
    """``current`` (a known_hosts file's text) with the lines for the addresses of ``keys`` ({address: public
    host key file}) replaced by those keys; other lines kept as they were."""
    mine = set(keys)
    kept = [line for line in current.splitlines()
            if not line.strip() or line.startswith("#") or not set(line.split()[0].split(",")) & mine]
    for address, pub in sorted(keys.items()):
        kind, blob = pub.read_text().split()[:2]
        kept.append(f"{address} {kind} {blob}")
    return "\n".join(kept) + "\n"


def write_known_hosts(keys: Dict[str, Path]) -> None:
    current = KNOWN_HOSTS.read_text() if KNOWN_HOSTS.exists() else ""
    wanted = known_hosts_text(current, keys)
    if wanted != current:
        KNOWN_HOSTS.parent.mkdir(parents=True, exist_ok=True)
        draft = KNOWN_HOSTS.with_name(".ssh_known_hosts.oslab")
        draft.write_text(wanted)
        os.chmod(draft, 0o644)
        draft.replace(KNOWN_HOSTS)


def known(keys: Dict[str, Path]) -> bool:
    current = KNOWN_HOSTS.read_text() if KNOWN_HOSTS.exists() else ""
    return known_hosts_text(current, keys) == current


def host_keys(lab: Lab, computes) -> Dict[str, Path]:
    """{management address: public host key file} of the controller and of the nodes ``computes`` whose sshd has a
    key yet."""
    keys = {lab.tunnel_ip: controller_dir(lab) / f"{HOST_KEY}.pub"}
    keys.update({n.address: n.ssh_dir / f"{HOST_KEY}.pub" for n in computes})
    return {address: pub for address, pub in keys.items() if pub.exists()}


def controller_dir(lab: Lab) -> Path:
    """The controller's sshd files (host key, configuration)."""
    return lab.etc / "ssh"


def prepare_controller(lab: Lab) -> None:
    """What the controller's sshd starts from: the user and key, its host key and configuration, /run/sshd."""
    if not access_done(lab):
        ensure_access(lab)
    d = controller_dir(lab)
    host_key(d, lab.hostname)
    (d / "sshd_config").write_text(config(lab.hostname, lab.tunnel_ip, d, "/run/oslab-sshd.pid"))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege separation directory


def controller_argv(lab: Lab) -> List[str]:
    return [SSHD, "-D", "-f", str(controller_dir(lab) / "sshd_config"), "-E", str(lab.logs / "sshd.log")]
