"""Open vSwitch: ``ovs-vsctl --format=json list <Table>`` records and the text of ``ovs-vsctl show``.

The JSON format is OVSDB's (``{"headings": [...], "data": [[...], ...]}``, values encoded as ``["uuid", u]``,
``["set", [...]]``, ``["map", [[k, v], ...]]``; a one-element set is printed bare). ``parse_records`` decodes it
for any table of any OVSDB database, so ``ovn.py`` reads ``ovn-nbctl``/``ovn-sbctl`` output with it too.
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ._parse import ParseError, columns, lines, load_json


# ------------------------------------------------------------------------------------------- OVSDB decoding

def decode(value):
    """One OVSDB JSON value -> Python: uuid -> str, set -> list, map -> dict, atoms unchanged."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, payload = value
        if kind in ("uuid", "named-uuid"):
            return payload
        if kind == "set":
            return [decode(v) for v in payload]
        if kind == "map":
            return {decode(k): decode(v) for k, v in payload}
    if isinstance(value, list):
        raise ParseError("OVSDB JSON", "unknown value encoding", str(value))
    return value


def as_list(value):
    """A set column as a list, whether OVSDB printed it as a set or as its one bare element."""
    return list(value) if isinstance(value, list) else [value]


def as_optional(value):
    """An optional column (a set of at most one element) -> the element or None."""
    if isinstance(value, list):
        if len(value) > 1:
            raise ValueError(f"expected at most one value, got {value}")
        return value[0] if value else None
    return value


def parse_records(text, source="ovs-vsctl --format=json list") -> List[dict]:
    """``<ctl> --format=json list <Table>`` -> one dict per row, keyed by column name (``_uuid`` included)."""
    data = load_json(text, source)
    if not isinstance(data, dict) or "headings" not in data or "data" not in data:
        raise ParseError(source, "expected an object with 'headings' and 'data'", str(text))
    headings = data["headings"]
    records = []
    for row in data["data"]:
        if len(row) != len(headings):
            raise ParseError(source, f"row has {len(row)} values for {len(headings)} headings", str(row))
        records.append({h: decode(v) for h, v in zip(headings, row)})
    return records


# --------------------------------------------------------------------------------------------- OVS tables

@dataclass(frozen=True)
class Bridge:
    uuid: str
    name: str
    ports: Tuple[str, ...] = ()          # Port uuids
    controllers: Tuple[str, ...] = ()    # Controller uuids
    fail_mode: Optional[str] = None
    datapath_type: Optional[str] = None
    protocols: Tuple[str, ...] = ()
    external_ids: Dict[str, str] = columns()
    other_config: Dict[str, str] = columns()


@dataclass(frozen=True)
class Port:
    uuid: str
    name: str
    interfaces: Tuple[str, ...] = ()     # Interface uuids
    tag: Optional[int] = None            # the local VLAN the OVS agent gives a network
    trunks: Tuple[int, ...] = ()
    other_config: Dict[str, str] = columns()
    external_ids: Dict[str, str] = columns()


@dataclass(frozen=True)
class Interface:
    uuid: str
    name: str
    type: str = ""                       # "" (system), "internal", "patch", "vxlan", "geneve", "tap"...
    ofport: Optional[int] = None
    mac_in_use: Optional[str] = None
    mtu: Optional[int] = None
    admin_state: Optional[str] = None
    link_state: Optional[str] = None
    error: Optional[str] = None
    options: Dict[str, str] = columns()        # {"peer": "int-br-provider"}
    external_ids: Dict[str, str] = columns()   # iface-id, attached-mac, vm-uuid

    @property
    def iface_id(self):
        """The neutron port id (``external_ids:iface-id``)."""
        return self.external_ids.get("iface-id")

    @property
    def attached_mac(self):
        return self.external_ids.get("attached-mac")


@dataclass(frozen=True)
class Target:
    """A Controller or Manager row: ``tcp:127.0.0.1:6633`` and whether it is connected."""
    uuid: str
    target: str
    is_connected: bool = False
    status: Dict[str, str] = columns()


def parse_bridges(text) -> List[Bridge]:
    return [Bridge(uuid=r["_uuid"], name=r["name"], ports=tuple(as_list(r.get("ports", []))),
                   controllers=tuple(as_list(r.get("controller", []))), fail_mode=as_optional(r.get("fail_mode", [])),
                   datapath_type=r.get("datapath_type") or None, protocols=tuple(as_list(r.get("protocols", []))),
                   external_ids=r.get("external_ids", {}), other_config=r.get("other_config", {}))
            for r in _records(text, "Bridge", ("_uuid", "name"))]


def parse_ports(text) -> List[Port]:
    return [Port(uuid=r["_uuid"], name=r["name"], interfaces=tuple(as_list(r.get("interfaces", []))),
                 tag=as_optional(r.get("tag", [])), trunks=tuple(as_list(r.get("trunks", []))),
                 other_config=r.get("other_config", {}), external_ids=r.get("external_ids", {}))
            for r in _records(text, "Port", ("_uuid", "name"))]


def parse_interfaces(text) -> List[Interface]:
    return [Interface(uuid=r["_uuid"], name=r["name"], type=r.get("type", ""), ofport=as_optional(r.get("ofport", [])),
                      mac_in_use=as_optional(r.get("mac_in_use", [])), mtu=as_optional(r.get("mtu", [])),
                      admin_state=as_optional(r.get("admin_state", [])),
                      link_state=as_optional(r.get("link_state", [])), error=as_optional(r.get("error", [])),
                      options=r.get("options", {}), external_ids=r.get("external_ids", {}))
            for r in _records(text, "Interface", ("_uuid", "name"))]


def parse_targets(text) -> List[Target]:
    """``list Controller`` or ``list Manager`` -> ``[Target]``."""
    return [Target(uuid=r["_uuid"], target=r["target"], is_connected=bool(r.get("is_connected", False)),
                   status=r.get("status", {}))
            for r in _records(text, "Controller/Manager", ("_uuid", "target"))]


def _records(text, table, required):
    records = parse_records(text, f"ovs-vsctl --format=json list {table}")
    for record in records:
        missing = [c for c in required if c not in record]
        if missing:
            raise ParseError(f"ovs-vsctl --format=json list {table}", f"rows lack columns {missing}", str(record))
    return records


def by_uuid(rows):
    return {row.uuid: row for row in rows}


def bridge_of_port(port_name, bridges, ports) -> Optional[Bridge]:
    """The bridge holding port ``port_name`` (joins Bridge.ports with Port uuids), or None."""
    port = next((p for p in ports if p.name == port_name), None)
    if port is None:
        return None
    return next((b for b in bridges if port.uuid in b.ports), None)


# ------------------------------------------------------------------------------------------ ovs-vsctl show

@dataclass
class ShowInterface:
    name: str
    type: str = ""
    options: Dict[str, str] = field(default_factory=dict)
    error: Optional[str] = None


@dataclass
class ShowPort:
    name: str
    tag: Optional[int] = None
    interfaces: Dict[str, ShowInterface] = field(default_factory=dict)


@dataclass
class ShowTarget:
    target: str
    is_connected: bool = False


@dataclass
class ShowBridge:
    name: str
    controllers: List[ShowTarget] = field(default_factory=list)
    fail_mode: Optional[str] = None
    datapath_type: Optional[str] = None
    ports: Dict[str, ShowPort] = field(default_factory=dict)


@dataclass
class Show:
    uuid: str
    managers: List[ShowTarget] = field(default_factory=list)
    bridges: Dict[str, ShowBridge] = field(default_factory=dict)
    ovs_version: Optional[str] = None

    def bridge_of_port(self, port_name):
        return next((b for b in self.bridges.values() if port_name in b.ports), None)


def _unquote(value):
    value = value.strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _options(value):
    """``{peer=int-br-provider}`` -> ``{"peer": "int-br-provider"}``."""
    body = value.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ParseError("ovs-vsctl show", "options are not {k=v, ...}", value)
    out = {}
    for item in filter(None, (i.strip() for i in body[1:-1].split(","))):
        key, _, val = item.partition("=")
        out[key] = _unquote(val)
    return out


_SHOW_LINE = re.compile(r"^( *)(\S.*)$")


def parse_vsctl_show(text) -> Show:
    """Text of ``ovs-vsctl show`` (seeds 000 and 003) -> Show."""
    rows = lines(text)
    if not rows or rows[0].startswith(" "):
        raise ParseError("ovs-vsctl show", "first line is not the database uuid", rows[0] if rows else "")
    show = Show(uuid=rows[0].strip())
    bridge = port = iface = target = None
    for line in rows[1:]:
        indent, content = _SHOW_LINE.match(line).groups()
        depth = len(indent) // 4
        key, _, value = content.partition(" ") if not re.match(r"^\w+:", content) else content.partition(": ")
        key = key.rstrip(":")
        if depth == 1 and key == "Manager":
            target = ShowTarget(_unquote(value))
            show.managers.append(target)
        elif depth == 1 and key == "Bridge":
            bridge, target, port, iface = ShowBridge(_unquote(value)), None, None, None
            show.bridges[bridge.name] = bridge
        elif depth == 1 and key == "ovs_version":
            show.ovs_version = _unquote(value)
        elif depth == 2 and key == "is_connected" and target is not None:
            target.is_connected = value.strip() == "true"
        elif depth == 2 and bridge is not None and key == "Controller":
            target = ShowTarget(_unquote(value))
            bridge.controllers.append(target)
        elif depth == 2 and bridge is not None and key in ("fail_mode", "datapath_type"):
            setattr(bridge, key, value.strip())
        elif depth == 2 and bridge is not None and key == "Port":
            port, iface = ShowPort(_unquote(value)), None
            bridge.ports[port.name] = port
        elif depth == 3 and key == "is_connected" and target is not None:
            target.is_connected = value.strip() == "true"
        elif depth == 3 and port is not None and key == "tag":
            port.tag = int(value)
        elif depth == 3 and port is not None and key == "Interface":
            iface = ShowInterface(_unquote(value))
            port.interfaces[iface.name] = iface
        elif depth == 4 and iface is not None and key == "type":
            iface.type = value.strip()
        elif depth == 4 and iface is not None and key == "options":
            iface.options = _options(value)
        elif depth == 4 and iface is not None and key == "error":
            iface.error = _unquote(value)
        elif depth >= 2:
            continue      # columns this parser does not model (trunks, bond_mode, datapath_id...)
        else:
            raise ParseError("ovs-vsctl show", "unexpected line", line)
    return show
