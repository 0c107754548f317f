"""The report plugin in real pytest runs (pytester): default files, what the user names themselves, evidence
panels, phases' command line, and no secret in what is written. The cloud is unreachable on purpose: the report
must still be written, saying the cloud was not reached."""
import json
import re
import subprocess
import time

import pytest
from conftest import SECRET

EVIDENCE_TEST = r'''
from pytest_oslab.checks import core

def test_tap_mtu():
    with core.Check("the tap is UP at the network's MTU", core.Where(device="tap60ad2c85-f3", node="vm")) as c:
        core.attach("vm: ip -j -d addr show", '[{"ifname": "tap60ad2c85-f3", "mtu": 1400}] ' + SECRET)
        c.expect("MTU", 1450, 1400, "network MTU")

def test_passes():
    core.attach("vm: ip netns list", "qdhcp-8cc956e4")
'''
BOOT_AND_CHECK_TEST = '''
from pytest_oslab.checks import core
from pytest_oslab.stash import SESSION

def test_a_server_boots_and_a_check_judges_its_node(request):
    request.config.stash[SESSION].progress("server oslab-r1-server_a: ACTIVE after 12.5s")
    core.attach("vm: ip netns list", "qdhcp-8cc956e4")
'''


def reports(path):
    """The run reports in ``reports/`` (not the history and its index.html, pytest_oslab.report.recorder's)."""
    found = (path / "reports").glob("*") if (path / "reports").exists() else []
    return sorted(p.name for p in found if p.name not in ("history", "index.html"))


def test_a_run_against_a_cloud_writes_html_and_junit_named_after_cloud_and_time(pytester, unreachable_cloud):
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess("--cloud", unreachable_cloud, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    names = reports(pytester.path)
    assert len(names) == 2 and names[0].endswith(".html") and names[1].endswith(".xml"), names
    assert re.fullmatch(r"oslab-lab-\d{8}-\d{6}\.html", names[0])
    text = (pytester.path / "reports" / names[0]).read_text()
    assert "Cloud under test" in text and "cloud not reached" in text
    assert "<link" not in text and not (pytester.path / "reports" / "assets").exists()  # one self-contained file
    assert SECRET not in text and SECRET not in (pytester.path / "reports" / names[1]).read_text()


def test_what_the_user_names_stays_theirs_and_no_report_turns_the_default_off(pytester, unreachable_cloud):
    pytester.makepyfile("def test_nothing(): pass")
    pytester.runpytest_subprocess("--cloud", "lab", "--html", "mine.html", "-p", "no:cacheprovider")
    assert (pytester.path / "mine.html").exists()
    assert [n for n in reports(pytester.path)] and all(n.endswith(".xml") for n in reports(pytester.path))
    pytester.runpytest_subprocess("--cloud", "lab", "--html", "mine2.html", "--junitxml", "mine.xml",
                                  "-p", "no:cacheprovider")
    assert len(reports(pytester.path)) == 1
    pytester.runpytest_subprocess("--cloud", "lab", "--oslab-no-report", "-p", "no:cacheprovider")
    assert len(reports(pytester.path)) == 1
    pytester.runpytest_subprocess("--cloud", "lab", "--oslab-report-dir", "out/r", "-p", "no:cacheprovider")
    assert len(list((pytester.path / "out" / "r").glob("oslab-*.html"))) == 1


def test_without_a_cloud_nothing_is_written(pytester, unreachable_cloud):
    pytester.makepyfile("def test_nothing(): pass")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert reports(pytester.path) == []


@pytest.mark.parametrize("xdist", [False, True], ids=["one process", "xdist -n 2"])
def test_evidence_is_a_panel_and_the_failure_reads_expected_against_actual(pytester, unreachable_cloud, xdist):
    """The checks bind to no test themselves: the plugin binds every test."""
    pytester.makepyfile(EVIDENCE_TEST.replace("SECRET", repr(SECRET)))
    args = ["--cloud", "lab", "-p", "no:cacheprovider"] + (["-n", "2"] if xdist else [])
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1, failed=1)
    [html] = (pytester.path / "reports").glob("oslab-*.html")
    text = html.read_text()
    assert "oslab-expect" in text and "network MTU" in text and "oslab-ev" in text
    assert "ip netns list" in text and "qdhcp-8cc956e4" in text
    assert "col-links__extra text" not in text and "data:text/plain" not in text  # inline, not links
    assert SECRET not in text


def test_one_report_hook_carries_a_test_s_evidence_and_the_run_s_boot_timings(pytester, unreachable_cloud, request):
    """The plugin has one ``pytest_runtest_makereport`` wrapper (pytest_oslab.report.plugin's): on an xdist worker it
    puts both the evidence a check attached and the boot timings the run's progress lines gave on the report, and
    the controller renders the one into the HTML report and records the other in the history."""
    ours = [impl for impl in request.config.pluginmanager.hook.pytest_runtest_makereport.get_hookimpls()
            if impl.function.__module__.startswith("pytest_oslab")]
    assert [(impl.function.__module__, impl.wrapper) for impl in ours] == [("pytest_oslab.report.plugin", True)]
    pytester.makepyfile(BOOT_AND_CHECK_TEST)
    result = pytester.runpytest_subprocess("--cloud", "lab", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    [html] = (pytester.path / "reports").glob("oslab-*.html")
    assert "oslab-ev" in html.read_text() and "qdhcp-8cc956e4" in html.read_text()
    [record] = (pytester.path / "reports" / "history").glob("*.json")
    boots = json.loads(record.read_text())["boots"]
    assert [(b["server"], b["active"]) for b in boots] == [("oslab-r1-server_a", 12.5)]


def test_phase_is_one_of_three_and_cleanup_deselects_the_rest(pytester, unreachable_cloud):
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass")
    result = pytester.runpytest_subprocess("--cloud", "lab", "--oslab-phase", "later", "-p", "no:cacheprovider")
    assert result.ret != 0 and "invalid choice: 'later'" in result.stderr.str()
    result = pytester.runpytest_subprocess("--cloud", "lab", "--oslab-phase", "post", "--collect-only", "-q",
                                           "-p", "no:cacheprovider")
    lines = result.stdout.lines
    assert lines[0] == "workload::post::find the workload of the pre snapshot", lines[:3]
    assert any("unchanged: ports keep their MAC and fixed IPs" in line for line in lines)
    assert "test_phase_is_one_of_three_and_cleanup_deselects_the_rest.py::test_a" in "\n".join(lines)
    result = pytester.runpytest_subprocess("--cloud", "lab", "--oslab-phase", "cleanup", "--collect-only", "-q",
                                           "-p", "no:cacheprovider")
    assert "workload::cleanup::remove the workload" in result.stdout.str() and "::test_a" not in result.stdout.str()
    assert "2 deselected" in result.stdout.str()


def test_the_probe_limits_are_numbers_checked_before_anything_runs(pytester, unreachable_cloud):
    result = pytester.runpytest_subprocess("--cloud", "lab", "--oslab-phase", "post", "--oslab-max-loss", "lots",
                                           "-p", "no:cacheprovider")
    assert result.ret != 0 and "oslab_max_loss: 'lots' is not a number" in result.stderr.str()
    pytester.makeini("[pytest]\noslab_max_gap = -2\n")
    result = pytester.runpytest_subprocess("--cloud", "lab", "--oslab-phase", "post", "-p", "no:cacheprovider")
    assert result.ret != 0 and "oslab_max_gap: '-2' is negative" in result.stderr.str()


def test_a_phase_against_an_unreachable_cloud_fails_in_one_line_and_still_reports(pytester, unreachable_cloud):
    result = pytester.runpytest_subprocess("--cloud", "lab", "--oslab-phase", "pre", "-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(failed=1, skipped=5)  # the four checks and the probe's start
    assert "no workload to check: cloud 'lab': cannot connect" in result.stdout.str()
    assert "Traceback" not in result.stdout.str()
    assert any(n.endswith("-pre.html") for n in reports(pytester.path))


def test_hundreds_of_checks_make_a_report_that_stays_small(pytester, unreachable_cloud):
    """400 checks, each with five outputs of 6 kB: the report keeps a few kB of each passing test's evidence."""
    pytester.makepyfile('''
import pytest
from pytest_oslab.checks import core

@pytest.mark.parametrize("n", range(400))
def test_check(n):
    for k in range(5):
        core.attach(f"vm: ip -n qdhcp-{n} -j -d addr show dev ns-{k}", ("x" * 99 + "\\n") * 60)
    assert n % 100 != 7, "expected 1450, actual 1400"
''')
    start = time.monotonic()
    pytester.runpytest_subprocess("--cloud", "lab", "-p", "no:cacheprovider", "-q").assert_outcomes(passed=396,
                                                                                                   failed=4)
    [html] = (pytester.path / "reports").glob("oslab-*.html")
    size = html.stat().st_size
    assert size < 12_000_000, f"{size} bytes"
    print(f"400 checks with evidence: {size / 1e6:.1f} MB, run in {time.monotonic() - start:.1f}s")


def test_under_xdist_the_phase_steps_stay_on_one_worker_in_order(pytester, unreachable_cloud):
    pytester.makepyfile("import pytest\n@pytest.mark.parametrize('n', range(6))\ndef test_x(n): pass")
    result = pytester.runpytest_subprocess("--cloud", "lab", "--oslab-phase", "post", "-n", "2", "-v",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, failed=1, skipped=11)
    steps = [line for line in result.stdout.lines if "workload::post::" in line and line.startswith("[gw")]
    assert len(steps) == 12 and len({line.split("]")[0] for line in steps}) == 1, steps
    assert "find the workload of the pre snapshot" in steps[0] and "probe: loss and longest gap" in steps[-1]
