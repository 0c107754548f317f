"""The lab's services in kolla-ansible's containers: the podman command each is started with (no podman runs here)."""
import json
from pathlib import Path

from pytest_oslab.access import deployment
from pytest_oslab.lab import containers, services
from pytest_oslab.lab.context import Lab

CAPTURED = Path(__file__).parents[2] / "data" / "captured" / "containers"


def _bound(argv):
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-v"]


def test_the_dhcp_agent_runs_in_kollas_container_with_the_state_volume_at_kollas_path():
    argv = containers.run_argv("neutron-dhcp-agent", ["/usr/bin/neutron-dhcp-agent", "--config-file", "/etc/x.conf"],
                               config=Path("/etc/oslab/kolla-neutron-state.conf"), exists=lambda p: True)
    assert argv[argv.index("--name") + 1] == "neutron_dhcp_agent"
    for flag, value in (("--network", "host"), ("--pid", "host"), ("--label", containers.LABEL)):
        assert argv[argv.index(flag) + 1] == value
    assert "neutron_metadata_socket:/var/lib/neutron/kolla" in _bound(argv)
    assert "/run/netns:/run/netns:shared" in _bound(argv)
    # the daemon last, with kolla's state_path as its last configuration file
    assert argv[-5:] == ["/usr/bin/neutron-dhcp-agent", "--config-file", "/etc/x.conf",
                         "--config-file", "/etc/oslab/kolla-neutron-state.conf"]
    assert argv[argv.index("--rootfs") + 1] == "/:O"


def test_a_service_runs_as_its_user_and_only_existing_paths_are_bound():
    argv = containers.run_argv("nova-compute", ["/usr/bin/nova-compute"], user="nova",
                               exists=lambda p: p != "/var/cache/libvirt" and not p.startswith("/etc/oslab"))
    assert "--user" not in argv, "podman exec into it would look the user up in a root it cannot see"
    assert argv[argv.index("/:O") + 1:] == ["setpriv", "--reuid=nova", "--regid=nova", "--init-groups", "--",
                                            "/usr/bin/nova-compute"]
    assert "/var/lib/nova:/var/lib/nova" in _bound(argv)
    assert not any(b.startswith("/etc/oslab") for b in _bound(argv))
    assert not any("kolla" in b for b in _bound(argv)), "nova-compute holds no neutron state"


def test_on_a_hybrid_cgroup_machine_podman_runs_without_the_v2_mount_and_keeps_propagation():
    wrapped = containers.hybrid_safe(["podman", "run", "x"], hybrid=True)
    assert wrapped[:5] == ["unshare", "--mount", "--propagation", "unchanged", "sh"]
    assert wrapped[-1].endswith("umount /sys/fs/cgroup/unified && exec podman run x")
    assert containers.hybrid_safe(["podman", "run", "x"], hybrid=False) == ["podman", "run", "x"]


def test_the_lab_containers_are_the_ones_the_kolla_profile_looks_for():
    kolla = deployment.KOLLA
    placed = {name for names in kolla.containers.values() for name in names} | set(kolla.state_containers)
    made = {spec.name for spec in containers.KOLLA.values()}
    # every tool the checks call runs in a container the lab makes (the profile's first choice where it lists two)
    for tool, names in kolla.containers.items():
        assert set(names) & made, f"{tool}: the lab makes none of {names}"
    assert {"neutron_dhcp_agent", "neutron_l3_agent", "neutron_metadata_agent"} <= made & placed
    assert kolla.state_path == containers.KOLLA_STATE and kolla.state_volume == containers.STATE_VOLUME


def test_the_shape_puts_kollas_services_in_containers_and_leaves_the_rest():
    lab = Lab(containers=True, logs=Path("/var/log/oslab"), etc=Path("/etc/oslab"))
    group = {d.name: d for d in services.compute_and_agents(lab) + services.openstack_apis(lab)}
    for name in ("nova-compute", "libvirtd", "neutron-dhcp-agent", "neutron-linuxbridge-agent", "nova-api"):
        assert f"--name {containers.KOLLA[name].name} " in " ".join(group[name].argv)
        assert group[name].user == "root"
    assert group["nova-compute"].logs_owner == "nova"
    assert group["neutron-server"].argv[0] == "/usr/bin/neutron-server"
    # libvirtd's own cgroup-v2 wrapper is not nested in the container's
    assert "/usr/sbin/libvirtd" in " ".join(group["libvirtd"].argv)
    assert " ".join(group["libvirtd"].argv).count("unshare") <= 1
    plain = {d.name: d for d in services.compute_and_agents(Lab(logs=Path("/var/log/oslab")))}
    assert "podman" not in " ".join(plain["neutron-dhcp-agent"].argv)


def test_containers_podman_still_calls_running_after_a_session_end_are_told_ended_by_their_process():
    # captured on the lab's controller after a session's end had killed every process (conmon too): podman's
    # state still said running, so the deployment was detected as kolla on a lab whose services ran on the host
    listing = json.loads((CAPTURED / "lab-controller-after-session-end-podman-ps-a.json").read_text())
    assert {c["State"] for c in listing} == {"running"}
    names = lambda cs: sorted(n for c in cs for n in c["Names"])  # noqa: E731
    assert names(containers.ended(listing, alive=lambda pid: False)) == names(listing)
    live = {c["Pid"] for c in listing if c["Names"] != ["nova_api"]}
    assert names(containers.ended(listing, alive=live.__contains__)) == ["nova_api"]
    stopped = [dict(listing[0], State="exited")]
    assert containers.ended(stopped, alive=lambda pid: True) == stopped
