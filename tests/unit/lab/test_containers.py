"""The lab's kolla tool containers: the podman command each is started with (no podman is run here)."""
from pytest_oslab.access.deployment import KOLLA as KOLLA_PROFILE
from pytest_oslab.lab import containers


def test_each_container_is_made_from_this_machines_root_with_the_hosts_namespaces():
    libvirt = containers.run_argv(containers.Spec("nova_libvirt", ("/run/libvirt:/run/libvirt",)))
    assert libvirt[:4] == ["podman", "--cgroup-manager=cgroupfs", "--events-backend=file", "run"]
    assert libvirt[-4:] == ["--rootfs", "/:O", "sleep", "infinity"]
    for pair in (["--name", "nova_libvirt"], ["--network", "host"], ["--pid", "host"], ["-v", "/run/libvirt:/run/libvirt"],
                 ["--label", containers.LABEL]):
        assert any(libvirt[i:i + 2] == pair for i in range(len(libvirt))), pair


def test_the_lab_containers_are_the_ones_the_kolla_profile_looks_for():
    wanted = KOLLA_PROFILE.known_names()
    assert {spec.name for spec in containers.KOLLA} <= wanted
    dhcp = next(s for s in containers.KOLLA if s.name == "neutron_dhcp_agent")
    assert dhcp.mounts == ("/var/lib/neutron:" + KOLLA_PROFILE.state_path,)
