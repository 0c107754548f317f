import os
import subprocess

import pytest

from pytest_oslab.lab import services

HYBRID = {"/sys/fs/cgroup", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/devices", "/sys/fs/cgroup/unified"}


def test_libvirtd_runs_plainly_unless_the_host_has_hybrid_cgroups():
    assert services.libvirtd_argv({"/sys/fs/cgroup"}) == ["/usr/sbin/libvirtd"]  # cgroup v2 only: nothing to hide
    assert services.libvirtd_argv(HYBRID - {"/sys/fs/cgroup/unified"}) == ["/usr/sbin/libvirtd"]  # v1 only
    argv = services.libvirtd_argv(HYBRID)
    assert argv[:5] == ["unshare", "--mount", "--propagation", "slave", "--"]
    assert argv[-1] == "umount /sys/fs/cgroup/unified && exec /usr/sbin/libvirtd"


@pytest.mark.skipif(os.geteuid() != 0, reason="unshares a mount namespace")
@pytest.mark.skipif(not {"/sys/fs/cgroup/unified", "/sys/fs/cgroup/devices"} <= services._mount_points(),
                    reason="the host has no hybrid cgroups")
def test_on_hybrid_cgroups_libvirtd_sees_the_v1_devices_controller_and_no_v2_while_the_host_keeps_both():
    argv = services.libvirtd_argv(command=("cat", "/proc/self/mounts"))
    inside = {line.split()[1] for line in subprocess.run(argv, capture_output=True, text=True,
                                                           check=True).stdout.splitlines()}
    assert "/sys/fs/cgroup/devices" in inside and "/sys/fs/cgroup/unified" not in inside
    assert "/sys/fs/cgroup/unified" in services._mount_points()


def test_userspace_tso_is_on_for_ovn_only():
    """OVS 3.1 drops offloaded packets at a vxlan tunnel (ML2/OVS between nodes); OVN's metadata veths need it."""
    from pytest_oslab.lab.services import userspace_tso
    assert (userspace_tso("ovn"), userspace_tso("openvswitch")) == ("true", "false")
