import ipaddress

import pytest

from pytest_oslab.facts import iptables

PORT = "7a8c0a54-7585-4d0e-9a43-1f2b3c4d5e6f"     # seed 001's tap7a8c0a54-75
CHAINS = iptables.port_chain_names(PORT)


@pytest.fixture
def saved(data):
    return iptables.parse_iptables_save(data("captured/linuxbridge/lb-iptables-save.txt"))


def test_chain_names_follow_neutron():
    assert CHAINS == {"in": "neutron-linuxbri-i7a8c0a54-7", "out": "neutron-linuxbri-o7a8c0a54-7",
                      "spoof": "neutron-linuxbri-s7a8c0a54-7"}
    assert iptables.port_chain_names(PORT, "neutron-openvswi-")["in"] == "neutron-openvswi-i7a8c0a54-7"


def test_tables_policies_and_chains(saved):
    assert set(saved.tables) == {"filter", "raw"}
    assert saved.chain("filter", "FORWARD").policy == "ACCEPT"
    assert saved.chain("filter", CHAINS["in"]).policy is None
    assert saved.has_chain("filter", "neutron-linuxbri-sg-fallback")
    assert not saved.has_chain("nat", "POSTROUTING")
    assert len(saved.chains_starting("neutron-linuxbri-i")) == 2


def test_ingress_chain_s1(saved):
    rules = saved.chain("filter", CHAINS["in"]).rules
    assert [r.target for r in rules] == ["RETURN"] * 5 + ["DROP", "neutron-linuxbri-sg-fallback"]
    assert rules[0].ctstate == {"RELATED", "ESTABLISHED"}
    assert rules[0].comment == "Direct packets associated with a known session to the RETURN chain."
    dhcp = rules[1]
    assert (dhcp.protocol, dhcp.destination, dhcp.sport, dhcp.dport) == ("udp", "192.168.101.88/32", "67", "68")
    assert dhcp.destination_network == ipaddress.ip_network("192.168.101.88/32")
    assert rules[2].destination == "255.255.255.255/32"
    assert rules[3].protocol == "icmp" and rules[3].matches == ()
    assert (rules[4].protocol, rules[4].dport, rules[4].match("tcp").options) == ("tcp", "22", {"dport": "22"})
    assert rules[5].ctstate == {"INVALID"}


def test_egress_chain_s2(saved):
    rules = saved.chain("filter", CHAINS["out"]).rules
    assert rules[0].source == "0.0.0.0/32" and rules[0].sport == "68" and rules[0].dport == "67"
    assert rules[1].target == CHAINS["spoof"]
    assert (rules[3].target, rules[3].sport, rules[3].comment) == ("DROP", "67", "Prevent DHCP Spoofing by VM.")
    assert rules[-1].target == "neutron-linuxbri-sg-fallback"


def test_spoofing_chain_s3(saved):
    allow, drop = saved.chain("filter", CHAINS["spoof"]).rules
    assert (allow.source, allow.mac_source, allow.target) == ("192.168.101.88/32", "fa:16:3e:be:71:21", "RETURN")
    assert drop.target == "DROP" and drop.source is None


def test_sg_chain_jumps_by_physdev_s4(saved):
    jumps = saved.jumps_to(CHAINS["in"])
    assert [(r.chain, r.physdev_out, r.physdev_is_bridged) for r in jumps] == \
        [("neutron-linuxbri-sg-chain", "tap7a8c0a54-75", True)]
    outs = saved.jumps_to(CHAINS["out"])
    assert {(r.chain, r.physdev_in) for r in outs} == {("neutron-linuxbri-sg-chain", "tap7a8c0a54-75"),
                                                       ("neutron-linuxbri-INPUT", "tap7a8c0a54-75")}
    assert [r.chain for r in saved.jumps_to("neutron-linuxbri-sg-chain")] == ["neutron-linuxbri-FORWARD"] * 4
    assert [r.target for r in saved.chain("filter", "neutron-linuxbri-sg-fallback").rules] == ["DROP"]


def test_set_match_and_raw_table(saved):
    rule = saved.chain("filter", "neutron-linuxbri-id3a1e2f4-a").rules[3]
    assert rule.match_set == ("NIPv47a3d9999-6c97-42da-a755-f7", "src") and rule.target == "RETURN"
    zone = saved.chain("raw", "neutron-linuxbri-PREROUTING").rules
    assert [r.target_options for r in zone] == [("--zone", "4097")] * 3
    assert zone[1].in_interface == "brqc08e7dcd-4a" and zone[0].physdev_in == "brqc08e7dcd-4a"


def test_raw_line_is_kept(saved):
    rule = saved.chain("filter", CHAINS["spoof"]).rules[0]
    assert rule.raw == ('-A neutron-linuxbri-s7a8c0a54-7 -s 192.168.101.88/32 -m mac --mac-source '
                        'fa:16:3e:be:71:21 -m comment --comment "Allow traffic from defined IP/MAC pairs." -j RETURN')


def test_dash_S_matches_save(saved, data):
    listed = iptables.parse_iptables_S(data("captured/linuxbridge/lb-iptables-S.txt"))
    filter_save = saved.table("filter").chains
    assert listed.table("filter").chains.keys() == filter_save.keys()
    for name, chain in filter_save.items():
        assert [r.raw for r in listed.chain("filter", name).rules] == [r.raw for r in chain.rules]
        assert listed.chain("filter", name).policy == chain.policy


def _shape(chain):
    return [(r.target, r.protocol, r.sport, r.dport, sorted(r.ctstate), r.physdev_in, r.physdev_out,
             r.mac_source, r.comment, r.source_network, r.destination_network) for r in chain.rules]


@pytest.mark.parametrize("name", ["neutron-linuxbri-i7a8c0a54-7", "neutron-linuxbri-o7a8c0a54-7",
                                  "neutron-linuxbri-s7a8c0a54-7", "neutron-linuxbri-sg-fallback"])
def test_seed_001_dash_L_shows_the_chains_the_replica_saves(saved, data, name):
    seed = iptables.parse_iptables_L(data("seeds/001-iptables-L.txt"))
    assert _shape(seed.chain("filter", name)) == _shape(saved.chain("filter", name))


def test_seed_001_dash_L_structure(data):
    seed = iptables.parse_iptables_L(data("seeds/001-iptables-L.txt"))
    assert seed.chain("filter", "INPUT").policy == "ACCEPT"
    assert seed.chain("filter", "neutron-linuxbri-OUTPUT").rules == []
    assert [r.physdev_out or r.physdev_in for r in seed.jumps_to("neutron-linuxbri-sg-chain")] == ["tap7a8c0a54-75"] * 2
    assert seed.chain("filter", "neutron-linuxbri-sg-chain").targets[-1] == "ACCEPT"


def test_captured_dash_L_reads_match_set_and_default(data):
    listed = iptables.parse_iptables_L(data("captured/linuxbridge/lb-iptables-L.txt"))
    assert listed.chain("filter", "neutron-linuxbri-id3a1e2f4-a").rules[3].match_set[1] == "src"
    assert listed.chain("filter", "neutron-linuxbri-o7a8c0a54-7").rules[0].source == "0.0.0.0"


def test_counters_negation_and_goto():
    rule = iptables.parse_rule('[5:300] -A X ! -s 10.0.0.0/8 -p tcp -m tcp ! --dport 22 -g Y')
    assert rule.counters == (5, 300) and rule.source == "!10.0.0.0/8" and rule.source_network is None
    assert rule.goto and rule.target == "Y" and rule.option("!dport") == "22"
    conntrack = iptables.parse_rule("-A X -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT")
    assert conntrack.ctstate == {"NEW", "ESTABLISHED"}


def test_lookup_errors_name_what_is_present(saved):
    with pytest.raises(KeyError, match="no chain 'nope' in table 'filter'"):
        saved.chain("filter", "nope")
    with pytest.raises(KeyError, match="no table 'nat'"):
        saved.chain("nat", "PREROUTING")



def test_captured_host_without_rules(data):
    assert iptables.parse_iptables_save(data("captured/host/iptables-save.txt")).tables == {}
