"""A cloud that cannot be used reads as one line, whichever fixture or check meets it first."""
import http.server
import threading

import pytest


class _NotKeystone(http.server.BaseHTTPRequestHandler):
    """Answers 404 to everything: an auth_url that points at the wrong path or service."""

    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"code": 404, "title": "Not Found"}}')

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def not_keystone():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotKeystone)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v2.0"
    server.shutdown()


def test_a_404_at_version_discovery_hints_at_auth_url(pytester, clouds, closed_port_cloud, not_keystone):
    entry = closed_port_cloud()
    entry["auth"]["auth_url"] = not_keystone
    clouds({"lab": entry})
    pytester.makepyfile("def test_a(cloud): pass")
    result = pytester.runpytest("--cloud", "lab")
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert (f"oslab: cloud 'lab': version discovery at {not_keystone} answered 404 Not Found: is auth_url "
            f"Keystone's endpoint (http://HOST:5000/v3, or devstack's http://HOST/identity)? Check auth_url in "
            f"clouds.yaml") in out
    assert "Traceback" not in out


def test_a_dead_api_met_outside_the_plugins_fixtures_is_one_line_per_test(pytester, clouds, closed_port_cloud):
    """The suites' own fixtures read the session directly (``oslab.capabilities``): still one line each."""
    clouds({"lab": closed_port_cloud(), "lab-admin": closed_port_cloud()})
    pytester.makeconftest("""
        import pytest
        @pytest.fixture(scope="session")
        def fleet(oslab):
            return oslab.capabilities.mechanism_drivers
    """)
    pytester.makepyfile("""
        def test_a(fleet): pass
        def test_b(fleet): pass
        def test_c(oslab): oslab.cloud
        def test_offline(): pass
    """)
    result = pytester.runpytest("--cloud", "lab", "--oslab-no-report")
    result.assert_outcomes(passed=1, errors=2, failed=1)
    out = result.stdout.str()
    line = "oslab: cloud 'lab': cannot connect at http://127.0.0.1:9/v3: connection refused"
    # each test's section is that one line (the short summary repeats it, cut to the terminal's width unless CI is set)
    assert [text for text in result.stdout.lines if text.strip() == line] == [line] * 3
    assert "Traceback" not in out and "session.py" not in out and "def connect" not in out
    assert len(result.stdout.lines) < 40
