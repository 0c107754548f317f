"""The lab tests run against the embedded lab cloud (``oslab lab up``). When it is not up they are skipped
with the reason, unless OSLAB_REQUIRE_LAB=1 (CI), in which case they fail with it."""
import functools
import os
import subprocess
import sys

import pytest


@functools.lru_cache(maxsize=None)
def lab_state():
    """(up, one line): ``oslab lab status`` exits 0 when every lab service runs."""
    try:
        done = subprocess.run([sys.executable, "-m", "pytest_oslab.cli", "lab", "status"], capture_output=True,
                              text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False, "oslab lab status did not answer within 120s"
    last = (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or ["no output"])[-1]
    return done.returncode == 0, f"oslab lab status exited {done.returncode}: {last}"


@pytest.fixture(scope="session", autouse=True)
def lab_up():
    up, line = lab_state()
    if not up:
        reason = f"the lab is not up ({line}); bring it up with `oslab lab up`"
        if os.environ.get("OSLAB_REQUIRE_LAB") == "1":
            pytest.fail(f"OSLAB_REQUIRE_LAB=1: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def entries(lab):
    """The lab's nodes as its clouds.yaml names them (``lab``: the module's own fixture, the lab it tests)."""
    from pytest_oslab.lab import identity
    return identity.node_entries(lab)


@pytest.fixture(scope="module")
def pool(entries):
    """The nodes as the suites reach them: clouds.yaml's entries, host keys only as known_hosts has them."""
    from pytest_oslab.access.inventory import Inventory
    from pytest_oslab.access.nodes import NodePool
    made = NodePool(Inventory.build(entries), timeout=20, host_key_policy="strict")
    yield made
    made.close()
