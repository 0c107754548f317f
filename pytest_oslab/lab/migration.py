"""What moving a server between the lab's computes needs, on the controller and on each compute node alike.

- Cold migration and resize: the source's nova-compute runs plain ``ssh``/``scp`` as its own user (``nova``) to
  the destination's ``my_ip`` (``mkdir``, a test file for shared storage, the disk copied over). So nova gets a
  key pair of the lab's (``/etc/oslab/nova_key``), and every nova home (the controller's ``/var/lib/nova`` and
  each node's own copy of it) holds that key, it as ``authorized_keys`` and every node's host key as
  ``known_hosts``, so that ssh neither prompts nor asks for a password. The account is unlocked for sshd (its
  password ``*``: no password login, yet not ``!``, which sshd without PAM refuses even with a key).
- Live migration: each libvirtd listens on TCP on its node's management address (``--listen`` with a copy of
  the machine's libvirtd.conf adding ``listen_tcp``, ``auth_tcp = "none"``, no TLS), and nova says
  ``live_migration_scheme = tcp`` and ``live_migration_inbound_addr = <my_ip>`` (``nova_settings``).
- The lab's guest kernel and ramdisk are Glance ``aki``/``ari`` images, and their content is what those formats
  are (a raw kernel, a gzip'd cpio). This Zed package's deep image inspection (the CVE-2024-32498 backport)
  returns ``aki`` as the format it expects and then refuses the image because qemu-img calls it ``raw``: every
  download through ``fetch_to_raw`` (a destination's pre-live-migration fetches the kernel there) fails with
  "Image content does not match disk_format". Hence ``[workarounds] disable_deep_image_inspection = true`` on
  every compute; the lab's images are its own build.
- Live migration activates the destination's port binding twice, 50 ms apart: once from the source's libvirt
  lifecycle event ("VM Migration completed", ``handle_lifecycle_event``, to shorten the network's downtime) and
  once from ``_post_live_migration``. Both read the binding as INACTIVE; neutron 21.0.0's ``activate`` is not
  atomic, so the second PUT gets 500 (``UnmappedInstanceError``) instead of 409, and nova fails the migration
  ("Failed to activate binding for port ... on host compute2"; seen on Linux bridge and on OVN, once in a few
  migrations). Hence ``[workarounds] handle_virt_lifecycle_events = false`` on every compute: the binding is
  activated once, in ``_post_live_migration``; power states are still synchronised by nova's periodic task.
"""
from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from .sshd import known_hosts_text, run
from .steps import LabError

NOVA_USER = "nova"
NOVA_HOME = "/var/lib/nova"
KEY_NAME = "id_ed25519"
LIBVIRTD_CONF = Path("/etc/libvirt/libvirtd.conf")
LIBVIRTD = "/usr/sbin/libvirtd"
LIBVIRTD_MARK = "# added by pytest-oslab: live migration between the lab's computes"


def key_file(etc: Path) -> Path:
    """The private key of nova's SSH between computes (0600, beside the lab's secrets)."""
    return etc / "nova_key"


def nova_settings(address: str) -> Dict[str, Dict[str, object]]:
    """nova.conf sections of a compute whose management address (``my_ip``) is ``address``."""
    return {"libvirt": {"live_migration_scheme": "tcp", "live_migration_inbound_addr": address},
            "workarounds": {"disable_deep_image_inspection": True, "handle_virt_lifecycle_events": False}}


# ---------------------------------------------------------------- libvirtd on TCP

def libvirtd_conf(base: str, address: str) -> str:
    """``base`` (the machine's libvirtd.conf) with libvirtd listening on ``address`` over plain TCP, no auth."""
    ours = {"listen_tls": "0", "listen_tcp": "1", "auth_tcp": '"none"', "listen_addr": f'"{address}"'}
    kept = [line for line in base.splitlines()
            if line.split("=", 1)[0].strip() not in ours and line != LIBVIRTD_MARK]
    return "\n".join(kept + [LIBVIRTD_MARK] + [f"{key} = {value}" for key, value in ours.items()]) + "\n"


def write_libvirtd_conf(path: Path, address: str) -> bool:
    """Write ``path`` for libvirtd on ``address``; True when it changed."""
    wanted = libvirtd_conf(LIBVIRTD_CONF.read_text() if LIBVIRTD_CONF.exists() else "", address)
    if path.exists() and path.read_text() == wanted:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(wanted)
    return True


def libvirtd_command(conf: Path) -> List[str]:
    return [LIBVIRTD, "--listen", "-f", str(conf)]


# ---------------------------------------------------------------- nova's SSH

def shadow_password(getent_line: str) -> str:
    """The password field of a ``getent shadow <user>`` line."""
    fields = getent_line.strip().split(":")
    if len(fields) != 9:
        raise ValueError(f"not a shadow entry: {getent_line.strip()[:40]!r}")
    return fields[1]


def locked(password_field: str) -> bool:
    """sshd (without PAM) refuses any login, keys included, to an account whose password starts with ``!``."""
    return password_field.startswith("!")


def unlock_for_keys(user: str = NOVA_USER) -> bool:
    """Give a locked ``user`` the password ``*`` (no password can match it); True when it changed."""
    if not locked(shadow_password(run("getent", "shadow", user))):
        return False
    run("usermod", "--password", "*", user)
    return True


def ensure_key(etc: Path) -> Path:
    key = key_file(etc)
    if not key.exists():
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nova@oslab-computes", "-f", str(key))
    os.chmod(key, 0o600)
    return key


def ssh_files(key: Path, host_keys: Dict[str, Path]) -> Dict[str, Tuple[bytes, int]]:
    """{file in ~nova/.ssh: (content, mode)}: the key pair, it as the one authorized key, the lab's host keys."""
    pub = key.with_suffix(".pub").read_bytes()
    return {KEY_NAME: (key.read_bytes(), 0o600), f"{KEY_NAME}.pub": (pub, 0o644),
            "authorized_keys": (pub, 0o600), "known_hosts": (known_hosts_text("", host_keys).encode(), 0o644)}


def _differs(path: Path, content: bytes, mode: int, uid: int, gid: int) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return True
    return (st.st_mode & 0o7777, st.st_uid, st.st_gid) != (mode, uid, gid) or path.read_bytes() != content


def missing_in(home: Path, files: Dict[str, Tuple[bytes, int]]) -> List[str]:
    """The files of ``home``/.ssh that are not as ``files`` says (content, mode, nova's)."""
    user = pwd.getpwnam(NOVA_USER)
    ssh = home / ".ssh"
    return [str(ssh / name) for name, (content, mode) in sorted(files.items())
            if _differs(ssh / name, content, mode, user.pw_uid, user.pw_gid)]


def install(home: Path, files: Dict[str, Tuple[bytes, int]]) -> List[str]:
    """Write ``files`` into ``home``/.ssh owned by nova; the paths written."""
    user = pwd.getpwnam(NOVA_USER)
    if not home.is_dir():
        raise LabError(f"nova's home {home} is missing (is nova-compute installed?)")
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    os.chown(ssh, user.pw_uid, user.pw_gid)
    os.chmod(ssh, 0o700)
    written = missing_in(home, files)
    for name, (content, mode) in files.items():
        if str(ssh / name) in written:
            draft = ssh / f".{name}.oslab"
            draft.write_bytes(content)
            os.chown(draft, user.pw_uid, user.pw_gid)
            os.chmod(draft, mode)
            draft.replace(ssh / name)
    return written


def ensure_nova_ssh(etc: Path, homes: Sequence[Path], host_keys: Dict[str, Path]) -> List[str]:
    """nova's passwordless SSH between the computes whose nova homes are ``homes``; the lines of what was done."""
    done = []
    if unlock_for_keys():
        done.append(f"user {NOVA_USER} unlocked for key logins (password '*')")
    files = ssh_files(ensure_key(etc), host_keys)
    for home in homes:
        written = install(home, files)
        if written:
            done.append(f"{home}/.ssh: {', '.join(Path(w).name for w in written)}")
    return done


def nova_ssh_missing(etc: Path, homes: Sequence[Path], host_keys: Dict[str, Path]) -> List[str]:
    """What of nova's SSH between computes is not there (empty: all is)."""
    if not key_file(etc).exists():
        return [f"nova's key {key_file(etc)} is missing"]
    found = []
    if locked(shadow_password(run("getent", "shadow", NOVA_USER))):
        found.append(f"user {NOVA_USER} is locked: sshd refuses its key logins")
    files = ssh_files(key_file(etc), host_keys)
    return found + [f"{path} is missing or not as the lab writes it" for home in homes
                    for path in missing_in(home, files)]
