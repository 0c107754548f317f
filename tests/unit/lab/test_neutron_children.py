"""What `oslab lab down` stops besides the lab's daemons: processes the agents left to run on their own (dnsmasq,
the metadata proxies' haproxy), known by neutron's state directory on their command line."""
import os
import subprocess
import sys
import time

import pytest

from pytest_oslab.lab import host


@pytest.mark.skipif(os.geteuid() != 0, reason="signals a process it starts")
def test_a_process_naming_neutrons_state_directory_is_stopped_and_no_other(tmp_path):
    # as the DHCP agent starts dnsmasq: --pid-file under <state>/dhcp/<network>/; the state directory is the test's
    # own, never /var/lib/neutron/ (a running lab's dnsmasq and haproxy would be stopped: they were, once)
    state = f"{tmp_path}/neutron/"
    left = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", f"--pid-file={state}dhcp/x/pid"])
    other = subprocess.Popen(["sleep", "60"])
    try:
        deadline = time.monotonic() + 5
        while left.pid not in host.neutron_children(state) and time.monotonic() < deadline:
            time.sleep(0.05)  # /proc shows the command line once the child has exec'd
        assert left.pid in host.neutron_children(state) and other.pid not in host.neutron_children(state)
        stopped = host.stop_neutron_children(timeout=5, state=state)
        assert any(f"(pid {left.pid})" in s for s in stopped), stopped
        assert left.wait(timeout=10) is not None
        assert other.poll() is None
    finally:
        for p in (left, other):
            p.kill()
            p.wait()
