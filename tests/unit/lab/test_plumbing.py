"""The lab's plumbing through netlink. The declared one-node plumbing is checked as data; making, re-making and
removing it is checked for real, on devices of the test's own in two scratch namespaces (never the machine's
namespace or the lab's devices), when the test may make namespaces (root)."""
import os

import pytest

from pytest_oslab.lab import host, plumbing
from pytest_oslab.lab.context import Lab


def test_the_one_node_plumbing_is_the_upstream_namespace_four_veths_and_two_routes():
    wants = host.wanted_plumbing(Lab())
    assert [str(w) for w in wants if isinstance(w, (plumbing.Namespace, plumbing.Veth, plumbing.Route))] == [
        "namespace oslab-upstream",
        "veth oslab-prov0 <-> oslab-prov1 (netns oslab-upstream)",
        "veth oslab-up0 <-> oslab-up1 (netns oslab-upstream)",
        "veth oslab-vx0 <-> oslab-vx1",
        "route 198.18.10.0/24 via 100.64.254.2 dev oslab-up0",
        "veth oslab-pub0 <-> oslab-pub1 (netns oslab-upstream)",  # the physical network `public`
        "route 172.24.4.0/24 via 100.64.254.2 dev oslab-up0",
    ]
    addresses = {(w.dev, w.cidr, w.netns) for w in wants if isinstance(w, plumbing.Address)}
    assert addresses == {("oslab-pbr", "198.18.10.1/24", "oslab-upstream"),
                         ("oslab-up1", "100.64.254.2/30", "oslab-upstream"),
                         ("oslab-up0", "100.64.254.1/30", None), ("oslab-vx0", "198.51.100.1/24", None),
                         ("oslab-pubbr", "172.24.4.1/24", "oslab-upstream")}
    assert plumbing.Forwarding("oslab-upstream") in wants
    # the provider gateway is the upstream switch's, which compute nodes join; a lab made before loses it on prov1
    assert plumbing.Port("oslab-prov1", "oslab-pbr", "oslab-upstream") in wants
    assert plumbing.NoAddress("oslab-prov1", "198.18.10.1/24", "oslab-upstream") in wants
    assert plumbing.Port("oslab-pub1", "oslab-pubbr", "oslab-upstream") in wants
    assert wants[-3:] == [plumbing.Bridge("oslab-mgmt"), plumbing.Port("oslab-vx1", "oslab-mgmt"),
                          plumbing.Up("oslab-mgmt")]  # the nodes' management network
    # each record is made after what it names: a namespace before what lives in it, a device before its address
    made = set()
    for want in wants:
        if isinstance(want, plumbing.Veth):
            assert want.peer_netns is None or plumbing.Namespace(want.peer_netns) in made, want
            made |= {want.name, want.peer}
        elif isinstance(want, plumbing.Bridge):
            made.add(want.name)
        elif isinstance(want, plumbing.Namespace):
            made.add(want)
        elif isinstance(want, plumbing.NoAddress) and want.dev == "br-underlay":
            pass  # Open vSwitch's tap, left over from another driver: never made by the lab's plumbing
        elif hasattr(want, "dev"):
            assert want.dev in made or want.dev == "lo", want
        made.add(want)
    # a dead br-underlay (vswitchd gone) keeps the tunnel address and a route that wins over the veth's: cleared
    assert plumbing.NoAddress("br-underlay", "198.51.100.1/24") in wants


def test_on_open_vswitch_the_tunnel_address_is_left_to_the_underlay_bridge():
    wants = host.wanted_plumbing(Lab(driver="openvswitch"))
    assert not [w for w in wants if isinstance(w, plumbing.Address) and w.dev == "oslab-vx0"]
    assert host.underlay("mgmt0", "198.51.100.11/24", "/proc/7/ns/net") == [
        plumbing.NoAddress("mgmt0", "198.51.100.11/24", "/proc/7/ns/net"),  # off the device before it is moved
        plumbing.Address("br-underlay", "198.51.100.11/24", "/proc/7/ns/net"),
        plumbing.Up("br-underlay", "/proc/7/ns/net"), plumbing.Up("mgmt0", "/proc/7/ns/net")]


def test_a_veth_into_the_host_is_made_from_the_host_side():
    with plumbing.netlink() as nl, pytest.raises(ValueError, match="from the host's side"):
        plumbing.make(nl, plumbing.Veth("a0", "a1", netns="elsewhere"))


@pytest.fixture
def scratch():
    """Two namespaces of the test's own, removed at the end whatever happened."""
    if os.geteuid() != 0:
        pytest.skip("making network namespaces needs root")
    names = (f"oslab-unit-{os.getpid()}-a", f"oslab-unit-{os.getpid()}-b")
    yield names
    plumbing.remove_namespaces(names)
    assert not set(names) & set(plumbing.namespaces())


def test_plumbing_is_made_once_read_back_and_removed(scratch):
    a, b = scratch
    wants = [
        plumbing.Namespace(a), plumbing.Namespace(b),
        plumbing.Bridge("ubr0", a, mac="02:00:0a:fa:00:01"),
        plumbing.Veth("uv0", "uv1", netns=a, peer_netns=b, peer_mac="02:00:0a:fa:00:02"),
        plumbing.Port("uv0", "ubr0", a),
        plumbing.Address("ubr0", "10.250.0.1/24", a),
        plumbing.Address("uv1", "10.250.0.2/24", b),
        *[plumbing.Up(dev, a) for dev in ("ubr0", "uv0")], plumbing.Up("uv1", b),
        plumbing.Route("10.251.0.0/24", "10.250.0.1", "uv1", b),
        plumbing.Forwarding(b),
    ]
    assert plumbing.missing(wants) == [str(w) for w in wants]
    assert plumbing.ensure(wants) == [str(w) for w in wants]
    assert plumbing.missing(wants) == []
    assert plumbing.ensure(wants) == []  # idempotent: nothing made the second time
    assert sorted(plumbing.links(a)) == ["lo", "ubr0", "uv0"] and sorted(plumbing.links(b)) == ["lo", "uv1"]
    with plumbing.netlink() as nl:
        assert nl.link("uv1", b).get("address") == "02:00:0a:fa:00:02"
        assert nl.link("ubr0", a).get("address") == "02:00:0a:fa:00:01"  # kept as its port came

    # a veth whose peer went away is made again, whole
    plumbing.remove_links(["uv1"], b)
    assert plumbing.missing(wants)[0] == f"veth uv0 (netns {a}) <-> uv1 (netns {b})"
    plumbing.ensure(wants)
    assert plumbing.missing(wants) == []

    assert plumbing.release("uv0", a) and not plumbing.release("uv0", a)
    assert plumbing.missing(wants) == [f"uv0 (netns {a}) in bridge ubr0"]
    # an address moved away from a device: taken off it once, then nothing to do
    gone = [plumbing.NoAddress("uv1", "10.250.0.2/24", b)]
    assert plumbing.ensure(gone) == [f"no address 10.250.0.2/24 on uv1 (netns {b})"] and plumbing.ensure(gone) == []
    assert f"address 10.250.0.2/24 on uv1 (netns {b})" in plumbing.missing(wants)
    assert plumbing.remove_links(["uv0", "nonesuch"], a) == ["uv0"]
    assert plumbing.links(b) == ["lo"]  # the peer went with it
