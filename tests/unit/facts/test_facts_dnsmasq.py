import ipaddress

import pytest

from pytest_oslab.facts import dnsmasq

NET_003 = "/var/lib/neutron/dhcp/85f372ef-f39a-42bb-a06b-9f9ed8e4e58e/"


def test_neutron_hostname():
    assert dnsmasq.neutron_hostname("172.17.0.153") == "host-172-17-0-153"
    assert dnsmasq.neutron_hostname("fd00::5") == "host-fd00--5"
    with pytest.raises(ValueError):
        dnsmasq.neutron_hostname("not-an-ip")


def test_seed_000_host_file_i2(data):
    (entry,) = dnsmasq.parse_hosts(data("seeds/000-dhcp-host"))
    assert (entry.mac, entry.ip, entry.hostname) == ("fa:16:3e:e9:6a:38", "172.17.0.153", "host-172-17-0-153.openstacklocal")
    assert (entry.name, entry.domain, entry.tags) == ("host-172-17-0-153", "openstacklocal", ())
    assert entry.name == dnsmasq.neutron_hostname(entry.ip)


def test_seed_001_and_captured_host_files(data):
    (seed,) = dnsmasq.parse_hosts(data("seeds/001-dhcp-host"))
    assert (seed.mac, seed.ip) == ("fa:16:3e:be:71:21", "192.168.101.88")
    captured = dnsmasq.parse_hosts(data("captured/linuxbridge/dhcp-host"))
    assert seed in captured and len(captured) == 4


def test_host_line_with_tag_and_ipv6():
    (entry,) = dnsmasq.parse_hosts("fa:16:3e:00:00:01,host-fd00--5.openstacklocal,[fd00::5],set:port-abc\n")
    assert (entry.ip, entry.tags) == ("fd00::5", ("set:port-abc",))


def test_seed_addn_hosts_i3(data):
    (entry,) = dnsmasq.parse_addn_hosts(data("seeds/000-dhcp-addn_hosts"))
    assert entry.ip == "172.17.0.153"
    assert entry.names == ("host-172-17-0-153.openstacklocal", "host-172-17-0-153") and entry.fqdn == entry.names[0]
    captured = dnsmasq.parse_addn_hosts(data("captured/linuxbridge/dhcp-addn_hosts"))   # tab-separated
    assert [e.ip for e in captured] == ["192.168.101.2", "192.168.101.1", "192.168.101.77", "192.168.101.88"]


def test_seed_leases_i4(data):
    (lease,) = dnsmasq.parse_leases(data("seeds/001-dhcp-leases"))
    assert (lease.expires, lease.mac, lease.ip) == (1715598764, "fa:16:3e:be:71:21", "192.168.101.88")
    assert (lease.hostname, lease.client_id) == ("host-192-168-101-88", "01:fa:16:3e:be:71:21")
    (given,) = dnsmasq.parse_leases(data("captured/linuxbridge/dhcp-leases"))   # written by dnsmasq itself
    assert (given.mac, given.ip) == ("fa:16:3e:3c:5d:7e", "192.168.101.77")


def test_lease_star_fields_and_duid_line():
    leases = dnsmasq.parse_leases("duid 00:01:00:01\n1700000000 fa:16:3e:00:00:02 10.0.0.9 * *\n")
    assert (leases[0].hostname, leases[0].client_id) == (None, None)


def test_opts_file(data):
    opts = dnsmasq.parse_opts(data("captured/linuxbridge/dhcp-opts"))
    by_name = {o.option: o for o in opts}
    assert by_name["router"].values == ("192.168.101.1",)
    assert by_name["router"].tags == ("tag:subnet-e2b6a1d4-5c3f-4e7a-9b8d-0c1f2e3d4a5b",)
    assert by_name["classless-static-route"].values == by_name["249"].values
    assert by_name["classless-static-route"].values[:2] == ("169.254.169.254/32", "192.168.101.2")


def test_mtu_options_of_an_opts_file(data):
    text = data("captured/linuxbridge/dhcp-opts")
    assert dnsmasq.mtu_options(dnsmasq.parse_opts(text)) == []  # neutron gives the MTU on the command line
    tag = dnsmasq.parse_opts(text)[0].tags[0]
    edited = text + f"{tag},option:mtu,1400\n{tag},26,9000\n"
    assert dnsmasq.mtu_options(dnsmasq.parse_opts(edited)) == [(f"{tag},option:mtu,1400", 1400),
                                                              (f"{tag},26,9000", 9000)]


def test_interface_file_n11(data):
    assert dnsmasq.parse_interface_file(data("seeds/003-dhcp-interface")) == "tap43bf8dcc-08"
    assert dnsmasq.parse_interface_file(data("captured/linuxbridge/dhcp-interface")) == "ns-5c2e9f1a-3b"


def test_seed_003_command_line_n10(data):
    cmd = dnsmasq.parse_cmdline(data("seeds/003-dnsmasq-ps.txt"))
    assert cmd.argv[0] == "dnsmasq"
    for option, name in [("dhcp-hostsfile", "host"), ("addn-hosts", "addn_hosts"), ("dhcp-optsfile", "opts"),
                         ("dhcp-leasefile", "leases")]:
        assert cmd.get(option) == NET_003 + name
    (dhcp_range,) = cmd.dhcp_ranges
    assert dhcp_range == dnsmasq.DhcpRange("subnet-ef7c7472-0b1d-497f-bc86-889a5c6ae52c", "172.16.0.0", "static",
                                           "255.240.0.0", "86400s")
    assert dhcp_range.network == ipaddress.ip_network("172.16.0.0/12")
    assert (cmd.mtu, cmd.get("--domain")) == (1500, "openstacklocal")
    assert cmd.has("bind-dynamic") and cmd.get("bind-dynamic") == "" and not cmd.has("interface")
    assert cmd.all("dhcp-match") == ["set:ipxe,175"]


def test_seed_002_ps_ef_command_line(data):
    line = data("seeds/002-ps-ef-dnsmasq.txt").splitlines()[0]
    cmd = dnsmasq.parse_cmdline(line)
    assert (cmd.get("interface"), cmd.mtu, cmd.get("conf-file")) == ("ns-8e7ff5b5-3f", 1500, "")
    assert cmd.dhcp_ranges[0].tag == "tag0" and str(cmd.dhcp_ranges[0].network) == "192.168.31.64/27"


def test_captured_proc_cmdline(data):
    cmd = dnsmasq.parse_cmdline(data("captured/linuxbridge/dnsmasq-cmdline.bin", binary=True))
    assert cmd.mtu == 1450 and cmd.get("dhcp-lease-max") == "256"
    assert cmd.mtu_options == [("--dhcp-option-force=option:mtu,1450", 1450)]
    assert cmd.get("pid-file") == "/var/lib/neutron/dhcp/c08e7dcd-4acb-4cd0-ad08-ebd3b48467ee/pid"
    assert str(cmd.dhcp_ranges[0].network) == "192.168.101.0/24"


def test_option_given_twice_is_an_error_for_get():
    cmd = dnsmasq.parse_cmdline("dnsmasq --dhcp-range=set:a,10.0.0.0,static,255.255.255.0,1d "
                                "--dhcp-range=set:b,10.0.1.0,static,255.255.255.0,1d")
    assert [r.tag for r in cmd.dhcp_ranges] == ["a", "b"]
    with pytest.raises(ValueError, match="given 2 times"):
        cmd.get("dhcp-range")
