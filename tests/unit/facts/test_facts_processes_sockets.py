from pytest_oslab.facts import dnsmasq, processes, sockets


# -------------------------------------------------------------------------------------------- processes

def test_seed_002_ps_ef(data):
    procs = processes.parse_ps(data("seeds/002-ps-ef-dnsmasq.txt"))
    assert [(p.pid, p.user, p.program) for p in procs] == [(26446, "nobody", "dnsmasq"), (27395, "vagrant", "grep")]
    (found,) = processes.find(procs, "dnsmasq", "/var/lib/neutron/dhcp/59fe11c2-2131-4a9b-b708-e855c3c6ac25/")
    assert dnsmasq.parse_cmdline(found.args).get("interface") == "ns-8e7ff5b5-3f"


def test_captured_ps_eo_pid_args(data):
    procs = processes.parse_ps(data("captured/linuxbridge/ps-eo-pid-args.txt"))
    assert [p.program for p in procs] == ["dnsmasq", "haproxy"]
    assert processes.find(procs, "haproxy")[0].argv[1:] == (
        "-f", "/var/lib/neutron/ns-metadata-proxy/c08e7dcd-4acb-4cd0-ad08-ebd3b48467ee.conf")
    assert processes.find(procs, "dnsmasq", "no-such-network") == []


def test_proc_cmdline(data):
    argv = processes.parse_proc_cmdline(data("captured/linuxbridge/dnsmasq-cmdline.bin", binary=True))
    assert argv[0] == "dnsmasq" and argv[-1] == "--domain=openstacklocal" and len(argv) == 17



# ---------------------------------------------------------------------------------------------- sockets

def test_seed_003_dhcp_namespace_listeners_n9(data):
    socks = sockets.parse_ss(data("seeds/003-qdhcp-ss-ano4.txt"))
    assert len(socks) == 8
    assert sockets.listening(socks, "udp", 67)[0].address == "0.0.0.0"
    assert sockets.listening(socks, "udp", 53, "172.17.0.0") and sockets.listening(socks, "tcp", 53, "172.17.0.0")
    (metadata,) = sockets.listening(socks, "tcp", 80, "169.254.169.254")
    assert (metadata.state, metadata.processes) == ("LISTEN", ())
    assert sockets.listening(socks, "tcp", 80, "10.0.0.1") == []


def test_captured_listeners_with_processes(data):
    socks = sockets.parse_ss(data("captured/linuxbridge/qdhcp-ss.txt"))
    (metadata,) = sockets.listening(socks, "tcp", 80, "169.254.169.254")
    assert metadata.process_names == ("haproxy",) and metadata.processes[0].fd == 4
    v6 = [s for s in socks if s.address == "::1"]
    assert {(s.netid, s.port) for s in v6} == {("udp", 53), ("tcp", 53)}
    assert {s.process_names for s in sockets.listening(socks, "udp", 53)} == {("dnsmasq",)}


def test_captured_header_form_and_host(data):
    with_header = sockets.parse_ss(data("captured/linuxbridge/qdhcp-ss-ano4.txt"))
    assert len(with_header) == 8 and with_header[0].peer == "0.0.0.0:*"
    (vxlan,) = sockets.parse_ss(data("captured/linuxbridge/lb-ss.txt"))
    assert (vxlan.netid, vxlan.port) == ("udp", 8472)


def test_device_bound_and_wildcard_endpoints():
    (sock,) = sockets.parse_ss("udp UNCONN 0 0 0.0.0.0%ns-8e7ff5b5-3f:67 0.0.0.0:*")
    assert (sock.address, sock.interface, sock.port) == ("0.0.0.0", "ns-8e7ff5b5-3f", 67)
    (star,) = sockets.parse_ss("tcp LISTEN 0 128 *:22 *:*")
    assert (star.address, star.port) == ("*", 22) and sockets.listening([star], "tcp", 22, "10.0.0.1")
