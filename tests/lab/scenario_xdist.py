"""Two workers provisioning at once (run with -n 2): names carry the worker, the run id is shared."""
import json
import os

import pytest


@pytest.mark.parametrize("i", range(4))
def test_worker_resources(i, selfservice_network, selfservice_subnet, security_group, keypair, oslab):
    record("made", {"worker": oslab.settings.worker, "run": oslab.settings.run_id,
                    "network": [selfservice_network.id, selfservice_network.name],
                    "subnet": [selfservice_subnet.id, selfservice_subnet.cidr],
                    "sg": security_group.id, "keypair": keypair.name})


def record(kind, value):
    """Tell the outer test what this run made (a JSON line in $OSLAB_SCENARIO_OUT)."""
    with open(os.environ["OSLAB_SCENARIO_OUT"], "a") as f:
        f.write(json.dumps([kind, value]) + "\n")
