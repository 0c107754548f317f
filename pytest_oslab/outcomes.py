"""The core's errors as pytest outcomes: what cannot be judged on this cloud is a skip with its reason, what is
broken is a one-line failure (no traceback of the plugin's own code)."""
from __future__ import annotations

import contextlib
from typing import Optional

import pytest
from keystoneauth1.exceptions import ClientException
from openstack.exceptions import SDKException

from pytest_oslab.access.guests import GuestError
from pytest_oslab.access.inventory import InventoryError
from pytest_oslab.access.nodes import NodeError, NodeNotConfigured
from pytest_oslab.access.ssh import CommandTimeout, SSHError
from pytest_oslab.checks.guests import NotRoot
from pytest_oslab.cloud.errors import CloudError, describe
from pytest_oslab.config import ConfigError
from pytest_oslab.provision.resources import NotFound
from pytest_oslab.provision.servers import BootError
from pytest_oslab.session import Unavailable


ONE_LINE_ERRORS = (ConfigError, CloudError, NodeError, GuestError, BootError, InventoryError,
                   CommandTimeout, SSHError)  # each already phrased as one line for the operator


def one_line(exc: BaseException, what: str = "") -> Optional[str]:
    """The line an operator reads for one of the core's errors or an SDK/keystoneauth one; None for others."""
    if isinstance(exc, ONE_LINE_ERRORS):
        return f"oslab: {exc}"
    if isinstance(exc, (SDKException, ClientException)):
        return f"oslab: {describe(exc, what)}"
    return None


@contextlib.contextmanager
def outcome(what: str = ""):
    """Turn the core's errors into pytest outcomes: a skip with its reason, or a one-line failure."""
    skip = fail = None
    try:
        yield
    except (Unavailable, NotFound, NodeNotConfigured, NotRoot) as e:
        skip = str(e)
    except Exception as e:
        fail = one_line(e, what)
        if fail is None:
            raise
    # raised outside the except blocks, so the report shows the one line and no chained traceback
    if skip is not None:
        raise pytest.skip.Exception(skip) from None
    if fail is not None:
        raise pytest.fail.Exception(fail, pytrace=False) from None
