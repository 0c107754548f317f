import io

from pytest_oslab.lab import switch
from pytest_oslab.lab.context import Lab
from pytest_oslab.lab.plan import control_plane, steps
from pytest_oslab.lab.steps import FuncStep, LabError, Progress


def _lab(tmp_path, driver="linuxbridge", firewall="openvswitch", recorded=None):
    lab = Lab(root=tmp_path, etc=tmp_path / "etc", logs=tmp_path / "log", driver=driver, firewall=firewall)
    lab.state.mkdir(parents=True, exist_ok=True)
    if recorded:
        (lab.state / "driver").write_text(recorded + "\n")
    return lab


def test_the_driver_switch_comes_before_the_new_drivers_configuration(tmp_path):
    names = [s.name for s in steps(_lab(tmp_path))]
    plane = [s.name for s in control_plane(_lab(tmp_path))]
    assert names.index("driver-switch") < names.index("configs") == names.index(plane[0])
    assert plane[-1] == "api-services" and "ovn-databases" in plane


def test_the_previous_lab_is_the_recorded_driver_and_firewall(tmp_path):
    lab = _lab(tmp_path, driver="linuxbridge", recorded="ovn openvswitch")
    old = switch.previous(lab)
    assert (old.driver, old.firewall, old.root) == ("ovn", "openvswitch", lab.root)
    assert (switch.previous(_lab(tmp_path / "b", driver="ovn", recorded="linuxbridge")).driver) == "linuxbridge"


def test_a_switch_is_due_only_when_another_driver_or_firewall_is_recorded(tmp_path):
    step = switch.DriverSwitchStep(control_plane)
    assert step.done(_lab(tmp_path / "new", driver="ovn"))
    assert step.done(_lab(tmp_path / "same", driver="openvswitch", firewall="iptables_hybrid",
                          recorded="openvswitch iptables_hybrid"))
    assert not step.done(_lab(tmp_path / "fw", driver="openvswitch", firewall="openvswitch",
                              recorded="openvswitch iptables_hybrid"))
    assert not step.done(_lab(tmp_path / "drv", driver="linuxbridge", recorded="ovn openvswitch"))


def test_the_old_drivers_control_plane_runs_first_and_its_failure_names_the_way_out(tmp_path):
    seen = []

    def old_plane(lab):
        def fail(_):
            seen.append(lab.driver)
            raise RuntimeError("mariadb would not start")
        return [FuncStep("infrastructure", fail)]

    lab = _lab(tmp_path, driver="linuxbridge", recorded="ovn openvswitch")
    try:
        switch.DriverSwitchStep(old_plane).run(lab)
    except LabError as exc:
        message = str(exc)
    assert seen == ["ovn"]
    assert "ovn openvswitch lab could not delete its networks" in message and "mariadb would not start" in message
    assert "oslab lab down --purge" in message
    assert (lab.state / "driver").read_text().strip() == "ovn openvswitch"  # nothing recorded as switched


def test_progress_lines_carry_their_prefix():
    out = io.StringIO()
    Progress(out, prefix="  (ovn) ").line("api-services ...")
    assert out.getvalue().endswith("]   (ovn) api-services ...\n")
