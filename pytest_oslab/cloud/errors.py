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


def _chain(exc: BaseException):
    seen, cause = set(), exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        cause = cause.__cause__ or cause.__context__


def _innermost_known(exc: BaseException) -> BaseException:
    """openstacksdk wraps keystoneauth's exceptions in its own; the wrapped one says more precisely what failed."""
    from keystoneauth1 import exceptions as ks  # on use: the oslab CLI starts without openstacksdk (0.3 s)
    return next((c for c in _chain(exc) if isinstance(c, (ks.ClientException, ConnectionError))), exc)


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


def _discovery_not_found(exc: BaseException) -> bool:
    """Keystone's version discovery got a 404: the auth URL points somewhere that is not Keystone."""
    from keystoneauth1 import exceptions as ks  # on use: the oslab CLI starts without openstacksdk (0.3 s)
    texts = " ".join(str(e) for e in _chain(exc))
    discovering = any(isinstance(e, ks.DiscoveryFailure) for e in _chain(exc)) or "versioned identity" in texts
    return discovering and ("HTTP 404" in texts or any(getattr(e, "http_status", None) == 404 for e in _chain(exc)))


def describe(exc: BaseException, what: str = "", url: Optional[str] = None) -> str:
    """One line for ``exc``: what was being done, what went wrong, and the usual cause. Secrets masked."""
    from keystoneauth1 import exceptions as ks  # on use: the oslab CLI starts without openstacksdk (0.3 s)
    from openstack import exceptions as sdk

    where = f" at {url}" if url else ""
    prefix = f"{what}: " if what else ""
    if _discovery_not_found(exc):
        return SECRETS.redact(f"{prefix}version discovery{where} answered 404 Not Found: is auth_url Keystone's "
                              f"endpoint (http://HOST:5000/v3, or devstack's http://HOST/identity)? Check auth_url "
                              f"in clouds.yaml")
    exc = _innermost_known(exc)
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
