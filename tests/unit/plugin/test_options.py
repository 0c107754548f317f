"""Options in --help, ini keys, markers, and the header line they produce."""


def test_help_shows_the_oslab_group_with_options_and_ini_keys(pytester):
    out = pytester.runpytest("--help").stdout.str()
    assert "pytest-oslab: test an OpenStack cloud" in out
    for option in ("--cloud", "--admin-cloud", "--oslab-inventory", "--oslab-keep", "--oslab-timeout",
                   "--oslab-ssh-timeout", "--oslab-api-timeout", "--oslab-node-user", "--oslab-node-key"):
        assert option in out, option
    for ini in ("oslab_cloud", "oslab_admin_cloud", "oslab_inventory", "oslab_keep", "oslab_timeout",
                "oslab_ssh_timeout", "oslab_node_user", "oslab_node_key"):
        assert f"{ini} (" in out, ini


def test_markers_are_registered(pytester):
    out = pytester.runpytest("--markers").stdout.str()
    for marker in ("@pytest.mark.oslab", "@pytest.mark.admin", "@pytest.mark.linuxbridge",
                   "@pytest.mark.openvswitch", "@pytest.mark.ovn", "@pytest.mark.requires"):
        assert marker in out, marker
    pytester.makepyfile("import pytest\n@pytest.mark.linuxbridge\ndef test_x(): pass\n")
    assert pytester.runpytest("--strict-markers").ret == 0


def test_fixtures_are_documented(pytester):
    out = pytester.runpytest("--fixtures").stdout.str()
    for name in ("cloud", "admin_cloud", "capabilities", "image", "image_user", "flavor", "keypair",
                 "security_group", "provider_network", "provider_subnet", "external_network",
                 "selfservice_network", "selfservice_subnet", "router", "floating_ip", "make_port", "make_server",
                 "node", "node_facts", "dhcp_nodes", "guest", "oslab"):
        assert f"\n{name} [" in out or f"\n{name} -- " in out, name
    assert "no docstring available" not in out.split("fixtures defined from pytest_oslab.fixtures")[-1].split(
        "fixtures defined from")[0]


def test_ini_keys_set_values_and_the_command_line_wins(pytester, clouds, closed_port_cloud):
    clouds({"c1": closed_port_cloud(), "c2": closed_port_cloud()})
    pytester.makeini("[pytest]\noslab_cloud = c1\noslab_timeout = 42\noslab_keep = true\n")
    pytester.makepyfile("def test_x(): pass")
    out = pytester.runpytest().stdout.str()
    assert "oslab: cloud c1 (admin: NAME-admin if present)" in out and "keep yes" in out and "timeouts 42s" in out
    out = pytester.runpytest("--cloud", "c2", "--oslab-timeout", "7").stdout.str()
    assert "oslab: cloud c2" in out and "timeouts 7s" in out


def test_a_timeout_that_is_not_a_number_is_one_line(pytester):
    result = pytester.runpytest("--oslab-timeout", "soon")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: oslab: oslab_timeout: 'soon' is not a number of seconds"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
