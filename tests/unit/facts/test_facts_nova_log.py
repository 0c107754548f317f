"""nova-compute's log lines about one instance (a real rescheduled build captured on the lab, see tests/data)."""
from pytest_oslab.facts.nova_log import instance_events

LOG = "captured/lab-logs/nova-compute-bpf-reschedule.log"
FAILED = "3807aba9-8531-475b-817e-e3802248ec95"  # the build libvirt refused: "failed to load cgroup BPF prog"
OTHER = "48c45c09-fb1a-40ec-9310-ca2175ed473f"  # a server booted in the same seconds, without trouble


def test_a_failed_builds_errors_without_traceback_frames(data):
    events = instance_events(data(LOG), FAILED)
    assert [(e.level, e.logger) for e in events] == [
        ("ERROR", "nova.virt.libvirt.driver"), ("ERROR", "nova.compute.manager"), ("ERROR", "nova.compute.manager"),
        ("ERROR", "nova.compute.manager"), ("ERROR", "nova.compute.manager")]
    assert events[0].message == ("Failed to start libvirt guest: libvirt.libvirtError: failed to load cgroup BPF "
                                 "prog: Resource temporarily unavailable")
    assert events[3].message.startswith("Failed to build and run instance: libvirt.libvirtError")
    assert str(events[0]).startswith("2026-11-24 01:00:17 ERROR nova.virt.libvirt.driver: Failed to start")
    assert not any(e.message.startswith(("File ", "Traceback", "^")) for e in events)


def test_another_instance_in_the_same_lines_is_not_mixed_in(data):
    text = data(LOG)
    assert OTHER in text and instance_events(text, OTHER) == []
    assert len(instance_events(text, FAILED, levels=("INFO",))) > 0


def test_journal_lines_read_the_same():
    line = (f"2026-11-24T01:00:17+0000 vm nova-compute[15789]: ERROR nova.compute.manager [None req-1 - - default "
            f"default] [instance: {FAILED}] Instance failed to spawn: boom")
    (event,) = instance_events(line, FAILED)
    assert (event.time, event.level, event.message) == ("2026-11-24 01:00:17", "ERROR", "Instance failed to spawn: boom")


def test_the_glue_between_chained_tracebacks_is_left_out():
    prefix = f"2026-11-24 04:49:38.610 9 ERROR nova.compute.manager [instance: {FAILED}] "
    text = "\n".join(prefix + m for m in ("Instance failed to spawn: NoMoreFixedIps", "Traceback (most recent call "
                                          "last):", "  File \"x.py\", line 1, in f", "During handling of the above "
                                          "exception, another exception occurred:", "", "The above exception was "
                                          "the direct cause of the following exception:", "NoMoreFixedIps: none"))
    assert [e.message for e in instance_events(text, FAILED)] == ["Instance failed to spawn: NoMoreFixedIps",
                                                                   "NoMoreFixedIps: none"]
