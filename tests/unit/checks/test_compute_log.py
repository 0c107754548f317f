"""triage.compute_log: the shell command it runs on a node, run here for real against a captured log."""
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import testinfra

from pytest_oslab.checks import triage
from pytest_oslab.checks.nodes import NodeFacts

DATA = Path(__file__).resolve().parents[2] / "data" / "captured" / "lab-logs" / "nova-compute-bpf-reschedule.log"
FAILED = SimpleNamespace(id="3807aba9-8531-475b-817e-e3802248ec95", name="hotplug_servers-2")


@pytest.fixture
def node():
    return NodeFacts(testinfra.get_host("local://"), "vm")


def test_the_node_log_names_the_compute_hosts_reason(node, tmp_path):
    log = tmp_path / "nova-compute.log"
    shutil.copy(DATA, log)
    sources = [str(tmp_path / "absent.log"), str(log), "journal:oslab-no-such-unit.service"]
    text = triage.compute_log(node, FAILED, sources)
    lines = text.splitlines()
    assert len(lines) == 5 and all(" ERROR nova." in line for line in lines)
    assert "failed to load cgroup BPF prog" in lines[0]


def test_an_instance_with_only_info_lines_shows_its_last_lines(node, tmp_path):
    log = tmp_path / "nova-compute.log"
    shutil.copy(DATA, log)
    other = SimpleNamespace(id="48c45c09-fb1a-40ec-9310-ca2175ed473f", name="server_a")
    text = triage.compute_log(node, other, [str(log)])
    assert text.startswith("(no warning or error for the instance; its last lines)")
    assert all(other.id in line for line in text.splitlines()[1:])


def test_nothing_found_says_where_it_looked(node, tmp_path):
    text = triage.compute_log(node, FAILED, [str(tmp_path / "absent.log")])
    assert text == f"(nothing names {FAILED.id} in {tmp_path / 'absent.log'})"


def test_odd_characters_in_a_path_stay_one_argument():
    command = triage.compute_log_command(FAILED.id, ["/var/log/my nova/compute.log; rm -rf /", "journal:a b"])
    assert "'/var/log/my nova/compute.log; rm -rf /'" in command and "-u 'a b'" in command
