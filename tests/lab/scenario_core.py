"""The plugin core on a real cloud; run by test_core_on_lab.py in its own pytest session with --cloud lab."""
import json
import os
import time


def test_capabilities_of_the_lab(capabilities):
    assert "linuxbridge" in capabilities.mechanism_drivers
    assert {"flat", "vxlan"} <= capabilities.type_drivers
    assert capabilities.firewall_driver == "iptables"
    assert capabilities.dhcp_hosts and capabilities.l3_hosts and capabilities.compute_hosts


def test_a_server_on_each_network(cloud, make_server, selfservice_network, selfservice_subnet, router,
                                  provider_network, keypair, security_group, node, dhcp_nodes, guest):
    start = time.monotonic()
    servers = make_server([{"network": selfservice_network, "name": "selfservice"},
                           {"network": provider_network, "name": "provider"}])
    timings = {"create -> both ACTIVE": round(time.monotonic() - start, 1)}
    created = {"server": [s.id for s in servers], "network": [selfservice_network.id],
               "subnet": [selfservice_subnet.id], "router": [router.id], "security group": [security_group.id],
               "keypair": [keypair.name]}
    record("created", created)
    assert router.external_gateway_info["network_id"] == provider_network.id
    for server, network in zip(servers, (selfservice_network, provider_network)):
        assert server.status == "ACTIVE"
        port = next(iter(cloud.network.ports(device_id=server.id)))
        ip = port.fixed_ips[0]["ip_address"]
        compute = node(server)
        assert compute.interface(f"tap{port.id[:11]}").exists, f"tap{port.id[:11]} on the compute node"
        for host in dhcp_nodes(network):
            assert f"qdhcp-{network.id}" in host.check_output("ip netns")
        session = guest(server)
        timings[f"create -> SSH-ready ({network.name})"] = round(time.monotonic() - start, 1)
        assert session.route.namespace == f"qdhcp-{network.id}"
        addr = session.run("ip addr")
        assert addr.rc == 0, addr.stderr
        assert port.mac_address in addr.stdout and f"inet {ip}/" in addr.stdout, addr.stdout
        assert f"mtu {network.mtu}" in addr.stdout
    assert node(servers[0]) is node(servers[1])  # one connection per node for the run
    assert guest(servers[0]) is guest(servers[0])  # one session per guest for the run
    record("timings", timings)


def record(kind, value):
    """Tell the outer test what this run made (a JSON line in $OSLAB_SCENARIO_OUT)."""
    with open(os.environ["OSLAB_SCENARIO_OUT"], "a") as f:
        f.write(json.dumps([kind, value]) + "\n")
