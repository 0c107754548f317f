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
    import openstack.connection

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
    """True when the connection's token carries the admin role (what the agent and hypervisor APIs need)."""
    try:
        roles = conn.session.auth.get_access(conn.session).role_names
    except Exception:
        return False
    return "admin" in roles
