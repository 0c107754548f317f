"""``on_any``: a fact that holds when one node shows it (any DHCP agent may answer a guest)."""
import pytest

from pytest_oslab.checks import core
from pytest_oslab.checks.core import CheckFailed


def test_one_node_showing_the_fact_is_enough_and_the_rest_are_not_asked():
    asked = []

    def check(node):
        asked.append(node)
        if node == "n1":
            raise CheckFailed("no lease on n1", [("n1: cat leases", "")])
    core.on_any(["n1", "n2", "n3"], check)
    assert asked == ["n1", "n2"]


def test_when_no_node_shows_it_every_nodes_failure_is_kept():
    def check(node):
        raise CheckFailed(f"no lease on {node}", [(f"{node}: cat leases", "")])
    with pytest.raises(CheckFailed) as failure:
        core.on_any(["n1", "n2"], check)
    assert str(failure.value) == "no lease on n1\nno lease on n2"
    assert failure.value.evidence == [("n1: cat leases", ""), ("n2: cat leases", "")]


def test_no_node_at_all_is_a_failure_not_a_pass():
    with pytest.raises(CheckFailed, match="no item was given"):
        core.on_any([], lambda node: None)
