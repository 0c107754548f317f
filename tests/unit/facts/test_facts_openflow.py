"""``ovs-ofctl dump-flows br-int`` of the lab's native OVS firewall (tests/data/captured/lab-ovs)."""
import pytest

from pytest_oslab.facts import openflow
from pytest_oslab.facts._parse import ParseError

FLOWS = "captured/lab-ovs/ovs-ofctl-dump-flows-br-int.txt"


def test_every_flow_line_is_read_with_its_table_priority_match_and_actions(data):
    text = data(FLOWS)
    flows = openflow.parse_dump_flows(text)
    assert len(flows) == sum(1 for line in text.splitlines() if " actions=" in line) > 80
    ssh = [f for f in flows if f.table == 82 and f.has(reg5="0x13", tp_dst="22", ct_state="+new-est")]
    assert len(ssh) == 1 and ssh[0].protocols == ("tcp",) and ssh[0].priority == 77
    assert ssh[0].actions == "ct(commit,zone=NXM_NX_REG6[0..15]),output:19,resubmit(,92)"
    (mark,) = [f for f in flows if f.table == 60 and f.has(in_port="19")]
    assert mark.actions == "load:0x13->NXM_NX_REG5[],load:0x2->NXM_NX_REG6[],resubmit(,71)"
    (drop,) = [f for f in flows if f.table == 93]
    assert (drop.priority, drop.match, drop.actions) == (0, {}, "drop")
    assert any(f.n_packets > 0 for f in flows)


def test_a_flow_prints_back_as_its_table_match_and_actions(data):
    flow = next(f for f in openflow.parse_dump_flows(data(FLOWS)) if f.table == 71 and "arp" in f.protocols
                and f.has(reg5="0x13"))
    assert str(flow) == ("table=71, priority=95,arp,reg5=0x13,in_port=19,dl_src=fa:16:3e:32:ae:3c,"
                         "arp_spa=10.10.0.39 actions=resubmit(,94)")


def test_a_line_without_actions_is_refused():
    with pytest.raises(ParseError):
        openflow._flow(" cookie=0x1, table=3, priority=1,ip")
