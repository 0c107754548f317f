"""The bench's CPU accounting (bench/cpu.py) on what this machine's /proc showed while the one-node lab ran its
lab tests: each process's command line as ``/proc/<pid>/cmdline`` gave it (the lab's daemons, workers that wrote
a title over their command line, the guests' QEMU, the run itself)."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

import cpu  # noqa: E402  (bench/cpu.py)

CAPTURED = json.loads((ROOT / "tests" / "data" / "captured" / "bench" / "proc-cmdlines.json").read_text())


def argv_of(start: str):
    return next(e["cmdline"] for e in CAPTURED if e["cmdline"] and e["cmdline"][0].startswith(start))


@pytest.mark.parametrize("start, program", [
    ("/usr/sbin/mariadbd", "mariadbd"),
    ("/usr/bin/qemu-system-x86_64", "qemu-system-x86_64"),       # the guests
    ("neutron-server: api worker", "neutron-server"),            # a worker's title, written over its command line
    ("neutron-linuxbridge-agent (", "neutron-linuxbridge-agent"),
    ("keystone uWSGI master", "keystone"),                       # a title padded with blanks, then what was left
    ("sshd: ", "sshd"),
])
def test_a_process_is_named_by_its_program_even_under_a_title_of_its_own(start, program):
    assert cpu.program_of(argv_of(start)) == program


def test_a_python_process_is_named_by_its_script_or_module_and_the_kernels_threads_together():
    scripts = {cpu.program_of(e["cmdline"]) for e in CAPTURED if e["cmdline"] and e["cmdline"][0] == "/usr/bin/python3"}
    assert {"nova-compute", "nova-api", "glance-api", "privsep-helper"} <= scripts
    assert cpu.program_of([".venv/bin/python3", "-m", "pytest", "--cloud", "lab"]) == "pytest"
    assert cpu.program_of(["/usr/bin/python3", "-mpytest", "-q"]) == "pytest"
    assert cpu.program_of(["/root/.pyenv/versions/3.11.7/bin/python3", "-"]) == "python3"
    assert cpu.program_of([]) == "kernel"


def test_each_program_is_charged_what_its_processes_used_between_two_snapshots():
    before = {(10, 1): ("neutron-server", 500), (11, 2): ("neutron-server", 40), (20, 3): ("mariadbd", 90)}
    after = {(10, 1): ("neutron-server", 900), (11, 2): ("neutron-server", 41), (20, 3): ("mariadbd", 90),
             (30, 4): ("qemu-system-x86_64", 700),   # a guest booted meanwhile: all it used
             (10, 5): ("dnsmasq", 3)}                # the pid of one that ended, taken again by a new process
    assert cpu.per_program(before, after) == {"neutron-server": 401, "mariadbd": 0, "qemu-system-x86_64": 700,
                                              "dnsmasq": 3}


def test_a_process_seen_as_it_ends_keeps_the_program_it_ran():
    seen = {(30, 4): ("qemu-system-x86_64", 700), (2, 1): ("kernel", 5)}
    ending = {(30, 4): ("kernel", 760), (2, 1): ("kernel", 6)}  # a zombie's command line is empty
    assert cpu.merged(seen, ending) == {(30, 4): ("qemu-system-x86_64", 760), (2, 1): ("kernel", 6)}


def test_a_meter_over_this_process_charges_its_own_busy_loop_to_it():
    with cpu.CpuMeter(every=0.2, programs=True) as meter:
        end = cpu.time.process_time() + 0.5  # half a second of this process's CPU, however busy the machine
        while cpu.time.process_time() < end:
            pass
    here = cpu.program_of([a.decode() for a in Path("/proc/self/cmdline").read_bytes().split(b"\0") if a])
    assert meter.by_program.get(here, 0) >= 0.45
    assert meter.cpu_seconds >= meter.by_program[here] - 0.05 and meter.heaviest(1)[0][0] == here
