"""The topology picture: valid SVG with no script or external asset, every object of the data plane named, what
the API expects but a node lacks drawn as missing; and the data plane's own pieces (what the checks were given,
which devices belong to the run, merging the pictures of xdist workers)."""
import dataclasses
import xml.etree.ElementTree as ET
from types import SimpleNamespace

from conftest import NET, P1, P2, PROV

from pytest_oslab.report import dataplane, topology

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str):
    root = ET.fromstring(svg)
    # the visible words of each <text>: its own text and what follows a <title> tooltip inside it
    return [(t.text or "") + "".join(c.tail or "" for c in t) for t in root.iter(f"{SVG}text")], root


def test_the_picture_is_self_contained_svg_naming_networks_ports_servers_and_devices(picture):
    svg = topology.draw(picture, "lab")
    words, root = texts(svg)
    assert root.tag == f"{SVG}svg" and not list(root.iter(f"{SVG}script")) and "href" not in svg
    joined = "\n".join(words)
    for expected in ("network workload-net", "vxlan 571 · MTU 1450", "server workload-1", "router router",
                     "10.10.0.11 fa:16:3e:00:00:01 (60ad2c85)", "bridge brq8cc956e4-a1", "floating IP 198.18.10.150",
                     f"qdhcp-{NET}", "vni 571 local 198.51.100.1:8472", "node vm", "DHCP of workload-net"):
        assert expected in joined, expected
    assert "tap60ad2c85-f3 MTU 1450 → server" in joined and "workload-1 (60ad2c85)" in joined
    assert "also used during the run, deleted before this picture: 2 ports" in joined
    assert "missing" not in joined


def test_a_tap_the_api_expects_but_the_node_lacks_is_drawn_red(picture):
    del picture["nodes"][0]["devices"][f"tap{P2[:11]}"]
    svg = topology.draw(picture)
    words, _ = texts(svg)
    assert f"tap{P2[:11]} missing (expected from" in "\n".join(words)
    assert f'fill="{topology.MISSING}"' in svg


def test_long_lines_wrap_and_nothing_to_draw_says_why():
    assert topology.wrap("a " * 80, 100)[1].startswith("    ")
    assert "Nothing to draw: API: refused" in topology.topology_html({"networks": [], "problems": ["API: refused"]})
    assert topology.display_name("oslab-2501011200abcd-gw1-server_a") == "gw1-server_a"
    assert topology.display_name("mine") == "mine"


def test_seen_notes_resources_inside_the_suites_records_but_not_private_fields():
    from openstack.network.v2.network import Network
    from openstack.network.v2.port import Port

    @dataclasses.dataclass
    class Booted:
        port: object
        nets: list
        secret: str = dataclasses.field(default="", repr=False)
    seen = dataplane.Seen()
    seen.note({"x": Booted(Port(id="p1"), [Network(id="n1"), "text", 3], secret="x")})
    seen.note(SimpleNamespace(port=Port(id="ignored")))  # arbitrary objects are not walked
    assert seen.as_dict() == {"network": ["n1"], "port": ["p1"]}


def test_only_the_run_s_devices_and_their_bridges_uplinks_are_kept():
    def link(name, kind="", master=None):
        return SimpleNamespace(name=name, kind=kind, master=master, mtu=1450, mac="", operstate="UP", flags=(),
                               addresses=(), vxlan=None, peer=None)
    links = {n: link(n, k, m) for n, k, m in [
        (f"brq{NET[:11]}", "bridge", None), (f"tap{P1[:11]}", "tun", f"brq{NET[:11]}"),
        ("tapdeadbeef-00", "tun", f"brq{NET[:11]}"), ("vxlan-571", "vxlan", f"brq{NET[:11]}"),
        ("oslab-prov0", "veth", f"brq{PROV[:11]}"), ("eth0", "", None)]}
    kept = dataplane.relevant_devices(links, {P1[:11], NET[:11]}, {"vxlan-571"})
    assert sorted(kept) == sorted([f"brq{NET[:11]}", f"tap{P1[:11]}", "vxlan-571"])


def test_pictures_of_several_workers_merge_by_id_and_by_node(picture):
    other = {"networks": picture["networks"][:1], "servers": [], "ports": [], "routers": [], "floating_ips": [],
             "gone": {"port": 1}, "problems": ["node x: unreachable"],
             "nodes": [{"name": "vm", "devices": {"vxlan-9": {"kind": "vxlan"}}, "problems": []}]}
    merged = dataplane.merge([picture, other])
    assert [n["name"] for n in merged["networks"]] == ["provider", "oslab-2501011200abcd-workload-net"]
    assert merged["gone"] == {"port": 3} and merged["problems"] == ["node x: unreachable"]
    assert "vxlan-9" in merged["nodes"][0]["devices"] and "vxlan-571" in merged["nodes"][0]["devices"]


class FakeHost:
    """A node answering the commands NodeReader runs, from a table; anything else exits 1."""

    def __init__(self, outputs):
        self.outputs = outputs
        self.ran = []

    def run(self, command):
        self.ran.append(command)
        out = self.outputs.get(command)
        return SimpleNamespace(rc=0 if out is not None else 1, stdout=out or "", stderr="" if out else "no such")


def test_a_node_view_reads_devices_namespaces_and_dhcp_files_through_the_facts_parsers(picture):
    view = {k: picture[k] for k in ("networks", "routers", "servers", "ports")}
    base = f"/var/lib/neutron/dhcp/{NET}"
    host = FakeHost({
        "ip -j -d addr show": '[{"ifindex": 5, "ifname": "tap60ad2c85-f3", "mtu": 1450, "flags": ["UP"], '
                              '"operstate": "UNKNOWN", "address": "fe:16:3e:00:00:01", "master": "brq8cc956e4-a1", '
                              '"linkinfo": {"info_kind": "tun"}, "addr_info": []}]',
        "ip -j netns": f'[{{"name":"qdhcp-{NET}","id":0}},{{"name":"qrouter-other","id":1}}]\n',
        f"ip -n qdhcp-{NET} -j -d addr show": '[{"ifindex": 1, "ifname": "lo", "mtu": 65536, "flags": [], '
                                              '"addr_info": []}]',
        f"cat {base}/host": "fa:16:3e:00:00:01,host-10-10-0-11.openstacklocal,10.10.0.11\n",
        f"cat {base}/leases": "1795550004 fa:16:3e:00:00:01 10.10.0.11 host-10-10-0-11 *\n",
    })
    node = dataplane.node_view(dataplane.NodeReader("vm", host), view, "linuxbridge", "noop")
    assert node["devices"]["tap60ad2c85-f3"]["master"] == "brq8cc956e4-a1"
    assert list(node["namespaces"]) == [f"qdhcp-{NET}"] and node["namespaces"][f"qdhcp-{NET}"] == {}
    assert node["dhcp"][NET]["host"] == [["fa:16:3e:00:00:01", "host-10-10-0-11.openstacklocal", "10.10.0.11"]]
    assert node["dhcp"][NET]["leases"] == [["fa:16:3e:00:00:01", "10.10.0.11"]]
    assert "addn_hosts" not in node["dhcp"][NET]  # a missing file is no problem, just absent
    assert any(p.startswith("`virsh dumpxml instance-00000001`") for p in node["problems"])
    assert not any(c.startswith("iptables-save") for c in host.ran)  # the noop firewall has no chains
