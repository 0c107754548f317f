"""The bench's own arithmetic (bench/suite.py), on what a real run on the one-node lab gave: its history record and
pytest's --durations lines (the run that bench printed as critical path 55.5 s, the hot-plug chain), and the busy
share of this machine's CPUs sampled every 2 s during a suite run. Speed itself is measured by the bench, never
here."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "captured" / "bench"
sys.path.insert(0, str(ROOT / "bench"))

import suite  # noqa: E402  (bench/suite.py)


@pytest.fixture(scope="module")
def run():
    import json
    record = json.loads((DATA / "suite-run-lb-1-node-history.json").read_text())
    return record, suite.phases_of((DATA / "suite-run-lb-1-node-durations.txt").read_text())


def test_the_critical_path_is_the_hotplug_servers_boot_then_its_steps(run):
    path, chain = suite.critical_path(*run)
    assert round(path, 1) == 55.5
    assert chain == "oslab-26112709220df4-hotplug_servers-2-5: create -> ACTIVE 32.7s + H2/H3/H5/H6 22.8s"


def test_a_server_first_tried_after_it_was_ready_counts_to_active(run):
    record, _ = run
    boots = {b["server"].split("-", 2)[2]: b for b in record["boots"]}
    ready, how = suite.server_ready(boots["provider_server-3"])
    assert how.startswith("create -> SSH answered") and ready == boots["provider_server-3"]["ssh_ready"]
    ready, how = suite.server_ready(boots["hotplug_servers-2-5"])
    assert how.startswith("create -> ACTIVE") and ready == boots["hotplug_servers-2-5"]["active"]


def test_a_test_skipped_for_its_driver_costs_nothing_before_it_skips(run):
    skipped, most, _ = suite.skip_cost(*run)
    assert skipped == 43 and most < 0.1  # pytest's durations round each phase to 0.00 s


def meter(samples, every):
    cpu = suite.CpuMeter(every)
    cpu.samples = samples
    return cpu


def test_the_busy_share_per_ten_seconds_shows_the_boot_filling_every_core():
    lines = (DATA / "suite-run-lb-1-node-cpu-busy-percent.txt").read_text().split("\n")
    samples = [(float(t), int(p) / 100) for t, p in (line.split() for line in lines if line)]
    shares = meter(samples, 2.0).profile()
    # the samples at 2..10 s (58 56 88 98 99), 12..20 s (95 100 99 100 100), ...: full until the guests answer near
    # 67 s (89 % at 20-30 s, a dip to 82 and 73), then the tests one after another, then the teardown at the end
    assert shares == [80, 99, 89, 99, 99, 100, 91, 39, 61, 39, 35, 33, 23, 24, 82, 68]


def test_a_bucket_without_samples_is_shown_as_none():
    assert meter([(1.0, 0.1), (2.0, 0.3), (25.0, 1.0)], 1.0).profile() == [20, None, 100]
    assert meter([], 1.0).profile() == []
