import pytest

from pytest_oslab.facts import iproute, libvirt


def test_seed_000_ovs_interface_is_ethernet_i6(data):
    (iface,) = libvirt.parse_interfaces_xml(data("seeds/000-virsh-interface.xml"))
    assert (iface.type, iface.mac, iface.target) == ("ethernet", "fa:16:3e:e9:6a:38", "tap60ad2c85-f3")
    assert (iface.model, iface.mtu, iface.driver, iface.source) == ("virtio", 1500, "qemu", None)
    assert (iface.alias, iface.pci_address) == ("net0", "0000:00:03.0")


def test_seed_001_linuxbridge_interface_is_bridge_i6(data):
    (iface,) = libvirt.parse_interfaces_xml(data("seeds/001-virsh-interface.xml"))
    assert (iface.type, iface.source_bridge, iface.source) == ("bridge", "brqc08e7dcd-4a", "brqc08e7dcd-4a")
    assert (iface.target, iface.mtu, iface.mac) == ("tap7a8c0a54-75", 1450, "fa:16:3e:be:71:21")


def test_seed_001_interface_and_tap_agree(data):
    (iface,) = libvirt.parse_interfaces_xml(data("seeds/001-virsh-interface.xml"))
    tap = iproute.parse_links_text(data("seeds/001-ip-d-link.txt"))[iface.target]
    assert tap.mac == iproute.tap_mac_for(iface.mac) and tap.mtu == iface.mtu and tap.master == iface.source_bridge


def test_captured_nova_like_domain(data):
    domain = libvirt.parse_domain_xml(data("captured/libvirt/virsh-dumpxml-nova-like.xml"))
    assert (domain.name, domain.uuid, domain.id, domain.type) == (
        "instance-0000000d", "df970ec9-8410-48a6-9f04-d4621c967fce", 2, "qemu")
    assert (domain.nova_name, domain.nova_ports) == ("instance02", ("7a8c0a54-7585-4d0e-9a43-1f2b3c4d5e6f",))
    iface = domain.interface(target="tap7a8c0a54-75")
    assert (iface.type, iface.source_bridge, iface.mtu, iface.model) == ("bridge", "brqc08e7dcd-4a", 1450, "virtio")
    assert domain.interface(mac="fa:16:3e:be:71:21") is iface
    assert libvirt.parse_interfaces_xml(data("captured/libvirt/virsh-dumpxml-nova-like.xml")) == [iface]
    with pytest.raises(KeyError, match="no interface target=tapX"):
        domain.interface(target="tapX")


def test_captured_test_driver_domain(data):
    domain = libvirt.parse_domain_xml(data("captured/libvirt/virsh-dumpxml-test.xml"))
    (iface,) = domain.interfaces
    assert (domain.name, domain.nova_name, domain.nova_ports) == ("test", None, ())
    assert (iface.type, iface.source, iface.source_bridge, iface.mtu, iface.pci_address) == (
        "network", "default", None, None, "0000:00:01.0")


def test_virsh_list_in_any_locale_i5(data):
    (ja,) = libvirt.parse_virsh_list(data("seeds/000-virsh-list.txt"))
    assert (ja.id, ja.name, ja.state) == (1, "instance-00000026", "実行中")
    (en,) = libvirt.parse_virsh_list(data("seeds/002-virsh-list.txt"))
    assert (en.id, en.name, en.state) == (2, "instance-00000002", "running")
    captured = libvirt.parse_virsh_list(data("captured/libvirt/virsh-list.txt"))
    assert [d.name for d in captured] == ["test", "instance-0000000d"]
    (off,) = libvirt.parse_virsh_list(" Id   Name         State\n-------------------------\n -    instance-1   shut off\n")
    assert (off.id, off.state) == (None, "shut off")


def test_domiflist(data):
    (seed,) = libvirt.parse_domiflist(data("seeds/002-virsh-domiflist.txt"))
    assert seed == libvirt.ListedInterface("tap14d72434-b8", "bridge", "brq59fe11c2-21", "virtio", "fa:16:3e:cd:96:47")
    (captured,) = libvirt.parse_domiflist(data("captured/libvirt/virsh-domiflist.txt"))
    assert captured.interface == "tap7a8c0a54-75" and captured.source == "brqc08e7dcd-4a"
