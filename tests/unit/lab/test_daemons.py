import os
import subprocess
import sys

import pytest

from pytest_oslab.lab import daemons, proc
from pytest_oslab.lab.daemons import Daemon
from pytest_oslab.lab.steps import LabError


def test_recorded_pid_only_counts_while_the_process_runs_the_daemon(tmp_path):
    proc = subprocess.Popen(["sleep", "30"])
    while b"sleep" not in open(f"/proc/{proc.pid}/cmdline", "rb").read():
        pass  # Popen may return before the child's exec shows in /proc
    try:
        d = Daemon("sleeper", ["/bin/sleep", "30"])
        d.pid_file(tmp_path).write_text(f"{proc.pid}\n")
        assert daemons.recorded_pid(d, tmp_path) == proc.pid
        other = Daemon("other", ["/usr/bin/other-program"])
        other.pid_file(tmp_path).write_text(f"{proc.pid}\n")
        assert daemons.recorded_pid(other, tmp_path) is None  # a reused PID is never taken for ours
    finally:
        proc.kill()
        proc.wait()
    assert daemons.recorded_pid(d, tmp_path) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="starts a daemon as another user")
def test_start_stop_and_exit_at_start_is_reported_with_its_log(tmp_path):
    log = tmp_path / "ok.log"
    d = Daemon("sleeper", ["/bin/sleep", "60"], log=log, settle=0.5)
    pid = daemons.start(d, tmp_path)
    assert daemons.start(d, tmp_path) == pid  # already running: not started twice
    daemons.wait_ready(d, tmp_path, timeout=20)
    assert daemons.stop(d, tmp_path)
    assert daemons.recorded_pid(d, tmp_path) is None
    bad = Daemon("failing", ["/bin/sh", "-c", "echo 'ERROR: cannot bind'; exit 3"], log=tmp_path / "bad.log")
    daemons.start(bad, tmp_path)
    with pytest.raises(LabError) as err:
        daemons.wait_ready(bad, tmp_path, timeout=10)
    assert "failing exited at start: ERROR: cannot bind" in str(err.value)
    assert str(tmp_path / "bad.log") in str(err.value)


def test_a_port_in_use_is_named_before_starting(tmp_path, monkeypatch):
    import socket
    monkeypatch.setattr(daemons, "PORT_FREE_WAIT", 0.5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        d = Daemon("api", ["/bin/sleep", "5"], port=port, log=tmp_path / "api.log")
        with pytest.raises(LabError, match=f"api: port {port} already in use by pid {os.getpid()}"):
            daemons.start(d, tmp_path)


# A master that exits at once on SIGTERM and a worker of its group that keeps the listening socket for 1.5 s more,
# as uwsgi's workers did when CI's upgrade restarted keystone ("port 5000 already in use by ... uwsgi_python311").
MASTER_AND_WORKER = """
import os, signal, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
if os.fork() == 0:
    signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1.5), os._exit(0)))
else:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
while True:
    time.sleep(1)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="starts a daemon as another user")
def test_a_daemon_with_a_port_is_stopped_when_its_workers_have_let_the_port_go(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = Daemon("api", [sys.executable, "-c", MASTER_AND_WORKER, str(port)], port=port, log=tmp_path / "api.log")
    daemons.start(d, tmp_path)
    daemons.wait_ready(d, tmp_path, timeout=20)
    assert daemons.stop(d, tmp_path)
    assert daemons.port_owner(port) is None  # the worker had let it go before stop returned
    try:
        daemons.start(d, tmp_path)  # and the restart finds its port free
        daemons.wait_ready(d, tmp_path, timeout=20)
    finally:
        daemons.stop(d, tmp_path)


def test_run_as_keeps_secrets_out_of_the_log(tmp_path):
    log = tmp_path / "cmd.log"
    daemons.run_as("root", ["sh", "-c", 'test "$PW" = "$(cat)"'], log=log,
                   env={"PW": "s3cret"}, input="s3cret\n")
    assert "s3cret" not in log.read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="starts a daemon as another user")
def test_a_daemon_started_with_another_configuration_is_restarted_and_one_unchanged_is_not(tmp_path):
    conf = tmp_path / "sleeper.conf"
    conf.write_text("[DEFAULT]\ndebug = false\n")
    d = Daemon("sleeper", ["/bin/sleep", "60"], log=tmp_path / "sleeper.log", settle=0.2, configs=(conf,))
    first = daemons.start(d, tmp_path)
    try:
        assert not daemons.outdated(d, tmp_path)
        assert daemons.start(d, tmp_path) == first  # unchanged: left running
        conf.write_text("[DEFAULT]\ndebug = true\n")
        assert daemons.outdated(d, tmp_path)
        second = daemons.start(d, tmp_path)
        assert second != first and not daemons.outdated(d, tmp_path)
        assert not proc.alive(first)  # the old one was stopped
        old_style = tmp_path / "sleeper.pid"
        old_style.write_text(f"{second}\n")  # a PID file of a lab from before fingerprints
        assert daemons.outdated(d, tmp_path)
    finally:
        daemons.stop(d, tmp_path)


def test_the_fingerprint_covers_command_line_environment_and_config_contents_but_not_databases(tmp_path):
    conf = tmp_path / "a.conf"
    conf.write_text("x = 1\n")
    base = Daemon("svc", ["/usr/bin/svc", "/etc/openvswitch/conf.db"], configs=(conf,))
    same = Daemon("svc", ["/usr/bin/svc", "/etc/openvswitch/conf.db"], configs=(conf,))
    assert daemons.fingerprint(base) == daemons.fingerprint(same)
    assert daemons.config_files(base) == [str(conf)]  # the OVS database is not configuration
    assert daemons.fingerprint(Daemon("svc", ["/usr/bin/svc", "--debug"], configs=(conf,))) != daemons.fingerprint(base)
    assert daemons.fingerprint(Daemon("svc", base.argv, env={"A": "1"}, configs=(conf,))) != daemons.fingerprint(base)
    before = daemons.fingerprint(base)
    conf.write_text("x = 2\n")
    assert daemons.fingerprint(base) != before
