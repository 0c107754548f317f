"""OVN: ``ovn-nbctl --format=json list Logical_Switch|Logical_Switch_Port|DHCP_Options|Port_Group|ACL`` and
``ovn-sbctl --format=json list Port_Binding|Chassis|Encap`` (same OVSDB JSON as ``ovs-vsctl``, decoded by
``ovs.parse_records``)."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ._parse import ParseError, columns
from .ovs import as_list, as_optional, parse_records


def _rows(text, source, required):
    records = parse_records(text, source)
    for record in records:
        missing = [c for c in required if c not in record]
        if missing:
            raise ParseError(source, f"rows lack columns {missing}", str(record))
    return records


@dataclass(frozen=True)
class LogicalSwitch:
    uuid: str
    name: str                                  # "neutron-<network id>"
    ports: Tuple[str, ...] = ()                # Logical_Switch_Port uuids
    external_ids: Dict[str, str] = columns()
    other_config: Dict[str, str] = columns()

    @property
    def network_id(self):
        return self.name[len("neutron-"):] if self.name.startswith("neutron-") else None


@dataclass(frozen=True)
class LogicalSwitchPort:
    uuid: str
    name: str                                  # the neutron port id
    type: str = ""                             # "" (VM port), "localport" (metadata), "localnet", "router"...
    addresses: Tuple[str, ...] = ()            # ("fa:16:3e:e9:6a:38 172.17.0.153",)
    port_security: Tuple[str, ...] = ()
    up: Optional[bool] = None
    enabled: Optional[bool] = None
    dhcpv4_options: Optional[str] = None       # DHCP_Options uuid: OVN answers the port's DHCP itself
    options: Dict[str, str] = columns()
    external_ids: Dict[str, str] = columns()

    @property
    def mac(self):
        """MAC of the first ``addresses`` entry (None for ``unknown``/``router``/empty)."""
        words = self.addresses[0].split() if self.addresses else []
        return words[0] if words and words[0].count(":") == 5 else None

    @property
    def ips(self):
        words = self.addresses[0].split() if self.addresses else []
        return tuple(words[1:]) if self.mac else ()


@dataclass(frozen=True)
class DhcpOptions:
    """A subnet's DHCP answers: ``options`` such as ``router``, ``server_id``, ``mtu``, ``lease_time``."""
    uuid: str
    cidr: str
    options: Dict[str, str] = columns()
    external_ids: Dict[str, str] = columns()   # neutron's "subnet_id"

    @property
    def subnet_id(self):
        return self.external_ids.get("subnet_id")


@dataclass(frozen=True)
class PortGroup:
    """A security group as OVN holds it: ``pg_<group id with _ for ->``, its ports and ACLs."""
    uuid: str
    name: str
    ports: Tuple[str, ...] = ()                # Logical_Switch_Port uuids
    acls: Tuple[str, ...] = ()                 # ACL uuids
    external_ids: Dict[str, str] = columns()   # neutron's "neutron:security_group_id"


@dataclass(frozen=True)
class Acl:
    """``to-lport`` (a group's ingress) or ``from-lport`` (egress) ``match`` -> ``action``."""
    uuid: str
    direction: str
    priority: int
    match: str
    action: str
    external_ids: Dict[str, str] = columns()   # neutron's "neutron:security_group_rule_id"

    @property
    def rule_id(self):
        return self.external_ids.get("neutron:security_group_rule_id")


@dataclass(frozen=True)
class PortBinding:
    uuid: str
    logical_port: str
    type: str = ""
    chassis: Optional[str] = None              # Chassis uuid, None while unbound
    datapath: Optional[str] = None
    mac: Tuple[str, ...] = ()
    tunnel_key: Optional[int] = None
    up: Optional[bool] = None
    external_ids: Dict[str, str] = columns()
    options: Dict[str, str] = columns()


@dataclass(frozen=True)
class Chassis:
    uuid: str
    name: str                                  # the chassis' system-id
    hostname: str = ""
    encaps: Tuple[str, ...] = ()
    external_ids: Dict[str, str] = columns()
    other_config: Dict[str, str] = columns()

    @property
    def bridge_mappings(self):
        """``ovn-bridge-mappings`` (``provider:br-provider,...``) from other_config, else external_ids."""
        raw = self.other_config.get("ovn-bridge-mappings") or self.external_ids.get("ovn-bridge-mappings") or ""
        return dict(item.split(":", 1) for item in raw.split(",") if ":" in item)


@dataclass(frozen=True)
class Encap:
    uuid: str
    type: str                                  # "geneve", "vxlan", "stt"
    ip: str                                    # the chassis' tunnel endpoint (its ovn-encap-ip)
    chassis_name: str = ""                     # the chassis' system-id
    options: Dict[str, str] = columns()


def parse_logical_switches(text) -> List[LogicalSwitch]:
    return [LogicalSwitch(uuid=r["_uuid"], name=r["name"], ports=tuple(as_list(r.get("ports", []))),
                          external_ids=r.get("external_ids", {}), other_config=r.get("other_config", {}))
            for r in _rows(text, "ovn-nbctl list Logical_Switch", ("_uuid", "name"))]


def parse_logical_switch_ports(text) -> List[LogicalSwitchPort]:
    return [LogicalSwitchPort(uuid=r["_uuid"], name=r["name"], type=r.get("type", ""),
                              addresses=tuple(as_list(r.get("addresses", []))),
                              port_security=tuple(as_list(r.get("port_security", []))),
                              up=as_optional(r.get("up", [])), enabled=as_optional(r.get("enabled", [])),
                              dhcpv4_options=as_optional(r.get("dhcpv4_options", [])),
                              options=r.get("options", {}), external_ids=r.get("external_ids", {}))
            for r in _rows(text, "ovn-nbctl list Logical_Switch_Port", ("_uuid", "name"))]


def parse_dhcp_options(text) -> List[DhcpOptions]:
    return [DhcpOptions(uuid=r["_uuid"], cidr=r["cidr"], options=r.get("options", {}),
                        external_ids=r.get("external_ids", {}))
            for r in _rows(text, "ovn-nbctl list DHCP_Options", ("_uuid", "cidr"))]


def parse_port_groups(text) -> List[PortGroup]:
    return [PortGroup(uuid=r["_uuid"], name=r["name"], ports=tuple(as_list(r.get("ports", []))),
                      acls=tuple(as_list(r.get("acls", []))), external_ids=r.get("external_ids", {}))
            for r in _rows(text, "ovn-nbctl list Port_Group", ("_uuid", "name"))]


def parse_acls(text) -> List[Acl]:
    return [Acl(uuid=r["_uuid"], direction=r["direction"], priority=int(r["priority"]), match=r["match"],
                action=r["action"], external_ids=r.get("external_ids", {}))
            for r in _rows(text, "ovn-nbctl list ACL", ("_uuid", "direction", "priority", "match", "action"))]


def parse_port_bindings(text) -> List[PortBinding]:
    return [PortBinding(uuid=r["_uuid"], logical_port=r["logical_port"], type=r.get("type", ""),
                        chassis=as_optional(r.get("chassis", [])), datapath=r.get("datapath"),
                        mac=tuple(as_list(r.get("mac", []))), tunnel_key=r.get("tunnel_key"),
                        up=as_optional(r.get("up", [])), external_ids=r.get("external_ids", {}),
                        options=r.get("options", {}))
            for r in _rows(text, "ovn-sbctl list Port_Binding", ("_uuid", "logical_port"))]


def parse_chassis(text) -> List[Chassis]:
    return [Chassis(uuid=r["_uuid"], name=r["name"], hostname=r.get("hostname", ""),
                    encaps=tuple(as_list(r.get("encaps", []))), external_ids=r.get("external_ids", {}),
                    other_config=r.get("other_config", {}))
            for r in _rows(text, "ovn-sbctl list Chassis", ("_uuid", "name"))]


def parse_encaps(text) -> List[Encap]:
    return [Encap(uuid=r["_uuid"], type=r["type"], ip=r["ip"], chassis_name=r.get("chassis_name", ""),
                  options=r.get("options", {}))
            for r in _rows(text, "ovn-sbctl list Encap", ("_uuid", "type", "ip"))]
