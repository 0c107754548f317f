"""Fixtures of the checks' unit tests: the recording of a real suite run on the lab (ML2/Linux bridge), replayed
offline, and the real outputs under tests/data (seeds, captured OVS/OVN) served to a node by command."""
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import recording  # noqa: E402  (tests/unit/checks/recording.py)

LAB = recording.LAB


@pytest.fixture(scope="session")
def lab_recording():
    """The recorded run: ``{"calls": [...], "outputs": {...}}`` (see recording.py for how it was made)."""
    return recording.load(LAB)


@pytest.fixture
def lab(lab_recording):
    return recording.Lab(lab_recording)


@pytest.fixture
def data_node():
    """``data_node({command: path under tests/data}, name)`` -> NodeFacts answering from those files."""
    from pytest_oslab.checks.nodes import NodeFacts

    def make(answers, name="node"):
        return NodeFacts(recording.Replay(answers), name)
    return make
