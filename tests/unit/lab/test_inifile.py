from pytest_oslab.lab import inifile

PACKAGED = """# comment kept
[DEFAULT]
#my_ip = <host_ipv4>
my_ip = 10.0.0.1
debug = false

[libvirt]
virt_type=kvm

[DEFAULT]
my_ip = 192.0.2.2
"""


def test_edit_sets_first_assignment_drops_duplicates_and_keeps_the_rest(tmp_path):
    path = tmp_path / "nova.conf"
    path.write_text(PACKAGED)
    changed = inifile.edit(path, {"DEFAULT": {"my_ip": "127.0.0.1"}, "libvirt": {"virt_type": "qemu"},
                                  "neutron": {"auth_type": "password"}})
    assert changed
    text = path.read_text()
    assert text.count("my_ip = 127.0.0.1") == 1 and "192.0.2.2" not in text and "10.0.0.1" not in text
    assert "# comment kept" in text and "#my_ip = <host_ipv4>" in text and "debug = false" in text
    values = inifile.read(path)
    assert values["libvirt"]["virt_type"] == "qemu"
    assert values["neutron"]["auth_type"] == "password"
    assert values["DEFAULT"]["my_ip"] == "127.0.0.1"


def test_edit_is_idempotent_and_deletes_with_none(tmp_path):
    path = tmp_path / "a.ini"
    path.write_text(PACKAGED)
    inifile.edit(path, {"DEFAULT": {"debug": None}, "x": {"flag": True, "list": ["a", "b"]}})
    assert "debug" not in inifile.read(path)["DEFAULT"]
    assert inifile.read(path)["x"] == {"flag": "true", "list": "a,b"}
    assert not inifile.edit(path, {"DEFAULT": {"debug": None}, "x": {"flag": True, "list": ["a", "b"]}})


def test_keys_before_any_header_are_moved_into_default(tmp_path):
    path = tmp_path / "broken.conf"
    path.write_text("my_ip = 1.2.3.4\n[DEFAULT]\nother = 1\n")
    inifile.edit(path, {"DEFAULT": {"my_ip": "127.0.0.1"}})
    assert path.read_text().splitlines()[0] == "[DEFAULT]"
    assert inifile.read(path)["DEFAULT"] == {"other": "1", "my_ip": "127.0.0.1"}
