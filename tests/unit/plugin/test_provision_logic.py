"""Pure logic of provisioning: names and tags, the resource stack, cleanup selection, capability inference.
openstacksdk objects are faked minimally (SimpleNamespace) only here, where no cloud is involved."""
from types import SimpleNamespace as NS

import pytest

from pytest_oslab.cloud.capabilities import (Agent, dns_domain_from_assignment, drivers_from_agents,
                                             firewall_from_vif_details)
from pytest_oslab.provision import cleanup
from pytest_oslab.provision.naming import Naming, new_run_id, run_of
from pytest_oslab.provision.stack import ResourceStack


def test_names_and_tags_carry_run_and_worker():
    run = new_run_id()
    gw0, gw1 = Naming(run, "gw0"), Naming(run, "gw1")
    assert gw0.name("selfservice") == f"oslab-{run}-gw0-selfservice" != gw1.name("selfservice")
    assert gw0.tags == gw1.tags == ["oslab", f"oslab-run-{run}"]
    assert Naming(run).name("key") == f"oslab-{run}-key"
    assert run_of(gw0.tags) == run and run_of(None, gw1.name("flavor")) == run
    assert run_of(["other"]) == "" and run_of(None, "oslab-mine") == ""


def test_stack_deletes_newest_first_and_waits_for_each():
    events, alive = [], {"net", "port", "server"}
    stack = ResourceStack(timeout=5, poll=0.01)
    for name in ("net", "port", "server"):
        stack.push(name, name, lambda n=name: (events.append(f"delete {n}"), alive.discard(n)),
                   lambda n=name: n in alive)
    assert stack.close() == [] and events == ["delete server", "delete port", "delete net"]


def test_stack_deletes_consecutive_servers_together_then_waits_for_them_before_their_ports():
    events = []

    def push(kind, name):  # each resource is gone at the second look
        stack.push(kind, name, lambda: events.append(f"delete {name}"), lambda: events.append(f"wait {name}") or
                   (events.count(f"wait {name}") < 2))
    stack = ResourceStack(timeout=5, poll=0.01)
    push("port", "p1")
    push("server", "s1")
    push("server", "s2")
    assert stack.close() == []
    assert events == ["delete s2", "delete s1", "wait s2", "wait s2", "wait s1", "wait s1", "delete p1", "wait p1",
                      "wait p1"]


def test_stack_goes_on_after_a_failure_and_reports_one_line():
    lines, deleted = [], []

    def boom():
        raise RuntimeError("409 in use")
    stack = ResourceStack(timeout=1, report=lines.append, poll=0.01)
    stack.push("network", "n1", lambda: deleted.append("n1"), lambda: False)
    stack.push("subnet", "s1", boom, lambda: True)
    problems = stack.close()
    assert deleted == ["n1"] and problems == lines == ["oslab: could not delete subnet s1: RuntimeError: 409 in use"]


def test_stack_deletion_wait_is_bounded():
    stack = ResourceStack(timeout=0.2, report=lambda line: None, poll=0.05)
    stack.push("server", "stuck", lambda: None, lambda: True)
    assert stack.close() == ["oslab: could not delete server stuck: TimeoutError: still there after 0s"]


def test_stack_keep_leaves_everything_and_says_so():
    lines, deleted = [], []
    stack = ResourceStack(timeout=1, keep=True, report=lines.append)
    stack.push("network", "n1", lambda: deleted.append(1), lambda: False)
    assert stack.close() == [] and deleted == [] and lines == ["oslab: --oslab-keep: leaving 1 resources: network n1"]


def test_second_interrupt_during_cleanup_says_what_is_left():
    lines = []

    def interrupted():
        raise KeyboardInterrupt
    stack = ResourceStack(timeout=1, report=lines.append, cleanup_hint="oslab cleanup --cloud lab --run R")
    stack.push("network", "n1", lambda: None, lambda: False)
    stack.push("server", "s1", interrupted, lambda: True)
    with pytest.raises(KeyboardInterrupt):
        stack.close()
    assert lines == ["oslab: cleanup interrupted; left behind: server s1, network n1; "
                     "remove them with: oslab cleanup --cloud lab --run R"]


def test_cleanup_selects_only_what_the_suite_tagged_or_named():
    run = "2405121530a3f9"
    ours = NS(id="1", name="anything", tags=["oslab", f"oslab-run-{run}"])
    listing = {
        "server": [ours, NS(id="2", name=f"oslab-{run}-server-1", tags=[])],  # a name alone is not enough
        "network": [NS(id="3", name="provider", tags=[]), NS(id="4", name="x", tags=["oslab-run-zzz"])],
        "router": [NS(id="5", name="r", tags=["oslab", "oslab-run-0000000000ffff"])],
        "keypair": [NS(id=f"oslab-{run}-key", name=f"oslab-{run}-key"), NS(id="mykey", name="mykey"),
                    NS(id="oslab-key", name="oslab-key")],
        "flavor": [NS(id="0", name="m1.nano"), NS(id="9", name=f"oslab-{run}-gw1-flavor")],
        "server group": [NS(id="g1", name=f"oslab-{run}-far"), NS(id="g2", name="web-anti-affinity")],
    }
    chosen = cleanup.select(listing)
    assert [(c.kind, c.resource.id, c.run) for c in chosen] == [
        ("server", "1", run), ("router", "5", "0000000000ffff"), ("server group", "g1", run),
        ("keypair", f"oslab-{run}-key", run), ("flavor", "9", run)]
    assert [c.resource.id for c in cleanup.select(listing, run=run)] == ["1", "g1", f"oslab-{run}-key", "9"]


def test_cleanup_without_a_cloud_is_one_line(clouds, capsys):
    clouds({})
    assert cleanup.main([]) == 2
    assert capsys.readouterr().err.startswith("oslab cleanup: no cloud named: run with --cloud NAME")


def test_capabilities_inference():
    agents = [Agent("1", "Linux bridge agent", "neutron-linuxbridge-agent", "vm", True, True),
              Agent("2", "DHCP agent", "neutron-dhcp-agent", "vm", True, True)]
    assert drivers_from_agents(agents) == {"linuxbridge"}
    assert firewall_from_vif_details({"linuxbridge"}, {"port_filter": True}) == "iptables"
    assert firewall_from_vif_details({"openvswitch"}, {"port_filter": True, "ovs_hybrid_plug": True}) == \
        "iptables_hybrid"
    assert firewall_from_vif_details({"openvswitch"}, {"port_filter": True, "ovs_hybrid_plug": False}) == \
        "openvswitch"
    assert dns_domain_from_assignment([{"hostname": "host-10-0-0-2", "fqdn": "host-10-0-0-2.openstacklocal."}]) \
        == "openstacklocal"


def test_a_server_is_placed_on_a_named_compute_through_its_zone():
    from pytest_oslab.provision.servers import placement
    assert placement(None, "compute2") == "nova:compute2"
    assert placement("az1", "compute2") == "az1:compute2"
    assert placement("az1", None) == "az1" and placement(None, None) is None
