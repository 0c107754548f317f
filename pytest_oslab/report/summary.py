"""The cloud a run tested, as the report's summary says it: region, service versions, drivers, nodes checked.

Everything comes from the API (service catalog and version documents, the capabilities the plugin discovered)
and from the evidence the checks attached (the nodes they ran commands on). Nothing is configured by hand, and a
part that cannot be found is said so in one line instead of failing the run.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from pytest_oslab.cloud.errors import describe
from pytest_oslab.report.html import esc, section, table

# service type in the catalog -> openstacksdk proxy attribute
PROXIES = {
    "identity": "identity", "compute": "compute", "network": "network", "image": "image",
    "placement": "placement", "block-storage": "block_storage", "volumev3": "block_storage",
    "load-balancer": "load_balancer", "orchestration": "orchestration", "dns": "dns",
    "object-store": "object_store", "key-manager": "key_manager", "baremetal": "baremetal",
    "shared-file-system": "shared_file_system",
}
DEFAULT_TYPES = ("identity", "compute", "network", "image", "placement", "block-storage")


@dataclass
class CloudSummary:
    cloud: str
    region: str = ""
    services: List[Tuple[str, str]] = field(default_factory=list)  # (service type, "v2.1, microversions 2.1-2.93")
    mechanism_drivers: List[str] = field(default_factory=list)
    type_drivers: List[str] = field(default_factory=list)
    firewall_driver: str = ""
    dns_domain: str = ""
    agents: Dict[str, List[str]] = field(default_factory=dict)  # host -> agent types
    hypervisors: List[str] = field(default_factory=list)
    nodes_checked: Dict[str, int] = field(default_factory=dict)  # node -> commands the checks ran there
    deployments: Dict[str, str] = field(default_factory=dict)  # node -> where its tools run (access.deployment)
    problems: List[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["services"] = [list(s) for s in self.services]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "CloudSummary":
        data = dict(data)
        data["services"] = [tuple(s) for s in data.get("services", [])]
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def drivers_line(self) -> str:
        mech = ", ".join(self.mechanism_drivers) or "?"
        return f"ML2 {mech}; firewall {self.firewall_driver or '?'}; network types {', '.join(self.type_drivers) or '?'}"

    def nodes_line(self) -> str:
        if not self.nodes_checked:
            return "none"
        return ", ".join(f"{n} ({c} command{'s' if c != 1 else ''})" for n, c in sorted(self.nodes_checked.items()))

    def metadata(self) -> Dict[str, str]:
        """Short lines for pytest-html's Environment table."""
        rows = {"Cloud": f"{self.cloud} (region {self.region or '?'})",
                "Service versions": "; ".join(f"{t} {v}" for t, v in self.services) or "?",
                "Drivers": self.drivers_line(),
                "Nodes checked": self.nodes_line()}
        if self.problems:
            rows["Cloud summary incomplete"] = "; ".join(self.problems)
        return rows


    def junit_properties(self, run_id: str) -> List[Tuple[str, str]]:
        """The run's suite-level JUnit properties: what a CI's test view groups runs by."""
        props = [("oslab.cloud", self.cloud), ("oslab.region", self.region or "?"), ("oslab.run_id", run_id),
                 ("oslab.mechanism_drivers", ",".join(self.mechanism_drivers) or "?"),
                 ("oslab.firewall_driver", self.firewall_driver or "?"),
                 ("oslab.network_types", ",".join(self.type_drivers) or "?")]
        props += [(f"oslab.version.{service}", version) for service, version in self.services]
        return props


def version_text(endpoint_data) -> str:
    """``v2.1, microversions 2.1-2.93`` from keystoneauth's EndpointData (version discovery)."""
    def fmt(v) -> str:
        return ".".join(str(int(x)) for x in v) if v else ""
    api = fmt(getattr(endpoint_data, "api_version", None))
    low, high = fmt(getattr(endpoint_data, "min_microversion", None)), fmt(getattr(endpoint_data, "max_microversion", None))
    text = f"v{api}" if api else "version unknown"
    if high:
        text += f", microversions {low or '?'}-{high}"
    return text


def service_versions(conn, types: Iterable[str]) -> Tuple[List[Tuple[str, str]], List[str]]:
    found, problems = [], []
    for service_type in types:
        attr = PROXIES.get(service_type)
        if attr is None:
            continue
        try:
            data = getattr(conn, attr).get_endpoint_data()
        except Exception as e:  # a service the catalog lists but does not answer is worth one line, not a failure
            problems.append(f"{service_type}: {type(e).__name__}")
            continue
        if data is not None:
            found.append((service_type, version_text(data)))
    return found, problems


def catalog_types(admin_conn) -> List[str]:
    """Service types of the catalog (admin), in a stable order: the usual ones first."""
    types = {s.type for s in admin_conn.identity.services()}
    ordered = [t for t in DEFAULT_TYPES if t in types]
    return ordered + sorted(t for t in types - set(ordered) if t in PROXIES)


def nodes_from_titles(titles: Iterable[str], known_hosts: Iterable[str]) -> Dict[str, int]:
    """Commands per node, from evidence titles ``NODE: command`` whose NODE the cloud knows as a host."""
    known = {h.split(".")[0] for h in known_hosts}
    counts: Counter = Counter()
    for title in titles:
        node, sep, command = title.partition(": ")
        if sep and command and " " not in node and node.split(".")[0] in known:
            counts[node] += 1
    return dict(counts)


def gather(oslab, titles: Iterable[str] = ()) -> CloudSummary:
    """The summary of the cloud ``oslab`` (pytest_oslab.session.OslabSession) talks to; never raises."""
    summary = CloudSummary(cloud=oslab.settings.cloud or "?")
    try:
        summary.region = oslab.choice.region.region_name or ""
        conn = oslab.cloud
        admin = oslab.admin_or_none()
    except Exception as e:
        summary.problems.append(f"cloud not reached: {describe(e)}")
        return summary
    try:
        types = catalog_types(admin) if admin is not None else list(DEFAULT_TYPES)
    except Exception:
        types = list(DEFAULT_TYPES)
    summary.services, missing = service_versions(conn, types)
    summary.problems += [f"no version for {m}" for m in missing if not m.startswith(("block-storage", "volumev3"))]
    try:
        caps = oslab.capabilities
    except Exception as e:
        summary.problems.append(f"capabilities unknown: {describe(e)}")
        caps = None
    if caps is not None:
        summary.mechanism_drivers = sorted(caps.mechanism_drivers)
        summary.type_drivers = sorted(caps.type_drivers)
        summary.firewall_driver = caps.firewall_driver or ""
        summary.dns_domain = caps.dns_domain or ""
        summary.agents = caps.agents_by_host
        summary.hypervisors = sorted(caps.hypervisors)
        if not caps.admin:
            summary.problems.append("no admin rights: agents, hypervisors and bindings not seen")
    hosts = list(summary.agents) + summary.hypervisors
    summary.nodes_checked = nodes_from_titles(titles, hosts)
    try:
        summary.deployments = oslab.nodes.layouts()
    except Exception as e:
        summary.problems.append(f"deployment unknown: {describe(e)}")
    return summary


def summary_html(summary: CloudSummary, report_files: Optional[Dict[str, str]] = None) -> str:
    agents = "".join(f"<div><b>{esc(h)}</b>: {esc(', '.join(t))}</div>" for h, t in summary.agents.items())
    rows = [("cloud", esc(summary.cloud)), ("region", esc(summary.region or "?")),
            ("service versions", "<br>".join(f"<b>{esc(t)}</b> {esc(v)}" for t, v in summary.services) or "?"),
            ("mechanism drivers", esc(", ".join(summary.mechanism_drivers) or "?")),
            ("firewall driver", esc(summary.firewall_driver or "?")),
            ("network types", esc(", ".join(summary.type_drivers) or "?")),
            ("DNS domain", esc(summary.dns_domain or "not in the API (no port shows a dns_assignment)")),
            ("agents", agents or "?"),
            ("compute nodes", esc(", ".join(summary.hypervisors) or "?")),
            ("nodes checked", esc(summary.nodes_line())),
            ("deployment", "".join(f"<div><b>{esc(n)}</b>: {esc(d)}</div>" for n, d in summary.deployments.items())
             or "no node reached")]
    if summary.problems:
        rows.append(("not found", esc("; ".join(summary.problems))))
    for name, path in (report_files or {}).items():
        rows.append((name, f"<code>{esc(path)}</code>"))
    return section("Cloud under test", table(rows), "oslab-cloud")
