"""The tap guard (lab/tap_guard.py) on real netlink, in a network namespace of the test's own: a new tap left
promiscuous and down comes up, after a burst of link messages too; one set down after the window stays down.
About 10 s; needs root, not the lab."""
import json
import subprocess
import sys
import time

import pytest

NS = "oslab-tapguard-test"


def _in_ns(*argv):
    return subprocess.run(["ip", "netns", "exec", NS, *argv], capture_output=True, text=True, timeout=10, check=True)


def _flags(name):
    return json.loads(_in_ns("ip", "-j", "link", "show", name).stdout)[0]["flags"]


@pytest.fixture
def guard():
    subprocess.run(["ip", "netns", "add", NS], check=True, timeout=10)
    process = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-m", "pytest_oslab.lab.tap_guard", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline()  # printed once it listens
        assert "tap guard on " in first and "watching" in first, first
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", NS], timeout=10)


def _wait_flags(name, wanted, timeout=3.0):
    deadline = time.monotonic() + timeout
    while True:
        flags = _flags(name)
        if wanted(flags) or time.monotonic() > deadline:
            return flags
        time.sleep(0.1)


def test_a_new_tap_left_down_comes_up_and_a_later_down_stays(guard):
    _in_ns("ip", "tuntap", "add", "tapnew", "mode", "tap")
    _in_ns("ip", "link", "set", "tapnew", "promisc", "on")  # what ovs-vswitchd writes when it lost libvirt's up
    flags = _wait_flags("tapnew", lambda f: "UP" in f)
    assert "UP" in flags and "PROMISC" in flags, flags
    _in_ns("ip", "tuntap", "add", "tapold", "mode", "tap")
    time.sleep(2.5)  # past the guard's window of 2 s
    _in_ns("ip", "link", "set", "tapold", "promisc", "on")
    flags = _wait_flags("tapold", lambda f: "UP" in f, timeout=1.5)
    assert "UP" not in flags, f"tapold was brought up although set down {flags} after the window"


def test_a_tap_left_down_after_a_burst_of_link_messages_still_comes_up(guard):
    # a busy host (a test run's servers and routers coming and going) sends many link messages at once; the guard
    # must read them all as they come, not one kernel message per wake-up (it lagged so, minutes behind, on the
    # controller of three OVS nodes: a live-migrated guest's tap stayed down)
    batch = "".join(f"link add oslabburst{i} type bridge\n" for i in range(60))
    subprocess.run(["ip", "netns", "exec", NS, "ip", "-batch", "-"], input=batch, text=True, timeout=10, check=True)
    _in_ns("ip", "tuntap", "add", "tapburst", "mode", "tap")
    _in_ns("ip", "link", "set", "tapburst", "promisc", "on")
    flags = _wait_flags("tapburst", lambda f: "UP" in f)
    assert "UP" in flags, f"tapburst was left down {flags} after a burst of 60 link messages"
