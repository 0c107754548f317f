"""Domains from ``virsh dumpxml`` (or ``<interface>`` fragments cut out of it), ``virsh list`` and
``virsh domiflist``."""
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ._parse import ParseError, lines, table_rows

NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"


@dataclass(frozen=True)
class Interface:
    type: str                         # "bridge", "ethernet", "network", "vhostuser"...
    mac: Optional[str] = None
    target: Optional[str] = None      # the host device: "tap60ad2c85-f3"
    source: Optional[str] = None      # source bridge / network / dev, whichever is given
    source_bridge: Optional[str] = None
    model: Optional[str] = None       # "virtio"
    mtu: Optional[int] = None
    driver: Optional[str] = None      # "qemu", "vhost"
    alias: Optional[str] = None       # "net0"
    pci_address: Optional[str] = None  # "0000:00:03.0"


@dataclass(frozen=True)
class Domain:
    name: str
    uuid: Optional[str] = None
    id: Optional[int] = None          # only while running
    type: Optional[str] = None        # "kvm", "qemu"
    interfaces: Tuple[Interface, ...] = ()
    nova_name: Optional[str] = None   # the server's name, from nova's metadata
    nova_ports: Tuple[str, ...] = ()  # port ids, from nova's metadata (recent nova)

    def interface(self, target=None, mac=None):
        """The interface with that target device or MAC; KeyError names the ones present."""
        for iface in self.interfaces:
            if (target is None or iface.target == target) and (mac is None or iface.mac == mac):
                return iface
        have = [(i.target, i.mac) for i in self.interfaces]
        raise KeyError(f"domain {self.name}: no interface target={target} mac={mac}; has {have}")


@dataclass(frozen=True)
class ListedDomain:
    id: Optional[int]                 # None for "-" (not running)
    name: str
    state: str                        # "running", "shut off", or localized ("実行中")


@dataclass(frozen=True)
class ListedInterface:
    interface: str
    type: str
    source: str
    model: str
    mac: str


def _attr(element, path, name):
    found = element.find(path)
    return found.get(name) if found is not None else None


def _interface(element):
    source = element.find("source")
    source_value = None
    if source is not None:
        source_value = source.get("bridge") or source.get("network") or source.get("dev") or source.get("path")
    address = element.find("address")
    pci = None
    if address is not None and address.get("type") == "pci":
        parts = [address.get(k, "0x0") for k in ("domain", "bus", "slot", "function")]
        try:
            pci = "{:04x}:{:02x}:{:02x}.{:x}".format(*(int(p, 16) for p in parts))
        except ValueError:
            raise ParseError("virsh dumpxml", "bad PCI address", ElementTree.tostring(address, "unicode")) from None
    mtu = _attr(element, "mtu", "size")
    return Interface(type=element.get("type"), mac=_attr(element, "mac", "address"),
                     target=_attr(element, "target", "dev"), source=source_value,
                     source_bridge=source.get("bridge") if source is not None else None,
                     model=_attr(element, "model", "type"), mtu=int(mtu) if mtu else None,
                     driver=_attr(element, "driver", "name"), alias=_attr(element, "alias", "name"),
                     pci_address=pci)


def _xml(text, source):
    try:
        return ElementTree.fromstring(text.strip())
    except ElementTree.ParseError as error:
        raise ParseError(source, f"not XML ({error})", text) from None


def parse_domain_xml(text) -> Domain:
    """``virsh dumpxml <domain>`` -> Domain."""
    root = _xml(text, "virsh dumpxml")
    if root.tag != "domain":
        raise ParseError("virsh dumpxml", f"root element is <{root.tag}>, not <domain>", text)
    name = root.findtext("name")
    if not name:
        raise ParseError("virsh dumpxml", "domain without a <name>", text)
    nova = root.find(f"metadata/{{{NOVA_NS}}}instance")
    nova_name = nova.findtext(f"{{{NOVA_NS}}}name") if nova is not None else None
    ports = tuple(p.get("uuid") for p in nova.iter(f"{{{NOVA_NS}}}port")) if nova is not None else ()
    dom_id = root.get("id")
    return Domain(name=name, uuid=root.findtext("uuid"), id=int(dom_id) if dom_id else None, type=root.get("type"),
                  interfaces=tuple(_interface(e) for e in root.findall("devices/interface")),
                  nova_name=nova_name, nova_ports=ports)


def parse_interfaces_xml(text) -> List[Interface]:
    """The ``<interface>`` elements of a whole ``<domain>`` or of fragments cut out of it
    (``virsh dumpxml 1 | sed -n '/<interface/,/<\\/interface>/p'``, as the seeds show)."""
    stripped = text.strip()
    if stripped.startswith("<domain"):
        return list(parse_domain_xml(stripped).interfaces)
    root = _xml(f"<fragments>{stripped}</fragments>", "libvirt <interface> XML")
    found = root.findall("interface")
    if not found:
        raise ParseError("libvirt <interface> XML", "no <interface> element", text)
    return [_interface(e) for e in found]


def parse_virsh_list(text) -> List[ListedDomain]:
    """``virsh list [--all]`` (any locale: the header is skipped, not read) -> ``[ListedDomain]``."""
    out = []
    for cells in table_rows(text, "virsh list", 3):
        dom_id, name, state = cells[0], cells[1], " ".join(cells[2:])
        if dom_id != "-" and not dom_id.isdigit():
            raise ParseError("virsh list", f"bad domain id {dom_id!r}", " ".join(cells))
        out.append(ListedDomain(id=None if dom_id == "-" else int(dom_id), name=name, state=state))
    return out


def parse_domiflist(text) -> List[ListedInterface]:
    """``virsh domiflist <domain>`` -> ``[ListedInterface]``."""
    out = []
    for line in lines(text)[2:]:
        words = line.split()
        if len(words) != 5:
            raise ParseError("virsh domiflist", "expected Interface Type Source Model MAC", line)
        out.append(ListedInterface(*words))
    return out
