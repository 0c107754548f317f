"""The lab's libvirt guests: nova names them ``instance-<hex>``; ``lab down`` destroys and undefines them."""
from __future__ import annotations

import re
import subprocess
from typing import List

from .steps import LabError

NOVA_DOMAIN = re.compile(r"^instance-[0-9a-f]{8}$")


def _virsh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True, timeout=60)


def destroy_lab_domains(lab) -> List[str]:
    """Destroy and undefine nova's domains on this host (libvirtd must be running); return their names."""
    listing = _virsh("list", "--all", "--name")
    if listing.returncode != 0:
        raise LabError(f"cannot list libvirt domains: {listing.stderr.strip()[:200]}")
    names = [n for n in listing.stdout.split() if NOVA_DOMAIN.match(n)]
    for name in names:
        _virsh("destroy", name)
        _virsh("undefine", name, "--nvram")
    return names
