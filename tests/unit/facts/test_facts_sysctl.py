import pytest

from pytest_oslab.facts import sysctl
from pytest_oslab.facts._parse import ParseError


def test_captured_bridge_netfilter_sysctls(data):
    assert sysctl.parse_sysctl(data("captured/lab-sysctl/sysctl-bridge-nf.txt")) == {
        "net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1"}


def test_no_such_keys_is_nothing():
    assert sysctl.parse_sysctl("") == {}


def test_a_line_that_is_no_sysctl_is_an_error():
    with pytest.raises(ParseError):
        sysctl.parse_sysctl("sysctl: cannot stat /proc/sys/net/bridge/bridge-nf-call-iptables")
