"""Which node a guest is reached through: one that holds its network's namespace, the guest's own host first
(on OVN, ``ovnmeta-<net>`` exists only on chassis hosting a port of the network)."""
from pytest_oslab.access.guests import Route, first_holding, route_hosts
from pytest_oslab.access.inventory import Node
from pytest_oslab.facts.iproute import parse_netns

# `ip netns list` captured on the lab's OVN mode (the controller, tests/unit/checks/data/lab-ovn.json.gz); in a
# three-node cloud whose network 7dcf4670 has ports on the controller and compute2 only, compute2 lists that
# network's namespace alone and compute1, with no port of any network, lists nothing
CONTROLLER = ("oslab-upstream (id: 0)\novnmeta-fb9e75bd-2bbd-4467-b3a0-f37b0fa572b4 (id: 3)\n"
              "ovnmeta-7dcf4670-c5d4-49d8-b016-fe23e754258f (id: 7)\n")
NETNS = {"controller": CONTROLLER, "compute1": "", "compute2": CONTROLLER.splitlines(keepends=True)[2]}
NAMESPACE = "ovnmeta-7dcf4670-c5d4-49d8-b016-fe23e754258f"


def holds(host):
    return NAMESPACE in parse_netns(NETNS[host])


def test_the_guests_own_host_comes_first_then_the_others_by_name():
    assert route_hosts(["controller", "compute2", "compute1"], "compute2") == ["compute2", "compute1", "controller"]
    assert route_hosts(["controller", "compute2.lab"], "compute2") == ["compute2.lab", "controller"]


def test_a_host_that_does_not_serve_the_network_is_not_added():
    assert route_hosts(["controller"], "compute1") == ["controller"]
    assert route_hosts(["controller", "compute1"], None) == ["compute1", "controller"]


def test_the_first_host_holding_the_namespace_is_chosen_and_the_others_asked_are_named():
    host, lacking = first_holding(route_hosts(NETNS, "compute1"), holds)
    assert (host, lacking) == ("compute2", ["compute1"])
    route = Route("10.199.3.14", NAMESPACE, Node(name=host), tuple(lacking))
    assert str(route) == f"10.199.3.14 via {NAMESPACE} on compute2 (not on compute1)"


def test_the_sorted_first_metadata_host_is_not_chosen_when_it_lacks_the_namespace():
    # the old choice, sorted(hosts)[0], was compute1: no ovnmeta- there, the guest timed out after 120 s
    assert sorted(NETNS)[0] == "compute1"
    assert first_holding(route_hosts(NETNS, "controller"), holds) == ("controller", [])


def test_no_host_holding_it_gives_every_host_asked():
    assert first_holding(["compute1"], holds) == (None, ["compute1"])
