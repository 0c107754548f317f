"""Record every check of a real suite run, and replay it offline: the unit tests of ``pytest_oslab.checks`` judge
the exact outputs the checks read on a real cloud, with the API objects the checks were given.

Record (against the lab; writes the calls, their arguments, every node/guest command with its output, every API
call a check made, and the outcome)::

    PYTHONPATH=tests/unit/checks pytest suites --cloud lab -p recording --record-to tests/unit/checks/data/lab.json

Replay: ``load(path)`` gives the calls; ``replay(call)`` runs the check again on the recorded outputs (nodes are
``ReplayHost``s, guests ``ReplayGuest``s, API proxies ``ReplayApi``s) and returns ``None`` or the failure.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import importlib
import json
import re
import threading
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

from pytest_oslab.access.guests import Result  # rc, stdout, stderr: what a node or a guest answers

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "data"            # tests/data: real outputs of the seeds and captured machines
LAB = HERE / "data" / "lab-linuxbridge.json.gz"  # the recorded suite run on the lab
RECORDINGS = sorted((HERE / "data").glob("lab-*.json.gz"))  # one passing suite run per driver of the lab

CHECK_MODULES = ("control_plane", "dhcp", "firewall", "guests", "instances", "linuxbridge", "networks",
                 "openvswitch", "ovn", "ovn_acls", "ovs_firewall", "ports", "triage")
_LOCAL = threading.local()


# --- values <-> JSON ------------------------------------------------------------------------------------------

def encode(value, outputs: Dict[str, str]):
    from openstack import resource
    from pytest_oslab.access.guests import Guest
    from pytest_oslab.checks.nodes import NodeFacts
    if isinstance(value, NodeFacts):
        return {"$node": value.name}
    if isinstance(value, (Guest, ReplayGuest)):
        return {"$guest": encode(value.server, outputs)}
    if isinstance(value, resource.Resource):
        cls = type(value)
        return {"$resource": f"{cls.__module__}.{cls.__qualname__}", "body": value.to_dict(computed=False)}
    if isinstance(value, (RecordingApi, ReplayApi)):
        return {"$api": value.service}
    if isinstance(value, (list, tuple, set, frozenset)) or _is_iterator(value):
        return [encode(v, outputs) for v in value]
    if isinstance(value, dict):
        return {"$dict": [[encode(k, outputs), encode(v, outputs)] for k, v in value.items()]}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "__dataclass_fields__"):  # capabilities' Agent and the like
        cls = type(value)
        return {"$dataclass": f"{cls.__module__}.{cls.__qualname__}",
                "fields": {k: encode(getattr(value, k), outputs) for k in value.__dataclass_fields__}}
    raise TypeError(f"cannot record a {type(value).__name__}")


def _is_iterator(value) -> bool:
    return hasattr(value, "__next__") and hasattr(value, "__iter__")


def decode(value, world: "World"):
    if isinstance(value, list):
        return [decode(v, world) for v in value]
    if not isinstance(value, dict):
        return value
    if "$node" in value:
        from pytest_oslab.checks.nodes import NodeFacts
        return NodeFacts(world.host(value["$node"]), value["$node"])
    if "$guest" in value:
        server = decode(value["$guest"], world)
        return ReplayGuest(server, world)
    if "$resource" in value:
        module, _, name = value["$resource"].rpartition(".")
        return getattr(importlib.import_module(module), name)(**value["body"])
    if "$api" in value:
        return ReplayApi(value["$api"], world)
    if "$dict" in value:
        return {decode(k, world): decode(v, world) for k, v in value["$dict"]}
    if "$dataclass" in value:
        module, _, name = value["$dataclass"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        return cls(**{k: decode(v, world) for k, v in value["fields"].items()})
    raise ValueError(f"unknown recorded value {sorted(value)}")


# --- recording -------------------------------------------------------------------------------------------------

def _store(outputs: Dict[str, str], text: str) -> str:
    key = hashlib.sha1((text or "").encode()).hexdigest()[:16]
    outputs[key] = text or ""
    return key


class RecordingHost:
    """A node's testinfra host whose commands are written into the check call being recorded."""

    def __init__(self, host, name: str, recorder: "Recorder"):
        self._host, self._name, self._recorder = host, name, recorder

    def run(self, command: str):
        result = self._host.run(command)
        self._recorder.event("node", self._name, command, result.rc, result.stdout, result.stderr)
        return result

    def __getattr__(self, name):
        return getattr(self._host, name)


class RecordingApi:
    """An openstacksdk proxy (``conn.network``, ``conn.compute``) whose calls are recorded with their results."""

    def __init__(self, proxy, service: str, recorder: "Recorder"):
        self._proxy, self.service, self._recorder = proxy, service, recorder

    def __getattr__(self, name):
        method = getattr(self._proxy, name)

        def call(*args, **kwargs):
            result = method(*args, **kwargs)
            if _is_iterator(result):
                result = list(result)
            self._recorder.api(self.service, name, result)
            return result
        return call


class Recorder:
    def __init__(self):
        self.calls: List[dict] = []
        self.outputs: Dict[str, str] = {}
        self.lock = threading.Lock()

    def current(self) -> Optional[dict]:
        stack = getattr(_LOCAL, "stack", [])
        return stack[0] if stack else None

    def event(self, kind: str, who: str, command: str, rc: int, stdout: str, stderr: str) -> None:
        call = self.current()
        if call is not None:
            call["events"].append({"kind": kind, "who": who, "command": command, "rc": rc,
                                   "stdout": _store(self.outputs, stdout), "stderr": _store(self.outputs, stderr)})

    def api(self, service: str, method: str, result) -> None:
        call = self.current()
        if call is not None:
            call["events"].append({"kind": "api", "who": service, "command": method,
                                   "result": encode(result, self.outputs)})

    def wrap(self, module_name: str, name: str, function):
        recorder = self

        @functools.wraps(function)
        def recorded(*args, **kwargs):
            stack = _LOCAL.__dict__.setdefault("stack", [])
            if stack:  # a check called by a check: part of the outer one
                return function(*args, **kwargs)
            call = {"check": f"{module_name}.{name}", "test": _current_test(), "events": []}
            args = [self._proxied(a) for a in args]
            kwargs = {k: self._proxied(v) for k, v in kwargs.items()}
            call["args"] = encode(args, self.outputs)
            call["kwargs"] = encode(kwargs, self.outputs)
            stack.append(call)
            try:
                result = function(*args, **kwargs)
                call["outcome"] = "passed"
                return result
            except AssertionError as failure:
                call["outcome"] = "failed"
                call["message"] = str(failure)
                raise
            finally:
                stack.pop()
                with recorder.lock:
                    recorder.calls.append(call)
        return recorded

    def _proxied(self, value):
        """API proxies handed to a check are recorded as they are used; iterators are read once, for both."""
        from openstack import proxy
        if isinstance(value, proxy.Proxy):
            return RecordingApi(value, value.service_type, self)
        if _is_iterator(value):
            return list(value)
        return value


def _current_test() -> str:
    import os
    return (os.environ.get("PYTEST_CURRENT_TEST") or "").rsplit(" ", 1)[0]


# --- the pytest plugin ----------------------------------------------------------------------------------------

_RECORDER: List[Recorder] = []


def pytest_addoption(parser):
    parser.addoption("--record-to", default=None, help="write the checks' calls and outputs to this JSON file")


def pytest_configure(config):
    path = config.getoption("--record-to")
    if not path:
        return
    from pytest_oslab.checks import nodes
    recorder = Recorder()
    _RECORDER[:] = [recorder]
    for module_name in CHECK_MODULES:
        module = importlib.import_module(f"pytest_oslab.checks.{module_name}")
        for name in dir(module):
            if name.startswith("check_") and callable(getattr(module, name)):
                setattr(module, name, recorder.wrap(module_name, name, getattr(module, name)))
    original_init = nodes.NodeFacts.__init__

    def init(self, host, name):
        if not isinstance(host, (RecordingHost, ReplayHost)):
            host = RecordingHost(host, name, recorder)
        original_init(self, host, name)
    nodes.NodeFacts.__init__ = init
    from pytest_oslab.access import guests
    original_run = guests.Guest.run

    def guest_run(self, command, timeout=None):
        result = original_run(self, command, timeout)
        recorder.event("guest", self.server.id, command, result.rc, result.stdout, result.stderr)
        return result
    guests.Guest.run = guest_run


_PASSED: List[bool] = []


def pytest_sessionfinish(session, exitstatus):
    _PASSED[:] = [exitstatus == 0]


def pytest_unconfigure(config):
    path = config.getoption("--record-to", default=None)
    if not path or not _RECORDER:
        return
    recorder = _RECORDER[0]
    if not recorder.calls or _PASSED != [True]:  # only a run that passed replaces the recording
        print(f"recording: not written to {path}: the run did not pass")
        return
    data = {"calls": recorder.calls, "outputs": recorder.outputs}
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt") as f:
        json.dump(data, f, indent=None, sort_keys=True)


# --- replay ---------------------------------------------------------------------------------------------------

def recorded_as(command: str) -> str:
    """The key a command is recorded under, whatever the recording's age: the OVS/OVN tools' own ``--timeout=N``
    (derived from the run's command bound, so it differs between runs) is left out."""
    return re.sub(r"^(ovs-vsctl|ovs-ofctl|ovn-nbctl|ovn-sbctl) --timeout=\d+", r"\1", command)


NETNS_JSON, NETNS_TEXT = "ip -j netns", "ip netns list"  # recordings made before the checks read ip -j netns


def netns_as_json(text: str) -> str:
    """``ip netns list`` lines as ``ip -j netns`` prints them (``[{"name":…,"id":N}]``; nothing for none)."""
    entries = []
    for line in text.splitlines():
        match = re.match(r"^(\S+)(?: \(id: (\d+)\))?$", line.strip())
        if match:
            entries.append({"name": match.group(1), **({"id": int(match.group(2))} if match.group(2) else {})})
    return json.dumps(entries, separators=(",", ":")) + "\n" if entries else ""


def answer(lookup, command: str):
    """``lookup(key)`` of a command run now, on a recording of any age: (the recorded answer, a function that
    turns its stdout into what the command prints now), or (None, None)."""
    found = lookup(recorded_as(command))
    if found is None and command == NETNS_JSON:
        found = lookup(NETNS_TEXT)
        return (found, netns_as_json) if found is not None else (None, None)
    return (found, str) if found is not None else (None, None)


class World:
    """The recorded outputs of one check call, served back in the order they were read (the last one repeats)."""

    def __init__(self, call: dict, outputs: Dict[str, str]):
        self.outputs = outputs
        self.queues: Dict[tuple, List[dict]] = {}
        for event in call["events"]:
            self.queues.setdefault((event["kind"], event["who"], recorded_as(event["command"])), []).append(event)
        self.used: Dict[tuple, int] = {}
        self.overrides: Dict[tuple, str] = {}

    def next(self, kind: str, who: str, command: str) -> Optional[dict]:
        key = (kind, who, command)
        events = self.queues.get(key)
        if not events:
            return None
        i = self.used.get(key, 0)
        self.used[key] = i + 1
        return events[min(i, len(events) - 1)]

    def text(self, key: str) -> str:
        return self.outputs[key]

    def host(self, name: str) -> "ReplayHost":
        return ReplayHost(self, name)

    def replace(self, kind: str, who: str, command: str, old: str, new: str, count: int = -1) -> None:
        """Change the recorded stdout of a command (every time it was read): a deliberate breakage offline."""
        events = self.queues.get((kind, who, recorded_as(command)))
        if not events:
            raise KeyError(f"no recorded {kind} command {command!r} on {who}; recorded: "
                           f"{sorted(c for k, w, c in self.queues if k == kind)}")
        for event in events:
            text = self.outputs[event["stdout"]]
            if old not in text:
                raise ValueError(f"{old!r} is not in the output of {command!r}")
            changed = text.replace(old, new, count)
            key = hashlib.sha1(changed.encode()).hexdigest()[:16]
            self.outputs[key] = changed
            event["stdout"] = key


    def edit_json(self, kind: str, who: str, command: str, change) -> None:
        """Change the recorded JSON output of a command: ``change(data)`` edits it in place."""
        events = self.queues.get((kind, who, recorded_as(command)))
        if not events:
            raise KeyError(f"no recorded {kind} command {command!r} on {who}")
        for event in events:
            data = json.loads(self.outputs[event["stdout"]])
            change(data)
            text = json.dumps(data)
            key = hashlib.sha1(text.encode()).hexdigest()[:16]
            self.outputs[key] = text
            event["stdout"] = key

    def set_result(self, kind: str, who: str, command: str, rc: int, stdout: str = "", stderr: str = "") -> None:
        """Make a recorded command answer ``rc`` and these outputs every time."""
        events = self.queues.get((kind, who, recorded_as(command)))
        if not events:
            raise KeyError(f"no recorded {kind} command {command!r} on {who}")
        for event in events:
            event.update(rc=rc, stdout=_store(self.outputs, stdout), stderr=_store(self.outputs, stderr))


class ReplayHost:
    def __init__(self, world: World, name: str):
        self.world, self.name = world, name

    def run(self, command: str) -> Result:
        event, now = answer(lambda key: self.world.next("node", self.name, key), command)
        if event is None:
            return Result(127, "", f"replay: `{command}` was not recorded on {self.name}")
        return Result(event["rc"], now(self.world.text(event["stdout"])), self.world.text(event["stderr"]))


class ReplayGuest:
    def __init__(self, server, world: World):
        self.server, self.world = server, world

    def run(self, command: str, timeout=None) -> Result:
        event = self.world.next("guest", self.server.id, command)
        if event is None:
            return Result(127, "", f"replay: `{command}` was not recorded in guest {self.server.name}")
        return Result(event["rc"], self.world.text(event["stdout"]), self.world.text(event["stderr"]))


class ReplayApi:
    def __init__(self, service: str, world: World):
        self.service, self.world = service, world

    def __getattr__(self, name):
        def call(*args, **kwargs):
            event = self.world.next("api", self.service, name)
            if event is None:
                raise LookupError(f"replay: {self.service}.{name} was not recorded")
            return decode(event["result"], self.world)
        return call


def load(path) -> dict:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)


def replay(call: dict, outputs: Dict[str, str], world: Optional[World] = None):
    """Run a recorded check call again on its recorded outputs: None when it passes, else the AssertionError."""
    from pytest_oslab.checks import core
    world = world or World(call, outputs)
    module_name, _, name = call["check"].partition(".")
    function = getattr(importlib.import_module(f"pytest_oslab.checks.{module_name}"), name)
    args = decode(call["args"], world)
    kwargs = decode(call["kwargs"], world)
    clock = [0.0]

    def sleep(seconds):  # waits pass in no time: the recorded outputs come back one attempt after another
        clock[0] += seconds
    saved = list(core.CLOCK)
    core.CLOCK[:] = [lambda: clock[0], sleep]
    try:
        with core.recorded():
            function(*args, **kwargs)
    except AssertionError as failure:
        return failure
    finally:
        core.CLOCK[:] = saved
    return None


# --- helpers of the unit tests -------------------------------------------------------------------------------

class Lab:
    """Pick recorded calls and replay them, possibly after changing what a node or a guest printed."""

    def __init__(self, data):
        self.data = data

    def calls(self, check: str, test: str = ""):
        found = [c for c in self.data["calls"] if c["check"] == check and test in c["test"]]
        if not found:
            raise LookupError(f"no recorded call of {check} in a test matching {test!r}")
        return found

    def call(self, check: str, test: str = ""):
        return json.loads(json.dumps(self.calls(check, test)[0]))  # a copy: tests change it

    def world(self, call):
        return World(call, dict(self.data["outputs"]))

    def replay(self, call, world=None):
        world = world or self.world(call)
        return replay(call, world.outputs, world)

    @staticmethod
    def commands(call, kind="node"):
        return [(e["who"], e["command"]) for e in call["events"] if e["kind"] == kind]


class Text(str):
    """An answer given as text (a real output, edited by the test) rather than as a file of tests/data."""


class Exited(NamedTuple):
    """An answer that failed: its exit status and its outputs (each a path under tests/data, a Text, or none)."""

    rc: int
    stdout: str = ""
    stderr: str = ""


def _text(answer) -> str:
    return answer if isinstance(answer, Text) or not answer else (DATA / answer).read_text()


class Replay:
    """A node (or guest) that answers commands with real outputs: ``{command: path under tests/data | Text |
    Exited}``."""

    def __init__(self, answers, server=None):
        self.answers = answers
        self.server = server

    def run(self, command, timeout=None):
        given, now = answer(self.answers.get, command)
        if given is None:
            return Result(127, "", f"not recorded: {command}")
        if isinstance(given, Exited):
            return Result(given.rc, now(_text(given.stdout)), _text(given.stderr))
        return Result(0, now(_text(given)), "")


def read(path) -> str:
    return (DATA / path).read_text()
