"""The devstack profile's image named like cirros: the lab's guest whose login user is ``cirros``, not root.

The lab's guest (``image.py``) is left as it is built and cached: the variant's ramdisk is the guest's initramfs
followed by a second, small archive (the kernel unpacks both in turn, the later one's files replacing the
earlier's) holding the user ``cirros`` (uid 1000, no sudo: the guest is busybox only) and the boot script with
the SSH key installed into ``/home/cirros/.ssh`` instead of root's and busybox made setuid root, so that ``cirros``
pings as on CirrOS. The variant's digest is the guest's digest and the overlay's, so a new guest makes a new variant
and nothing else does.
"""
from __future__ import annotations

import gzip
import hashlib

from .image import FILES, Cpio, GuestImage
from .steps import LabError

USER = "cirros"
HOME = f"/home/{USER}"
# (text of files/guest-rcS, what it becomes): each must be found, so that a change of the script is noticed
RCS_CHANGES = (
    ("KEYS=/root/.ssh/authorized_keys\n", f"KEYS={HOME}/.ssh/authorized_keys\n"),
    ("mkdir -p /root/.ssh\n", f"mkdir -p /root/.ssh {HOME}/.ssh\n"),
    # busybox setuid root, as CirrOS installs it (buildroot does so for busybox built with FEATURE_SUID, as
    # Debian's is): ping keeps root to open its raw socket, every other applet drops it; a setuid copy named ping
    # would not do, as busybox's sh runs applets through its own binary (/proc/self/exe)
    ("dropbear -R -E -p 22", f"chown -R {USER}:{USER} {HOME}\nchmod 700 {HOME}/.ssh\nchmod 4755 /bin/busybox\n"
                             "dropbear -R -E -p 22"),
)


def boot_script() -> bytes:
    """The guest's rcS, with the key installed for ``cirros``."""
    text = (FILES / "guest-rcS").read_text()
    for old, new in RCS_CHANGES:
        if text.count(old) != 1:
            raise LabError(f"files/guest-rcS no longer has {old.strip()!r} once: the cirros variant cannot be made")
        text = text.replace(old, new)
    return text.encode()


def overlay() -> bytes:
    """The second archive of the variant's ramdisk (gzip'd newc cpio, reproducible)."""
    cpio = Cpio()
    cpio.file("etc/passwd", f"root:x:0:0:root:/root:/bin/sh\n{USER}:x:1000:1000:{USER}:{HOME}:/bin/sh\n".encode())
    cpio.file("etc/group", f"root:x:0:\n{USER}:x:1000:\n".encode())
    cpio.file("etc/shadow", f"root:*:19000:0:99999:7:::\n{USER}:*:19000:0:99999:7:::\n".encode(), 0o600)
    cpio.dir("home", 0o755)
    cpio.dir(HOME.strip("/"), 0o755)
    cpio.dir(f"{HOME.strip('/')}/.ssh", 0o700)
    cpio.file("etc/init.d/rcS", boot_script(), 0o755)
    return gzip.compress(cpio.to_bytes(), compresslevel=6, mtime=0)


def ramdisk(guest: GuestImage) -> bytes:
    return guest.initrd.read_bytes() + overlay()


def digest(guest: GuestImage) -> str:
    return hashlib.sha256(f"{guest.digest}\n{hashlib.sha256(overlay()).hexdigest()}".encode()).hexdigest()
