"""openstacksdk connections, authenticated up front so a bad credential is one line, not a traceback later."""
from __future__ import annotations

import logging

from pytest_oslab.cloud.errors import CloudError, describe
from pytest_oslab.secrets import SECRETS


def connect(region, api_timeout: float, label: str):
    """An authenticated ``openstack.connection.Connection`` for a resolved cloud region.

    Every API call of the connection is bounded by ``api_timeout`` seconds. Raises ``CloudError`` with one line
    naming the cloud (``label``) and the auth URL on any failure.
    """
    import openstack.connection  # on use: the oslab CLI starts without openstacksdk (0.3 s)

    region.config["api_timeout"] = api_timeout
    auth_url = (region.config.get("auth") or {}).get("auth_url")
    # keystoneauth logs a warning of its own for what the one line below says
    quiet = logging.getLogger("keystoneauth.identity.generic.base")
    level, quiet.level = quiet.level, logging.ERROR
    try:
        conn = openstack.connection.Connection(config=region)
        SECRETS.add(conn.authorize())
    except Exception as e:  # anything keystoneauth/openstacksdk/requests raise while authenticating
        raise CloudError(describe(e, f"cloud {label!r}", auth_url)) from None
    finally:
        quiet.level = level
    return conn


def is_admin(conn) -> bool:
    """True when the token may do what discovery needs admin rights for: list neutron's agents and nova's
    hypervisors (admin-only in both default policies). What it can do decides, not a role's name: a cloud with
    its own policies may grant this to a role not called admin, or deny it to one that is."""
    try:
        next(iter(conn.network.agents()), None)
        next(iter(conn.compute.hypervisors()), None)
    except Exception:  # 403 (or any failure): discovery cannot use it
        return False
    return True
