"""The suites' fact markers: registered, checked against the documented ids, and counted per fact at the end of a
run (run = passed + failed, and skipped), with the suites' own conftest."""
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[3] / "suites" / "conftest.py"


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    return pytester


def test_each_fact_is_counted_as_run_or_skipped(suite):
    suite.makepyfile(test_facts="""
        import pytest

        @pytest.mark.fact("N6")
        @pytest.mark.parametrize("net", ["provider", "selfservice"])
        def test_passes(net):
            pass

        @pytest.mark.fact("N6")
        def test_fails():
            assert False, "tap MTU"

        @pytest.mark.fact("S5")
        def test_skipped():
            pytest.skip("needs the iptables firewall")

        @pytest.mark.fact("N5", "N7")
        def test_two_facts():
            pass

        def test_no_fact():
            pass
    """)
    result = suite.runpytest("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "*oslab: checks per documented fact*",
        "fact    run  passed  failed  skipped",
        "N5        1       1       0        0",
        "N6        3       2       1        0",
        "N7        1       1       0        0",
        "S5        0       0       0        1",
        "all       5       4       1        1",
        "facts with no check in this run: C1, C2, *",
    ])


def test_an_unknown_fact_id_is_a_usage_error(suite):
    suite.makepyfile(test_facts="""
        import pytest

        @pytest.mark.fact("N99")
        def test_x():
            pass
    """)
    result = suite.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_x: unknown fact id(s) N99*"])


def test_the_markers_are_registered(suite):
    result = suite.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.fact(id, ...):*", "@pytest.mark.dhcp_agent:*",
                                 "@pytest.mark.iptables_firewall:*"])
