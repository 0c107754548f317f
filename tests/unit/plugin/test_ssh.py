"""Nodes and guests over real SSH (paramiko test servers on 127.0.0.1): bounded commands, sudo refused, dropped
sessions, silent servers, missing keys, bastions, host-key policies."""
import socket
import subprocess
import types

import paramiko
import pytest

from pytest_oslab.access import guests
from pytest_oslab.access.deployment import DeploymentConfig
from pytest_oslab.access.backends import BoundedLocal
from pytest_oslab.access.inventory import Inventory, Node
from pytest_oslab.access.nodes import NodeError, NodePool
from pytest_oslab.access.ssh import CommandTimeout
from pytest_oslab.session import OslabSession, Settings

from sshd import TestSSHServer


@pytest.fixture(scope="module")
def client_key():
    return paramiko.RSAKey.generate(2048)


@pytest.fixture
def key_file(client_key, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # known_hosts and ssh_config of the test, not the machine's
    path = tmp_path / "id_rsa"
    client_key.write_private_key_file(str(path))
    return str(path)


@pytest.fixture
def server(client_key):
    made = []

    def make(**behaviour):
        made.append(TestSSHServer(client_key, **behaviour))
        return made[-1]
    yield make
    for s in made:
        s.close()


def _pool(nodes, key=None, **kwargs):
    """A pool over ``nodes``; ``key``: the default key (--oslab-node-key), which bastions use as OpenSSH would.
    The deployment is packages on the host: the fake sshd runs commands on this machine, whose own containers
    (the lab's, with ``--containers``) would otherwise be detected."""
    kwargs.setdefault("host_key_policy", "accept-new")
    kwargs.setdefault("deployments", DeploymentConfig.parse("host"))
    return NodePool(Inventory(nodes, default_key=key), timeout=kwargs.pop("timeout", 5), **kwargs)


def test_a_hanging_node_command_fails_naming_node_command_and_bound_and_the_next_one_runs(server, key_file):
    sshd = server(hang="ovn-nbctl")
    node = Node("cmp1", f"ssh://stack@127.0.0.1:{sshd.port}", key=key_file, sudo=False)
    host = _pool([node], command_timeout=1).host(node)
    with pytest.raises(CommandTimeout) as stuck:
        host.run("ovn-nbctl --format=json list ACL")
    assert str(stuck.value) == ("node cmp1: `ovn-nbctl --format=json list ACL` did not finish within 1s "
                                "(--oslab-command-timeout); stopped it")
    assert host.run("echo still here").stdout == "still here\n"


def test_a_hanging_local_command_is_killed_at_its_bound():
    backend = BoundedLocal("here", 1)
    with pytest.raises(CommandTimeout, match=r"^node here: `sleep 60; echo late` did not finish within 1s"):
        backend.run("sleep 60; echo late")
    left = subprocess.run(["pgrep", "-f", "sleep 60; echo late"], capture_output=True, text=True).stdout
    assert left == ""
    assert backend.run("echo %s", "ok").stdout == "ok\n"


def test_sudo_refused_by_an_ssh_node_is_one_line(server, key_file):
    sshd = server(refuse_sudo=True)
    node = Node("cmp2", f"ssh://stack@127.0.0.1:{sshd.port}", key=key_file)
    with pytest.raises(NodeError) as refused:
        _pool([node]).host(node)
    assert str(refused.value) == (f"node cmp2 (ssh://stack@127.0.0.1:{sshd.port}): sudo refused: sudo: a password "
                                  f"is required (root commands need passwordless sudo)")
    assert sshd.commands == ["true", "sudo -n /bin/sh -c true"]


def test_a_dropped_session_is_noticed_and_reconnected_once_saying_so(server, key_file):
    sshd = server(drop_after=1)
    said = []
    node = Node("cmp3", f"ssh://stack@127.0.0.1:{sshd.port}", key=key_file, sudo=False)
    host = _pool([node], progress=said.append).host(node)
    assert host.run("echo after the drop").stdout == "after the drop\n"
    assert sshd.connections == 2
    assert len(said) == 1 and said[0].startswith("node cmp3: the SSH session was gone (")
    assert said[0].endswith("); reconnected once")


def test_a_missing_key_file_is_named(key_file, tmp_path):
    node = Node("cmp4", "ssh://stack@127.0.0.1:9", key=str(tmp_path / "no-such-key"))
    with pytest.raises(NodeError, match=rf"^node cmp4 \(ssh://stack@127.0.0.1:9, from config\): key file "
                                        rf"{tmp_path}/no-such-key does not exist$"):
        _pool([node]).host(node)


def test_a_silent_node_says_it_timed_out_after_n_seconds(server, key_file):
    sshd = server(silent=True)
    node = Node("cmp5", f"ssh://stack@127.0.0.1:{sshd.port}", key=key_file)
    with pytest.raises(NodeError) as silent:
        _pool([node], timeout=2).host(node)
    assert str(silent.value).endswith("timed out after 2s: the SSH server did not answer (--oslab-ssh-timeout)")
    assert "No existing session" not in str(silent.value)


def test_nodes_behind_a_bastion_share_its_one_connection(server, key_file):
    bastion, target = server(), server()
    hop = f"stack@127.0.0.1:{bastion.port}"
    nodes = [Node(f"cmp{i}", f"ssh://stack@127.0.0.1:{target.port}", key=key_file, sudo=False, jump=[hop])
             for i in (6, 7)]
    pool = _pool(nodes, key=key_file)
    assert [pool.host(n).run("echo %s", n.name).stdout for n in nodes] == ["cmp6\n", "cmp7\n"]
    assert bastion.connections == 1 and target.connections == 2
    assert bastion.forward_to == [("127.0.0.1", target.port)] * 2
    assert bastion.commands == []  # a bastion only forwards


def test_ssh_config_proxyjump_is_read_as_openssh_reads_it(server, key_file, tmp_path):
    bastion, target = server(), server()
    config = tmp_path / "ssh_config"
    config.write_text(f"Host cmp8\n  HostName 127.0.0.1\n  Port {target.port}\n  ProxyJump jump\n\n"
                      f"Host jump\n  HostName 127.0.0.1\n  Port {bastion.port}\n\n"
                      f"Host *\n  User stack\n  IdentityFile {key_file}\n")
    node = Node("cmp8", "ssh://cmp8", sudo=False)
    pool = _pool([node], ssh_config=str(config))
    assert pool.host(node).run("echo through").stdout == "through\n"
    assert bastion.forward_to == [("127.0.0.1", target.port)]


def test_a_cloud_wide_bastion_applies_to_nodes_that_name_none(server, key_file):
    bastion, target = server(), server()
    node = Node("cmp9", f"ssh://stack@127.0.0.1:{target.port}", key=key_file, sudo=False)
    pool = _pool([node], key=key_file, bastion=f"stack@127.0.0.1:{bastion.port}")
    assert pool.host(node).run("true").rc == 0
    assert bastion.forward_to == [("127.0.0.1", target.port)]


def test_host_key_policies(server, key_file, tmp_path):
    sshd = server()
    node = Node("cmp10", f"ssh://stack@127.0.0.1:{sshd.port}", key=key_file, sudo=False)
    with pytest.raises(NodeError, match=r"host key of 127.0.0.1 is not in known_hosts and --oslab-host-key-policy "
                                        r"is strict"):
        _pool([node], host_key_policy="strict").host(node)
    assert _pool([node], host_key_policy="ignore").host(node).run("true").rc == 0
    assert not (tmp_path / ".ssh" / "known_hosts").exists()
    _pool([node], host_key_policy="accept-new").host(node)
    assert (tmp_path / ".ssh" / "known_hosts").read_text() == sshd.known_hosts_line()
    assert _pool([node], host_key_policy="strict").host(node).run("true").rc == 0  # now known

    sshd.host_key = paramiko.RSAKey.generate(1024)  # the node was reinstalled, or someone is in between
    with pytest.raises(NodeError, match=r"host key of 127.0.0.1 changed \(got ssh-rsa [0-9a-f]+\); if that is "
                                        r"expected, remove its line from known_hosts"):
        _pool([node], host_key_policy="accept-new").host(node)


def test_a_hanging_guest_command_fails_naming_guest_command_and_bound(server, client_key, key_file):
    sshd = server(user="cirros", hang="ip -j addr")
    vm = types.SimpleNamespace(name="vm1", id="1234")
    guest = guests.connect(vm, "cirros", client_key, guests.Route("127.0.0.1"), timeout=5,
                           open_sock=lambda: socket.create_connection(("127.0.0.1", sshd.port)),
                           command_timeout=1)
    with pytest.raises(CommandTimeout, match=r"^guest vm1: `ip -j addr` did not finish within 1s "
                                             r"\(--oslab-command-timeout\); stopped it$"):
        guest.run("ip -j addr")
    assert guest.run("echo up").stdout == "up\n"
    guest.close()


def test_a_guest_session_that_dies_mid_run_is_reopened_once_saying_so_in_the_evidence(server, client_key):
    sshd = server(user="cirros", drop_after=1)
    noted = []
    vm = types.SimpleNamespace(name="vm3", id="9abc")
    guest = guests.connect(vm, "cirros", client_key, guests.Route("127.0.0.1"), timeout=5,
                           open_sock=lambda: socket.create_connection(("127.0.0.1", sshd.port)),
                           note=lambda title, text: noted.append((title, text)))
    assert guest.run("echo before").stdout == "before\n"
    assert guest.run("echo after the drop").stdout == "after the drop\n"  # the server closed the session first
    assert sshd.connections == 2
    assert len(noted) == 1 and noted[0][0] == "guest vm3: SSH session reopened"
    assert noted[0][1].startswith("the session was gone (") and "); reopened once after " in noted[0][1]
    assert noted[0][1].endswith("s (cirros@127.0.0.1 directly)")
    assert guest.run("echo still").stdout == "still\n" and sshd.connections == 2
    guest.close()


def test_a_guest_session_that_dies_after_its_server_moved_is_reopened_by_the_route_decided_again(server, client_key):
    old_host, new_host = server(user="cirros", drop_after=1), server(user="cirros")  # the namespace left with the VM
    noted, decided = [], []
    vm = types.SimpleNamespace(name="vm5", id="f00d")

    def reroute():
        decided.append(1)
        return (guests.Route("10.0.0.5", "ovnmeta-net1", "compute1"),
                lambda: socket.create_connection(("127.0.0.1", new_host.port)))
    guest = guests.connect(vm, "cirros", client_key, guests.Route("10.0.0.5", "ovnmeta-net1", "compute2"),
                           timeout=5, open_sock=lambda: socket.create_connection(("127.0.0.1", old_host.port)),
                           note=lambda title, text: noted.append((title, text)), reroute=reroute)
    assert guest.run("echo before").stdout == "before\n" and not decided  # the first session needs no second route
    assert guest.run("echo after the move").stdout == "after the move\n"
    assert (old_host.connections, new_host.connections, len(decided)) == (1, 1, 1)
    assert str(guest.route) == "10.0.0.5 via ovnmeta-net1 on compute1"
    assert [title for title, _ in noted] == ["guest vm5: SSH session reopened"]
    assert noted[0][1].endswith("s (cirros@10.0.0.5 via ovnmeta-net1 on compute1); "
                                "it was 10.0.0.5 via ovnmeta-net1 on compute2")
    guest.close()


def test_a_guest_whose_route_cannot_be_decided_again_says_so(server, client_key):
    sshd = server(user="cirros", drop_after=1)
    vm = types.SimpleNamespace(name="vm6", id="beef")

    def reroute():
        raise RuntimeError("no node holds ovnmeta-net1")
    guest = guests.connect(vm, "cirros", client_key, guests.Route("127.0.0.1"), timeout=5,
                           open_sock=lambda: socket.create_connection(("127.0.0.1", sshd.port)), reroute=reroute)
    assert guest.run("true").rc == 0
    with pytest.raises(guests.GuestError, match=r"^guest vm6 \(beef\): the SSH session died mid-run \(.+\) and "
                                                r"reopening it failed: guest vm6 \(beef\): deciding its route again "
                                                r"failed: RuntimeError: no node holds ovnmeta-net1$"):
        guest.run("true")


def test_a_guest_session_that_dies_and_cannot_be_reopened_says_both(server, client_key):
    sshd = server(user="cirros", drop_after=1)
    noted, relays = [], []

    def open_sock():  # the guest's route answers once: after the drop nothing listens there any more
        relays.append(1)
        if len(relays) > 1:
            raise ConnectionRefusedError(111, "Connection refused")
        return socket.create_connection(("127.0.0.1", sshd.port), 1)
    vm = types.SimpleNamespace(name="vm4", id="def0")
    guest = guests.connect(vm, "cirros", client_key, guests.Route("127.0.0.1"), timeout=5, pause=0.2,
                           open_sock=open_sock, note=lambda title, text: noted.append((title, text)),
                           reopen_timeout=1)
    assert guest.run("true").rc == 0
    with pytest.raises(guests.GuestError, match=r"^guest vm4 \(def0\): the SSH session died mid-run \(.+\) and "
                                                r"reopening it failed: guest vm4 \(def0\): no SSH as "
                                                r"cirros@127.0.0.1 directly within 1s .*Connection refused"):
        guest.run("true")
    assert [title for title, _ in noted] == ["guest vm4: SSH session died, not reopened"]


def test_the_openssh_client_reaches_a_node_through_its_bastion_bounded(server, key_file, tmp_path):
    bastion, target = server(), server(hang="virsh")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  IdentityFile {key_file}\n")  # OpenSSH's own: the jump reads it too
    node = Node("cmp11", f"ssh://stack@127.0.0.1:{target.port}", key=key_file, sudo=False,
                jump=[f"stack@127.0.0.1:{bastion.port}"])
    pool = _pool([node], client="openssh", host_key_policy="ignore", command_timeout=2, ssh_config=str(config))
    host = pool.host(node)
    assert host.backend.NAME == "ssh"
    assert host.run("echo %s", "over openssh").stdout == "over openssh\n"
    assert bastion.forward_to and bastion.forward_to[0] == ("127.0.0.1", target.port)
    with pytest.raises(CommandTimeout, match=r"^node cmp11: `virsh list` did not finish within 2s"):
        host.run("virsh list")
    pool.close()


def test_the_options_reach_the_run_and_a_wrong_choice_is_a_usage_error(pytester, clouds, closed_port_cloud):
    clouds({"c1": closed_port_cloud(oslab={"bastion": "admin@jump:2222"})})
    pytester.makeini("[pytest]\noslab_command_timeout = 7\noslab_host_key_policy = strict\n"
                     "oslab_guest_route = floating\n")
    pytester.makepyfile("""
        from pytest_oslab.stash import SESSION
        def test_settings(request):
            session = request.config.stash[SESSION]
            s = session.settings
            assert (s.command_timeout, s.host_key_policy, s.ssh_client) == (7, "strict", "openssh")
            assert s.guest_route == "floating"
            assert session.nodes.bastion == "admin@jump:2222" and session.nodes.command_timeout == 7
    """)
    pytester.runpytest("--cloud", "c1", "--oslab-ssh-client", "openssh").assert_outcomes(passed=1)
    result = pytester.runpytest("--cloud", "c1", "--oslab-host-key-policy", "yes")
    assert "oslab_host_key_policy: 'yes' is not one of accept-new, strict, ignore" in result.stderr.str()
    result = pytester.runpytest("--cloud", "c1", "--oslab-guest-route", "dhcp")
    assert "oslab_guest_route: 'dhcp' is not one of auto, namespace, floating" in result.stderr.str()


def test_root_commands_use_sudo_when_the_user_ssh_config_names_is_not_root(server, key_file, tmp_path):
    sshd = server(refuse_sudo=True)
    config = tmp_path / "ssh_config"
    config.write_text(f"Host cmp12\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User stack\n"
                      f"  IdentityFile {key_file}\n")
    node = Node("cmp12", "ssh://cmp12")  # no user of its own: ssh_config's, not this process's (root)
    with pytest.raises(NodeError, match=r"^node cmp12 \(ssh://stack@127.0.0.1:\d+\): sudo refused"):
        _pool([node], ssh_config=str(config)).host(node)
    assert sshd.commands[-1] == "sudo -n /bin/sh -c true"


def test_the_become_password_goes_to_sudo_on_stdin_never_on_the_command_line(server, key_file):
    password = "Become-pw-on-stdin-3141"
    sshd = server(sudo_password=password)
    node = Node("cmp14", f"ssh://stack@127.0.0.1:{sshd.port}", key=key_file, sudo_password=password)
    host = _pool([node]).host(node)
    assert host.run("echo %s", "as root").stdout == "as root\n"
    assert sshd.commands[-1] == "sudo -S -p '' /bin/sh -c 'echo '\"'\"'as root'\"'\"''"
    assert not any(password in c for c in sshd.commands)
    wrong = Node("cmp15", f"ssh://stack@127.0.0.1:{sshd.port}", key=key_file, sudo_password="not-it-2718")
    with pytest.raises(NodeError, match=r"sudo refused: sudo: 1 incorrect password attempt \(root commands need "
                                        r"the become password\)$"):
        _pool([wrong]).host(wrong)


def test_a_guest_by_floating_ip_is_reached_through_the_clouds_bastion(server, client_key, key_file):
    bastion, vm = server(), server(user="cirros")
    pool = _pool([], key=key_file, bastion=f"stack@127.0.0.1:{bastion.port}")
    guest = guests.connect(types.SimpleNamespace(name="vm2", id="5678"), "cirros", client_key,
                           guests.Route("198.51.100.77"), timeout=5,
                           open_sock=lambda: pool.open_direct("127.0.0.1", vm.port))
    assert guest.run("echo behind the bastion").stdout == "behind the bastion\n"
    assert bastion.forward_to == [("127.0.0.1", vm.port)]
    guest.close()
    pool.close()


def test_the_session_reaches_a_guest_at_a_floating_ip_beside_its_own_session(server, client_key, key_file, clouds,
                                                                             closed_port_cloud):
    """G3's way in (``guest(server, floating_ip=...)``): a session of its own at the address, through the cloud's
    bastion (here one that plays 198.51.100.77 by a local server and .78 by a closed port: no traffic leaves this
    machine), kept for the run apart from the server's own session; an address that never answers fails in the
    guest's one line, naming the floating IP."""
    vm = server(user="cirros")
    bastion = server(redirect={("198.51.100.77", 22): ("127.0.0.1", vm.port),
                               ("198.51.100.78", 22): ("127.0.0.1", 9)})
    clouds({"c1": closed_port_cloud(oslab={"bastion": f"stack@127.0.0.1:{bastion.port}"})})
    lines = []
    session = OslabSession(Settings(cloud="c1", node_key=key_file, ssh_timeout=3, host_key_policy="accept-new"),
                           progress=lines.append)
    server_b = types.SimpleNamespace(name="server_b", id="5aa817f3")
    guest = session.guest(server_b, "cirros", client_key, floating_ip="198.51.100.77")
    assert guest.run("echo at the floating IP").stdout == "at the floating IP\n"
    assert str(guest.route) == "198.51.100.77 (floating IP) directly"
    assert session.guest(server_b, "cirros", client_key, floating_ip="198.51.100.77") is guest
    assert bastion.forward_to == [("198.51.100.77", 22)] and vm.connections == 1
    assert lines[0].startswith("guest server_b: SSH answered after ") and "(198.51.100.77 (floating IP)" in lines[0]
    with pytest.raises(guests.GuestError, match=r"^guest server_b \(5aa817f3\): no SSH as cirros@198.51.100.78 "
                                                r"\(floating IP\) directly within 3s"):
        session.guest(server_b, "cirros", client_key, floating_ip="198.51.100.78")  # a closed port behind it
    session.close()
