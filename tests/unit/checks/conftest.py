"""Fixtures of the checks' unit tests: the recording of a real suite run on the lab (ML2/Linux bridge), replayed
offline, and the real outputs under tests/data (seeds, captured OVS/OVN) served to a node by command."""
import json
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import recording  # noqa: E402  (tests/unit/checks/recording.py)

DATA = HERE.parents[1] / "data"
LAB = HERE / "data" / "lab-linuxbridge.json.gz"


@pytest.fixture(scope="session")
def lab_recording():
    """The recorded run: ``{"calls": [...], "outputs": {...}}`` (see recording.py for how it was made)."""
    return recording.load(LAB)


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
        return recording.World(call, dict(self.data["outputs"]))

    def replay(self, call, world=None):
        world = world or self.world(call)
        return recording.replay(call, world.outputs, world)

    @staticmethod
    def commands(call, kind="node"):
        return [(e["who"], e["command"]) for e in call["events"] if e["kind"] == kind]


@pytest.fixture
def lab(lab_recording):
    return Lab(lab_recording)


class Replay:
    """A node that answers recorded commands with files of tests/data (real outputs): ``{command: path}``."""

    def __init__(self, answers):
        self.answers = answers

    def run(self, command):
        path = self.answers.get(command)
        if path is None:
            return recording._Result(127, "", f"not recorded: {command}")
        return recording._Result(0, (DATA / path).read_text(), "")


@pytest.fixture
def data_node():
    """``data_node({command: path under tests/data}, name)`` -> NodeFacts answering from those files."""
    from pytest_oslab.checks.nodes import NodeFacts

    def make(answers, name="node"):
        return NodeFacts(Replay(answers), name)
    return make
