"""The lab's view of the machine's processes (psutil), on real processes started here."""
import os
import signal
import subprocess
import sys
import time

from pytest_oslab.lab import proc


def test_a_process_is_seen_by_its_command_line_name_group_and_namespaces_until_it_is_a_zombie():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "oslab-proc-test"],
                             start_new_session=True)
    try:
        assert proc.alive(child.pid)
        assert proc.command_line(child.pid)[-1] == "oslab-proc-test"
        assert proc.name_of(child.pid).startswith("python")
        assert proc.started_at(child.pid) <= time.time()
        assert proc.group(child.pid) == [child.pid]  # its own session: the group it leads
        assert proc.session(child.pid) == child.pid and proc.session(os.getpid()) == os.getsid(0) != child.pid
        assert child.pid in proc.children(os.getpid())
        assert child.pid in proc.matching(lambda line: line.endswith("oslab-proc-test"))
        assert child.pid in proc.in_namespaces(proc.namespace_ids(os.getpid()))
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while proc.alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        # not reaped yet: a zombie, which counts as gone everywhere
        assert not proc.alive(child.pid) and proc.command_line(child.pid) == [] and proc.session(child.pid) is None
        assert child.pid not in proc.group(child.pid) and child.pid not in proc.children(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert proc.started_at(child.pid) is None and proc.name_of(child.pid) is None


def test_end_terminates_then_kills_what_ignores_sigterm_and_says_what_is_left():
    polite = subprocess.Popen(["sleep", "30"])
    stubborn = subprocess.Popen([sys.executable, "-c",
                                 "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print('ready', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert stubborn.stdout.readline().strip() == "ready"  # SIGTERM is ignored from here on
        assert proc.end([polite.pid, stubborn.pid], timeout=0.5) == []
        assert polite.wait(timeout=5) == -signal.SIGTERM
        assert stubborn.wait(timeout=5) == -signal.SIGKILL
    finally:
        for p in (polite, stubborn):
            p.kill()
            p.wait()


def test_what_a_session_leader_forks_is_in_its_session_as_a_monitored_daemon_child_is():
    leader = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                               "child = subprocess.Popen(['sleep', '30']); print(child.pid, flush=True); child.wait()"],
                              start_new_session=True, stdout=subprocess.PIPE, text=True)
    try:
        forked = int(leader.stdout.readline())
        assert proc.session(forked) == proc.session(leader.pid) == leader.pid
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()
