"""The devstack profile's cirros-like image: a second archive after the guest's initramfs, with the user cirros
and the boot script installing the SSH key for it; the lab's guest image itself is not touched."""
import gzip
import shutil
import stat
import subprocess
from dataclasses import replace

import pytest

from pytest_oslab.lab import cirros
from pytest_oslab.lab.image import FILES, GuestImage
from pytest_oslab.lab.steps import LabError

from test_image import read_cpio  # tests/unit/lab is on sys.path (rootdir-relative, no package)


def test_the_overlay_adds_the_user_cirros_and_its_home():
    entries = read_cpio(gzip.decompress(cirros.overlay()))
    passwd = entries["etc/passwd"][1].decode().splitlines()
    assert passwd == ["root:x:0:0:root:/root:/bin/sh", "cirros:x:1000:1000:cirros:/home/cirros:/bin/sh"]
    assert "cirros:x:1000:" in entries["etc/group"][1].decode().splitlines()
    assert [line.split(":")[:2] for line in entries["etc/shadow"][1].decode().splitlines()] == [
        ["root", "*"], ["cirros", "*"]]  # no password, not locked ("!"): dropbear takes the key
    assert stat.S_ISDIR(entries["home/cirros/.ssh"][0]) and stat.S_IMODE(entries["home/cirros/.ssh"][0]) == 0o700
    assert stat.S_IMODE(entries["etc/init.d/rcS"][0]) == 0o755


def test_the_boot_script_installs_the_key_for_cirros_and_hands_it_its_home_before_dropbear_starts():
    script = cirros.boot_script().decode()
    original = (FILES / "guest-rcS").read_text()
    assert "KEYS=/home/cirros/.ssh/authorized_keys\n" in script and "KEYS=/root/" not in script
    assert script.index("chown -R cirros:cirros /home/cirros") < script.index("dropbear -R -E -p 22")
    assert script.index("chmod 4755 /bin/busybox") < script.index("dropbear -R -E -p 22")  # cirros pings
    assert script.count("\n") == original.count("\n") + 3  # only the chown and the two chmod lines added
    if shutil.which("sh"):
        done = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr


def test_the_variant_follows_the_guest_build(tmp_path):
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(gzip.compress(b"the guest's archive", mtime=0))
    guest = GuestImage(kernel=tmp_path / "vmlinuz", initrd=initrd, disk=tmp_path / "disk.img", os_command_line="",
                       kernel_version="6.1.0-1-amd64", digest="a" * 64)
    assert cirros.ramdisk(guest).startswith(initrd.read_bytes())
    assert cirros.ramdisk(guest).endswith(cirros.overlay())
    assert cirros.digest(guest) == cirros.digest(replace(guest)) != cirros.digest(replace(guest, digest="b" * 64))


def test_a_boot_script_without_what_the_variant_changes_is_refused(monkeypatch, tmp_path):
    (tmp_path / "guest-rcS").write_text("#!/bin/sh\ndropbear -R -E -p 22\n")
    monkeypatch.setattr(cirros, "FILES", tmp_path)
    with pytest.raises(LabError, match="KEYS=/root/.ssh/authorized_keys"):
        cirros.boot_script()
