"""What moving servers between the lab's computes needs: nova's account open to key logins, libvirtd's TCP listener
and nova's settings, the files of ~nova/.ssh (that nova's ssh and scp really work is proven in tests/lab)."""
import pwd
from pathlib import Path

import pytest

from pytest_oslab.lab import compute_node, configs, migration, node as nodes, services
from pytest_oslab.lab.context import Lab

DATA = Path(__file__).parents[2] / "data" / "captured" / "lab-migration"


@pytest.fixture
def lab(tmp_path):
    return Lab(root=tmp_path / "lib", etc=tmp_path / "etc", logs=tmp_path / "log", hostname="vm")


def test_nova_as_debian_makes_it_is_locked_and_the_lab_user_is_not():
    nova = migration.shadow_password((DATA / "getent-shadow-nova-locked.txt").read_text())
    oslab = migration.shadow_password((DATA / "getent-shadow-oslab.txt").read_text())
    assert (nova, migration.locked(nova)) == ("!", True)
    assert (oslab, migration.locked(oslab)) == ("*", False)


def test_a_line_that_is_no_shadow_entry_is_refused():
    with pytest.raises(ValueError, match="not a shadow entry"):
        migration.shadow_password("getent: no such database\n")


def test_libvirtd_listens_on_tcp_at_the_node_address_and_keeps_the_machines_unix_socket_settings():
    base = (DATA / "etc-libvirt-libvirtd.conf").read_text()
    conf = migration.libvirtd_conf(base, "198.51.100.11")
    settings = {line.split("=", 1)[0].strip(): line.split("=", 1)[1].strip()
                for line in conf.splitlines() if "=" in line and not line.startswith("#")}
    assert settings == {"unix_sock_group": '"libvirt"', "unix_sock_ro_perms": '"0777"', "unix_sock_rw_perms": '"0770"',
                        "auth_unix_ro": '"none"', "auth_unix_rw": '"none"', "listen_tls": "0", "listen_tcp": "1",
                        "auth_tcp": '"none"', "listen_addr": '"198.51.100.11"'}
    again = migration.libvirtd_conf(conf, "198.51.100.12")  # made again, not added to
    assert again == migration.libvirtd_conf(base, "198.51.100.12")


def test_each_compute_says_its_own_address_for_live_migration(lab):
    assert migration.nova_settings(nodes.compute(1, lab).address)["libvirt"] == {
        "live_migration_scheme": "tcp", "live_migration_inbound_addr": "198.51.100.11"}
    nova_conf = configs.nova(lab)["/etc/nova/nova.conf"]  # the controller's
    assert nova_conf["DEFAULT"]["my_ip"] == "198.51.100.1"
    assert nova_conf["libvirt"] == {"virt_type": "qemu", "cpu_mode": "none", "live_migration_scheme": "tcp",
                                    "live_migration_inbound_addr": "198.51.100.1"}
    # the binding is activated once, by _post_live_migration, not also by the lifecycle event (neutron 21 gives 500)
    assert nova_conf["workarounds"] == {"disable_deep_image_inspection": True, "handle_virt_lifecycle_events": False}


def test_the_controllers_libvirtd_and_each_nodes_start_with_their_own_listening_config(lab):
    libvirtd, = [d for d in services.compute_and_agents(lab) if d.name == "libvirtd"]
    assert f"/usr/sbin/libvirtd --listen -f {lab.etc}/libvirtd.conf" in " ".join(libvirtd.argv)
    assert Path(f"{lab.etc}/libvirtd.conf") in libvirtd.configs
    compute1 = nodes.compute(1, lab)
    word, argv = [(d[0], d[1]) for d in compute_node.daemons(compute1) if "libvirtd" in d[1][0]][0]
    assert argv == ["/usr/sbin/libvirtd", "--listen", "-f", f"{compute1.root}/libvirtd.conf"] and word in argv


def test_nova_ssh_files_are_the_key_pair_it_as_authorized_key_and_the_lab_host_keys(tmp_path):
    key = tmp_path / "nova_key"
    key.write_text("PRIVATE\n")
    key.with_suffix(".pub").write_text("ssh-ed25519 AAAAnova nova@oslab-computes\n")
    hosts = {}
    for address in ("198.51.100.1", "198.51.100.11"):
        hosts[address] = tmp_path / f"{address}.pub"
        hosts[address].write_text(f"ssh-ed25519 AAAA{address[-2:]} root@x\n")
    files = migration.ssh_files(key, hosts)
    assert {name: mode for name, (content, mode) in files.items()} == {
        "id_ed25519": 0o600, "id_ed25519.pub": 0o644, "authorized_keys": 0o600, "known_hosts": 0o644}
    assert files["authorized_keys"][0] == b"ssh-ed25519 AAAAnova nova@oslab-computes\n"
    assert files["known_hosts"][0] == b"198.51.100.1 ssh-ed25519 AAAA.1\n198.51.100.11 ssh-ed25519 AAAA11\n"


@pytest.mark.skipif(not any(p.pw_name == "nova" for p in pwd.getpwall()), reason="no nova user on this machine")
def test_a_home_whose_files_differ_is_named_until_installed(tmp_path):
    key = tmp_path / "nova_key"
    key.write_text("PRIVATE\n")
    key.with_suffix(".pub").write_text("ssh-ed25519 AAAAnova nova@oslab-computes\n")
    files = migration.ssh_files(key, {})
    home = tmp_path / "home"
    home.mkdir()
    assert len(migration.missing_in(home, files)) == 4
    assert len(migration.install(home, files)) == 4
    assert migration.missing_in(home, files) == [] and migration.install(home, files) == []
    (home / ".ssh" / "known_hosts").write_text("stale\n")
    assert migration.missing_in(home, files) == [str(home / ".ssh" / "known_hosts")]
