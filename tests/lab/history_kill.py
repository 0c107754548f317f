"""A plugin test_history.py loads (``-p history_kill``) into one suite run: at the end of the run, when the history
record is being written, the pytest process is killed (SIGKILL) with half of the record on disk.

A real write of a few kB is over before any outside signal could land in it, so the kill comes from inside: the
record is written, flushed, cut to half its size and the process killed at ``fsync``, the moment before the
record would have been renamed into place. Loaded in that run only; the process it patches dies with it.
"""
import os
import signal

import pytest


@pytest.hookimpl(tryfirst=True)  # before the history recorder writes at the end of the run (trylast)
def pytest_unconfigure(config):
    def die(fd):
        os.ftruncate(fd, os.fstat(fd).st_size // 2)
        os.kill(os.getpid(), signal.SIGKILL)
    os.fsync = die
