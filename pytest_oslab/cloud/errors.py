"""Turn what openstacksdk and keystoneauth raise into one line an operator can act on."""
from __future__ import annotations

import re
from typing import Optional

from pytest_oslab.secrets import SECRETS


class CloudError(Exception):
    """A cloud problem already phrased as one line for the operator."""


def _first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def _innermost_known(exc: BaseException) -> BaseException:
    """openstacksdk wraps keystoneauth's exceptions in its own; the wrapped one says more precisely what failed."""
    from keystoneauth1 import exceptions as ks
    seen = set()
    cause = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ks.ClientException) or isinstance(cause, ConnectionError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return exc


def _root_reason(exc: BaseException) -> str:
    """The deepest cause's own words (``connection refused``), not the stack of wrappers around it."""
    seen, deepest = set(), exc
    cause = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        deepest = cause
        if getattr(cause, "strerror", None):
            return cause.strerror.lower()
        nxt = cause.__cause__ or cause.__context__
        if nxt is None and cause.args and isinstance(cause.args[0], BaseException):
            nxt = cause.args[0]
        cause = nxt
    text = _first_line(deepest)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", _first_line(exc))
    return match.group(1).strip().lower() if match else (text or type(deepest).__name__)


def describe(exc: BaseException, what: str = "", url: Optional[str] = None) -> str:
    """One line for ``exc``: what was being done, what went wrong, and the usual cause. Secrets masked."""
    from keystoneauth1 import exceptions as ks
    from openstack import exceptions as sdk

    exc = _innermost_known(exc)
    where = f" at {url}" if url else ""
    prefix = f"{what}: " if what else ""
    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    if isinstance(exc, CloudError):
        line = str(exc)
    elif isinstance(exc, ks.Unauthorized) or status == 401:
        line = f"authentication failed{where} (HTTP 401): check the user, password and project in clouds.yaml"
    elif isinstance(exc, ks.Forbidden) or status == 403:
        line = f"not allowed{where} (HTTP 403): the credentials lack the role this needs ({_first_line(exc)})"
    elif isinstance(exc, ks.ConnectTimeout):
        line = f"timed out connecting{where}: is the API reachable from this host?"
    elif isinstance(exc, (ks.ConnectFailure, ConnectionError)):
        line = f"cannot connect{where}: {_root_reason(exc)}"
    elif isinstance(exc, ks.EndpointNotFound):
        line = f"the service catalog has no such endpoint ({_first_line(exc)})"
    elif isinstance(exc, ks.DiscoveryFailure):
        line = f"version discovery failed{where}: {_first_line(exc)}"
    elif isinstance(exc, ks.MissingRequiredOptions):
        line = f"clouds.yaml is missing auth options: {_first_line(exc)}"
    elif isinstance(exc, sdk.ResourceTimeout):
        line = _first_line(exc)
    elif isinstance(exc, sdk.HttpException):
        line = f"HTTP {status}: {_first_line(getattr(exc, 'details', None) or exc)}"
    elif isinstance(exc, sdk.SDKException):
        line = _first_line(exc)
    else:
        line = f"{type(exc).__name__}: {_first_line(exc)}"
    return SECRETS.redact(prefix + line)
