"""``oslab cleanup --cloud NAME``: remove what earlier pytest-oslab runs left behind, and nothing else.

A resource is a leftover when it carries the suite's tag ``oslab`` (servers, ports, networks, subnets, routers,
security groups, floating IPs), or, for kinds without tags (server groups, keypairs, flavors), when its name has
the shape ``oslab-<runid>-`` that only the suite gives. ``--run RUNID`` narrows to one run, ``--dry-run`` only lists.
Deletion goes in dependency order (servers, floating IPs, router interfaces, routers, ports, subnets,
networks, security groups, server groups, keypairs, flavors), each waited for.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from pytest_oslab.provision.naming import TAG, run_of
from pytest_oslab import config
from pytest_oslab.cloud.connection import connect
from pytest_oslab.cloud.errors import CloudError
from pytest_oslab.provision.stack import ResourceStack

ORDER = ["server", "floating ip", "router", "port", "subnet", "network", "security group", "server group", "keypair",
         "flavor"]
UNTAGGED = {"server group", "keypair", "flavor"}


@dataclass
class Leftover:
    kind: str
    resource: Any
    run: str

    @property
    def label(self) -> str:
        name = getattr(self.resource, "name", None) or getattr(self.resource, "floating_ip_address", None) or ""
        rid = getattr(self.resource, "id", None)
        return f"{name} ({rid})" if rid and rid != name else name


def is_ours(kind: str, resource, run: Optional[str] = None) -> Optional[str]:
    """The run id when ``resource`` was made by the suite (and by ``run`` if given), else None."""
    if kind in UNTAGGED:
        found = run_of(None, getattr(resource, "name", "") or "")
    else:
        tags = list(getattr(resource, "tags", None) or [])
        found = run_of(tags) if TAG in tags else ""
    if not found or (run and found != run):
        return None
    return found


def select(listing: Dict[str, List[Any]], run: Optional[str] = None) -> List[Leftover]:
    """The leftovers among ``listing`` (kind -> resources), in deletion order. Pure: no API calls."""
    chosen = []
    for kind in ORDER:
        for resource in listing.get(kind, []):
            found = is_ours(kind, resource, run)
            if found:
                chosen.append(Leftover(kind, resource, found))
    return chosen


def list_candidates(conn, admin_conn=None) -> Dict[str, List[Any]]:
    """Everything of the kinds the suite makes; tag-filtered on the server side where the API can."""
    n, c = conn.network, conn.compute
    listing = {
        "server": list(c.servers(tags=TAG)),
        "floating ip": list(n.ips(tags=TAG)),
        "router": list(n.routers(tags=TAG)),
        "port": list(n.ports(tags=TAG)),
        "subnet": list(n.subnets(tags=TAG)),
        "network": list(n.networks(tags=TAG)),
        "security group": list(n.security_groups(tags=TAG)),
        "server group": list(c.server_groups()),
        "keypair": list(c.keypairs()),
        "flavor": list((admin_conn or conn).compute.flavors(details=False)),
    }
    return listing


def deleters(conn, admin_conn=None) -> Dict[str, Callable]:
    """kind -> (delete(resource), exists(resource)) for the stack."""
    n, c = conn.network, conn.compute
    fc = (admin_conn or conn).compute

    def router_delete(router):
        for port in n.ports(device_id=router.id, device_owner="network:router_interface"):
            n.remove_interface_from_router(router, port_id=port.id)
        n.delete_router(router.id, ignore_missing=True)

    return {
        "server": (lambda r: c.delete_server(r.id, ignore_missing=True),
                   lambda r: c.find_server(r.id, ignore_missing=True) is not None),
        "floating ip": (lambda r: n.delete_ip(r.id, ignore_missing=True),
                        lambda r: n.find_ip(r.id, ignore_missing=True) is not None),
        "router": (router_delete, lambda r: n.find_router(r.id, ignore_missing=True) is not None),
        "port": (lambda r: n.delete_port(r.id, ignore_missing=True),
                 lambda r: n.find_port(r.id, ignore_missing=True) is not None),
        "subnet": (lambda r: n.delete_subnet(r.id, ignore_missing=True),
                   lambda r: n.find_subnet(r.id, ignore_missing=True) is not None),
        "network": (lambda r: n.delete_network(r.id, ignore_missing=True),
                    lambda r: n.find_network(r.id, ignore_missing=True) is not None),
        "security group": (lambda r: n.delete_security_group(r.id, ignore_missing=True),
                           lambda r: n.find_security_group(r.id, ignore_missing=True) is not None),
        "server group": (lambda r: c.delete_server_group(r.id, ignore_missing=True),
                         lambda r: c.find_server_group(r.id, ignore_missing=True) is not None),
        "keypair": (lambda r: c.delete_keypair(r.name, ignore_missing=True),
                    lambda r: c.find_keypair(r.name, ignore_missing=True) is not None),
        "flavor": (lambda r: fc.delete_flavor(r.id, ignore_missing=True),
                   lambda r: fc.find_flavor(r.id, ignore_missing=True) is not None),
    }


def remove(leftovers: List[Leftover], conn, admin_conn=None, timeout: float = 300.0,
           report: Callable[[str], None] = print) -> List[str]:
    """Delete ``leftovers`` in order, each waited for; the lines of those that could not be deleted."""
    stack = ResourceStack(timeout=timeout, report=report)
    table = deleters(conn, admin_conn)
    for item in reversed(leftovers):  # the stack deletes from the top: push in reverse
        delete, exists = table[item.kind]
        stack.push(item.kind, item.label, (lambda d=delete, r=item.resource: d(r)),
                   (lambda e=exists, r=item.resource: e(r)))
    return stack.close()


def main(argv: Optional[List[str]] = None) -> int:

    parser = argparse.ArgumentParser(prog="oslab cleanup", description=__doc__.splitlines()[0])
    parser.add_argument("--cloud", default=os.environ.get("OS_CLOUD"), help="cloud in clouds.yaml (default $OS_CLOUD)")
    parser.add_argument("--admin-cloud", help="admin cloud for flavors (default NAME-admin when it exists)")
    parser.add_argument("--run", help="only this run id (from the oslab-run-<runid> tag)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each deletion")
    args = parser.parse_args(argv)
    try:
        if not args.cloud:
            raise config.ConfigError(config.how_to_name_a_cloud())
        choice = config.resolve(args.cloud, args.admin_cloud)
        conn = connect(choice.region, 60, choice.name)
        admin = connect(choice.admin_region, 60, choice.admin_name) if choice.admin_region is not None else None
        leftovers = select(list_candidates(conn, admin), args.run)
    except (config.ConfigError, CloudError) as e:
        sys.stderr.write(f"oslab cleanup: {e}\n")
        return 2
    if not leftovers:
        print(f"oslab cleanup: nothing left by pytest-oslab in cloud {args.cloud!r}")
        return 0
    for item in leftovers:
        print(f"{'would delete' if args.dry_run else 'deleting'} {item.kind} {item.label} (run {item.run})")
    if args.dry_run:
        return 0
    problems = remove(leftovers, conn, admin, args.timeout, report=lambda line: sys.stderr.write(line + "\n"))
    print(f"oslab cleanup: deleted {len(leftovers) - len(problems)} of {len(leftovers)}")
    return 1 if problems else 0
