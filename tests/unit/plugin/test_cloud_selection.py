"""Naming the cloud: none (suites skipped with one line, unit tests run), unknown, bad clouds.yaml, bad auth."""
import pytest
import yaml

TESTS = """
def test_plain_unit_test():
    assert True

def test_needs_cloud(cloud):
    pass

def test_needs_a_server(make_server, guest):
    pass
"""


def test_without_a_cloud_cloud_tests_skip_with_one_line_and_others_run(pytester, clouds, closed_port_cloud):
    clouds({"lab": closed_port_cloud(), "lab-admin": closed_port_cloud()})
    pytester.makepyfile(TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, skipped=2)
    out = result.stdout.str()
    line = "no cloud named: run with --cloud NAME or set OS_CLOUD (clouds.yaml has: lab, lab-admin)"
    assert out.count(line) == 1  # one line for all skipped tests
    assert f"oslab: 2 tests skipped: {line}" in out
    assert "no cloud named" not in pytester.runpytest("-k", "plain").stdout.str()  # nothing needed one


def test_os_cloud_names_the_cloud(pytester, clouds, closed_port_cloud, monkeypatch):
    clouds({"mine": closed_port_cloud()})
    monkeypatch.setenv("OS_CLOUD", "mine")
    pytester.makepyfile("def test_x(): pass")
    assert "oslab: cloud mine " in pytester.runpytest().stdout.str()


def test_an_unknown_cloud_lists_the_clouds_that_exist(pytester, clouds, closed_port_cloud):
    path = clouds({"devstack": closed_port_cloud(), "devstack-admin": closed_port_cloud()})
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("--cloud", "nope")
    assert result.ret == 4
    assert [line for line in result.stderr.lines if line] == [
        f"ERROR: oslab: cloud 'nope' is not in clouds.yaml ({path}); clouds there: devstack, devstack-admin"]


def test_a_clouds_yaml_that_does_not_parse_is_one_line(pytester, clouds):
    path = clouds(text="clouds:\n  lab:\n    auth: {auth_url: [\n")
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("--cloud", "lab")
    assert result.ret == 4
    err = result.stderr.str()
    assert f"ERROR: oslab: {path} does not parse as YAML (line 4" in err
    assert len([line for line in result.stderr.lines if line]) == 1 and "Traceback" not in err + result.stdout.str()


def test_a_bad_oslab_key_is_one_line(pytester, clouds, closed_port_cloud):
    clouds({"lab": closed_port_cloud(oslab={"imgae": "guest"})})
    result = pytester.runpytest("--cloud", "lab")
    assert result.ret == 4
    assert "unknown 'oslab' key(s) imgae" in result.stderr.str()


def test_an_unreachable_api_fails_each_cloud_test_with_one_line(pytester, clouds, closed_port_cloud):
    clouds({"lab": closed_port_cloud()})
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("--cloud", "lab", "--oslab-api-timeout", "5")
    result.assert_outcomes(passed=1, errors=2)
    out = result.stdout.str()
    assert "oslab: cloud 'lab': cannot connect at http://127.0.0.1:9/v3" in out
    assert "Traceback" not in out and "keystoneauth1" not in out


def test_without_admin_cloud_admin_fixture_skips_with_reason(pytester, clouds, closed_port_cloud):
    clouds({"lab": closed_port_cloud()})
    pytester.makepyfile("def test_a(admin_cloud): pass")
    result = pytester.runpytest("--cloud", "lab", "-rs")
    result.assert_outcomes(skipped=1)
    assert "needs admin credentials: clouds.yaml has no cloud 'lab-admin'; name one with --admin-cloud" in \
        result.stdout.str()


def test_compute_log_is_a_path_journal_unit_or_a_list_of_them():
    from pytest_oslab.config import ConfigError, OslabConfig
    assert OslabConfig.from_entry("lab", {"compute_log": "/var/log/oslab/nova-compute.log"}).compute_log == [
        "/var/log/oslab/nova-compute.log"]
    both = ["/var/log/nova/nova-compute.log", "journal:devstack@n-cpu.service"]
    assert OslabConfig.from_entry("lab", {"compute_log": both}).compute_log == both
    assert OslabConfig.from_entry("lab", {}).compute_log == []
    with pytest.raises(ConfigError, match="'oslab.compute_log' must be a path, journal:UNIT, or a list of them"):
        OslabConfig.from_entry("lab", {"compute_log": {"nova": 1}})


def test_a_bad_compute_log_is_one_line(pytester, clouds, closed_port_cloud):
    clouds({"lab": closed_port_cloud(oslab={"compute_log": [3]})})
    result = pytester.runpytest("--cloud", "lab")
    assert result.ret == 4
    assert "'oslab.compute_log' must be a path" in result.stderr.str()


def test_the_suites_selected_without_a_cloud_are_a_usage_error(pytester, clouds, closed_port_cloud):
    """A nightly job whose OS_CLOUD went missing must not turn green with every check skipped."""
    clouds({"lab": closed_port_cloud()})
    pytester.makepyfile("""
        import pytest
        pytestmark = pytest.mark.oslab
        def test_needs_cloud(cloud):
            pass
    """)
    result = pytester.runpytest()
    assert result.ret == 4
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors == ["ERROR: oslab: 1 selected tests are marked oslab and need a cloud: no cloud named: run with "
                      "--cloud NAME or set OS_CLOUD (clouds.yaml has: lab)"]
    assert pytester.runpytest("-k", "nothing_matches").ret == 5  # none selected: nothing to complain about
