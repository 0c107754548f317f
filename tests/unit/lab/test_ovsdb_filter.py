"""The relay between os-vif and Open vSwitch's database, proven with a real ovsdb-server and ovs-vsctl."""
import json
import shutil
import socket
import subprocess
import sys
import time

import pytest

from pytest_oslab.lab.ovsdb_filter import rewrite, split_messages

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def test_messages_sent_back_to_back_are_split_and_a_partial_one_waits():
    first = {"id": 1, "method": "echo", "params": []}
    second = {"id": 2, "method": "transact", "params": ["Open_vSwitch", {"op": "insert", "table": "Bridge",
                                                                         "row": {"name": "br-int"}}]}
    text = json.dumps(first) + "\n" + json.dumps(second)
    assert split_messages(text) == ([first, second], "")
    messages, rest = split_messages(text[:-5])
    assert messages == [first] and second == json.loads(rest + text[-5:])


def test_only_a_bridge_datapath_type_is_rewritten():
    message = {"id": 7, "method": "transact", "params": [
        "Open_vSwitch",
        {"op": "update", "table": "Bridge", "where": [["name", "==", "br-int"]], "row": {"datapath_type": "system"}},
        {"op": "insert", "table": "Interface", "row": {"name": "tap1", "type": "system"}},
        {"op": "insert", "table": "Bridge", "row": {"name": "br-x"}},
    ]}
    out, changed = rewrite(json.loads(json.dumps(message)), "netdev")
    assert changed == 1
    assert out["params"][1]["row"] == {"datapath_type": "netdev"}
    assert out["params"][2:] == message["params"][2:]
    assert rewrite({"id": 1, "method": "monitor", "params": ["Open_vSwitch", None, {}]}, "netdev")[1] == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture
def ovsdb(tmp_path):
    """A real ovsdb-server with the Open_vSwitch schema on a TCP port of its own, and the relay in front of it."""
    if not shutil.which("ovsdb-server"):
        pytest.skip("Open vSwitch is not installed (`oslab lab up --driver ovn` installs it)")
    db, server_port, relay_port = tmp_path / "conf.db", _free_port(), _free_port()
    subprocess.run(["ovsdb-tool", "create", str(db), SCHEMA], check=True)
    server = subprocess.Popen(["ovsdb-server", str(db), f"--remote=ptcp:{server_port}:127.0.0.1",
                               f"--unixctl={tmp_path / 'ctl'}"], stderr=subprocess.DEVNULL)
    relay = subprocess.Popen([sys.executable, "-m", "pytest_oslab.lab.ovsdb_filter", str(relay_port),
                              str(server_port), "netdev"], stderr=subprocess.PIPE, text=True)
    try:
        _wait_port(server_port)
        _wait_port(relay_port)
        subprocess.run(["ovs-vsctl", f"--db=tcp:127.0.0.1:{server_port}", "--no-wait", "init"], check=True)
        yield server_port, relay_port, relay
    finally:
        for proc in (relay, server):
            proc.terminate()
            proc.wait(timeout=10)


def _vsctl(port, *args):
    return subprocess.run(["ovs-vsctl", f"--db=tcp:127.0.0.1:{port}", "--no-wait", "--timeout=10", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_os_vifs_add_br_through_the_relay_keeps_the_userspace_datapath(ovsdb):
    server_port, relay_port, relay = ovsdb
    _vsctl(server_port, "add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev")
    # what os-vif's ensure_ovs_bridge does when neutron gave no datapath type
    _vsctl(relay_port, "--may-exist", "add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=system")
    _vsctl(relay_port, "add-port", "br-int", "tapdeadbeef-01", "--", "set", "Interface", "tapdeadbeef-01",
           "external_ids:iface-id=deadbeef-0123", "mtu_request=1442")
    assert _vsctl(server_port, "get", "Bridge", "br-int", "datapath_type") == "netdev"
    # everything else arrives as sent, and reads through the relay answer as from the server itself
    assert _vsctl(server_port, "get", "Interface", "tapdeadbeef-01", "external_ids:iface-id") == "deadbeef-0123"
    assert _vsctl(relay_port, "get", "Interface", "tapdeadbeef-01", "mtu_request") == "1442"
    assert _vsctl(relay_port, "list-ports", "br-int") == "tapdeadbeef-01"
    relay.terminate()
    assert "kept datapath_type=netdev in a transact of 1 Bridge row(s)" in relay.communicate(timeout=10)[1]
