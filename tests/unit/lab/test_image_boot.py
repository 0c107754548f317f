"""End to end: build the guest image and boot it in plain QEMU under software emulation.

Slow (a boot takes 10-30 s of emulation each): marked ``slow``; skipped where qemu-system-x86_64 or
genisoimage is missing. The image is built (from Debian packages, with apt-get download) into
``$OSLAB_TEST_IMAGE_DIR`` (default: a directory under the system temp dir), so that runs after the first
reuse it.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from pytest_oslab.lab import image

import guestvm  # tests/unit/lab/guestvm.py (rootdir-relative import: the test directories are not packages)
from guestvm import run, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(guestvm.QEMU) is None,
                       reason=f"{guestvm.QEMU} is not installed (Debian: apt-get install qemu-system-x86)"),
]

BOOT_TIMEOUT = 75
HOTPLUG_MAC = "52:54:00:00:00:02"


@pytest.fixture(scope="module")
def guest_image() -> image.GuestImage:
    workdir = Path(os.environ.get("OSLAB_TEST_IMAGE_DIR", Path(tempfile.gettempdir()) / "oslab-test-image"))
    return image.build(workdir)


@pytest.fixture
def key(tmp_path):
    return guestvm.make_key(tmp_path / "key")


def _boot(guest: guestvm.Guest, key, record_property):
    """Wait for ``guest`` (started) to say SSH-READY, log in; the SSH client."""
    guest.wait_console(r"GUEST: SSH-READY", BOOT_TIMEOUT)
    ready = time.monotonic() - guest.started
    client = guest.ssh(key)
    login = time.monotonic() - guest.started
    record_property("boot_to_ssh_ready_s", round(ready, 1))
    record_property("boot_to_ssh_login_s", round(login, 1))
    print(f"\nboot to SSH-READY {ready:.1f}s, to first login {login:.1f}s; markers:\n" + "\n".join(guest.markers()))
    return client


def _in_order(markers, *patterns):
    """Each pattern matches a marker, in this order."""
    position = 0
    for pattern in patterns:
        for index in range(position, len(markers)):
            if re.search(pattern, markers[index]):
                position = index + 1
                break
        else:
            raise AssertionError(f"no marker {pattern!r} after position {position} in:\n" + "\n".join(markers))


def _plug(guest, netdev: str, device_id: str = "nic1") -> None:
    reply = guest.monitor(f"device_add virtio-net-pci,netdev={netdev},mac={HOTPLUG_MAC},id={device_id}")
    assert "rror" not in reply, reply


def _unplug(guest, client, device_id: str = "nic1") -> None:
    """device_del, then wait for the guest to let go of eth1 and QEMU to drop the device."""
    assert "rror" not in guest.monitor(f"device_del {device_id}")
    wait_until("eth1 gone in the guest", lambda: "eth1" not in run(client, "ls /sys/class/net").split(), 30)
    wait_until("QEMU finished unplugging", lambda: f'id "{device_id}"' not in guest.monitor("info pci"), 30)


def _eth1(client) -> str:
    return run(client, "cat /sys/class/net/eth1/address 2>/dev/null; ip -4 addr show dev eth1 2>/dev/null; true")


@pytest.mark.skipif(shutil.which("genisoimage") is None,
                    reason="genisoimage is not installed (Debian: apt-get install genisoimage; nova-compute uses it)")
def test_boots_with_config_drive_and_gives_hotplugged_nics_dhcp(guest_image, key, tmp_path, record_property):
    drive = guestvm.config_drive(tmp_path / "config.iso", guestvm.public_line(key))
    with guestvm.Guest(guest_image, tmp_path, drive=drive) as guest:
        try:
            client = _boot(guest, key, record_property)
            _in_order(guest.markers(), r"init start", r"dhcp eth0 bound ip=10\.0\.2\.15/24",
                      r"key fetched from config-drive: 1 key", r"SSH-READY .*eth0=10\.0\.2\.15/24")

            addresses = run(client, "ip addr")
            assert "inet 10.0.2.15/24" in addresses and "52:54:00:12:34:56" in addresses
            assert run(client, "cat /sys/class/net/*/address").split() == ["52:54:00:12:34:56", "00:00:00:00:00:00"]
            assert run(client, "hostname").strip() == "vm-test"
            # oslab.virtio_csum=0 (the default command line): checksum and GSO offloads off
            assert run(client, "cat /sys/module/virtio_net/parameters/csum /sys/module/virtio_net/parameters/gso"
                       ).split() == ["N", "N"]

            # a NIC plugged in while running: driver bound, link up, DHCP on its own
            assert "rror" not in guest.monitor("netdev_add user,id=hp1,restrict=on,net=10.0.3.0/24")
            _plug(guest, "hp1")
            found = wait_until("eth1 with a DHCP address", lambda: "10.0.3.15/24" in (o := _eth1(client)) and o, 30)
            assert found.split()[0] == HOTPLUG_MAC
            routes = run(client, "ip route")
            assert "10.0.3.0/24 dev eth1" in routes and "default" not in routes

            # removed and plugged in again: a new udhcpc for the new device
            _unplug(guest, client)
            guest.wait_console(r"GUEST: net eth1 removed", 10)
            _plug(guest, "hp1")
            found = wait_until("eth1 back with an address", lambda: "10.0.3.15/24" in (o := _eth1(client)) and o, 30)
            assert found.split()[0] == HOTPLUG_MAC
            assert len(re.findall(r"GUEST: dhcp eth1 bound", guest.console())) == 2
        except AssertionError:
            print(guest.tail(60))
            raise


def test_key_from_metadata_service_and_hotplug_dhcp_off(guest_image, key, tmp_path, record_property):
    document = guestvm.meta_data(guestvm.public_line(key), hostname="vm-meta.novalocal")
    cmdline = image.command_line(hotplug_dhcp=False)
    with guestvm.Guest(guest_image, tmp_path, cmdline=cmdline,
                       netdev_options=guestvm.metadata_netdev(tmp_path, document)) as guest:
        try:
            client = _boot(guest, key, record_property)
            _in_order(guest.markers(), r"hotplug dhcp off", r"dhcp eth0 bound ip=169\.254\.169\.15/24",
                      r"key fetched from metadata: 1 key", r"SSH-READY")
            assert run(client, "hostname").strip() == "vm-meta"

            # with oslab.hotplug_dhcp=0 a NIC plugged in later is left alone ...
            assert "rror" not in guest.monitor("netdev_add user,id=hp1,restrict=on,net=10.0.3.0/24")
            _plug(guest, "hp1")
            wait_until("eth1 present", lambda: HOTPLUG_MAC in _eth1(client), 30)
            time.sleep(3)   # the watcher, were it on, would have started DHCP by now
            assert "inet " not in _eth1(client)
            assert "net eth1 up" not in guest.console()
            # ... for a test to configure by hand, with the guest's own udhcpc script
            run(client, "ip link set eth1 up && udhcpc -i eth1 -n -q -t 5 -T 2", timeout=30)
            assert "inet 10.0.3.15/24" in _eth1(client)
        except AssertionError:
            print(guest.tail(60))
            raise
