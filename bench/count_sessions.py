"""A pytest plugin of the bench (``-p count_sessions`` with bench/ on PYTHONPATH), never loaded by a normal run:
it counts the sessions a suite run opens, per node and per guest, and writes them as JSON to
``$OSLAB_BENCH_SESSIONS`` at the end of the run.

- an SSH session: every ``paramiko.SSHClient.connect`` that succeeds (nodes reached by paramiko, bastions,
  guests), keyed by the address and port it connected to; failed attempts (a guest still booting) are counted
  apart;
- a local node (``local://``): every bounded local backend the access layer makes for it, keyed by its label (a
  local node opens no connection; a second backend for it is what a second connection would be).
"""
from __future__ import annotations

import collections
import json
import os
import threading

import paramiko

from pytest_oslab.access import backends

_LOCK = threading.Lock()
OPENED = collections.Counter()
FAILED = collections.Counter()
LOCAL = collections.Counter()


def _counting_connect(connect):
    def wrapper(self, hostname, port=22, *args, **kwargs):
        key = f"{hostname}:{port}"
        try:
            result = connect(self, hostname, port, *args, **kwargs)
        except BaseException:
            with _LOCK:
                FAILED[key] += 1
            raise
        with _LOCK:
            OPENED[key] += 1
        return result
    return wrapper


def _counting_local(init):
    def wrapper(self, label, *args, **kwargs):
        init(self, label, *args, **kwargs)
        with _LOCK:
            LOCAL[label] += 1
    return wrapper


def pytest_configure(config):
    paramiko.SSHClient.connect = _counting_connect(paramiko.SSHClient.connect)
    backends.BoundedLocal.__init__ = _counting_local(backends.BoundedLocal.__init__)


def pytest_unconfigure(config):
    path = os.environ.get("OSLAB_BENCH_SESSIONS")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"ssh": dict(OPENED), "ssh_failed": dict(FAILED), "local": dict(LOCAL)}, f, indent=1)
