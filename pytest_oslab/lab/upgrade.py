"""``oslab lab upgrade``: the lab from OpenStack's point release to the security updates, in place, as an operator
would do it.

The steps, each checking its own result (a second run says "already done"; a failed step is named and the next
run resumes from it; ``oslab lab up`` also heals a half-upgraded lab):

1. ``upgrade-packages``: every OpenStack package at the security suite's version, the lab's pin removed.
2. ``db-migrations``: each service's schema sync (the lab's own ``db-sync`` commands), then nova's online data
   migrations; recorded for the installed versions.
3. ``restart-<group>`` for each group of ``ROLLING_ORDER`` (control plane, then network agents, then the
   controller's nova-compute), one daemon at a time, each waited for before the next: until it answers and, for
   nova's services and neutron's agents, until its record in nova or neutron shows a report made since the
   restart. Only daemons running older code than their package (or an older configuration) are restarted. Then
   ``restart-compute-nodes``: on a multi-node lab, each compute node's services the same way, one node at a time.
   Guests keep running: nova-compute leaves its domains alone.
4. ``compute-and-agents-ready`` and ``dhcp-served``: the lab's own health checks.
5. ``nova-status``: ``nova-status upgrade check`` must show no Failure (a Warning is printed).

Each progress line is also kept, with its wall-clock time, in the lab's state (``upgrade-timeline.json``), so
that what watched the workload meanwhile (the gate's probes) can place the steps on its own time line.
"""
from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from . import compute_node, daemons, node as nodes
from .databases import SchemaStep, _sync_commands
from .identity import admin_connection
from .release import ReleaseStep, installed_versions, stale_daemons, unpacked_at
from .resources import ComputeReadyStep, DhcpServedStep
from .services import compute_and_agents, identity_api, openstack_apis
from .steps import LabError, Progress, Step
from ..facts.nova_status import parse_upgrade_check


def control_plane(lab) -> List[daemons.Daemon]:
    return identity_api(lab) + openstack_apis(lab)


def network_agents(lab) -> List[daemons.Daemon]:
    return [d for d in compute_and_agents(lab) if d.name.startswith("neutron-")]


def computes(lab) -> List[daemons.Daemon]:
    """The controller's nova-compute (the compute nodes' services are ``ComputeNodesStep``'s)."""
    return [d for d in compute_and_agents(lab) if d.name == "nova-compute"]


ROLLING_ORDER: List[Tuple[str, Callable]] = [
    ("control-plane", control_plane),
    ("network-agents", network_agents),
    ("computes", computes),
]


def openstack_daemons(lab) -> List[daemons.Daemon]:
    return [d for _, group in ROLLING_ORDER for d in group(lab)]


def versions_digest() -> str:
    """A digest of the installed OpenStack packages, each with its version and when dpkg unpacked it: what a
    migration or a check was made for (going down to the point release and up again asks for them again)."""
    text = "\n".join(f"{p}={v}@{unpacked_at(p)}" for p, v in sorted(installed_versions().items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class MigrationsStep(Step):
    """The services' schema syncs (the lab's db-sync commands) and nova's online data migrations."""

    name = "db-migrations"

    def done(self, lab) -> bool:
        marker = lab.marker("migrated")
        return marker.exists() and marker.read_text().strip() == versions_digest()

    def run(self, lab) -> None:
        digest = versions_digest()
        for svc in _sync_commands(lab):
            lab.marker(f"dbsync-{svc}").unlink(missing_ok=True)
        SchemaStep().run(lab)
        # exit 1 means "some migrated, run again"; 0 "nothing left"; anything else is an error
        daemons.run_as("nova", ["sh", "-c", "for i in 1 2 3 4 5; do nova-manage db online_data_migrations; rc=$?; "
                                            "[ $rc = 1 ] || exit $rc; done; exit 1"],
                       log=lab.logs / "dbsync-nova.log", what="nova-manage db online_data_migrations")
        lab.marker("migrated").write_text(digest + "\n")


REPORT_TIMEOUT = 120.0  # nova's and the lab's neutron agents' report_interval is 10 s


def reports(name: str) -> bool:
    """Whether a daemon has a record in nova's services or neutron's agents (the APIs have none)."""
    return name.startswith(("nova-", "neutron-")) and name not in ("nova-api", "neutron-server")


def _utc(value) -> Optional[datetime]:
    """nova's ``2026-11-25T23:35:57.000000`` or neutron's ``2026-11-25 23:35:57`` (both UTC) as a naive datetime."""
    return datetime.fromisoformat(str(value).replace(" ", "T").rstrip("Z")) if value else None


def last_report(conn, name: str, host: str) -> Optional[datetime]:
    """When nova's service record or neutron's agent record of a daemon on this host was last updated."""
    if name.startswith("nova-"):
        times = [_utc(s.updated_at) for s in conn.compute.services() if s.binary == name and s.host == host]
    else:
        times = [_utc(a.last_heartbeat_at) for a in conn.network.agents() if a.binary == name and a.host == host]
    return max((t for t in times if t), default=None)


def wait_reported(lab, name: str, host: str, since: datetime, log) -> None:
    """Until the service ``name`` on ``host`` has reported to nova or neutron since ``since``."""
    conn = admin_connection(lab)
    deadline = time.monotonic() + REPORT_TIMEOUT
    while True:
        last = last_report(conn, name, host)
        if last and last >= since:
            return
        if time.monotonic() > deadline:
            raise LabError(f"{name} on {host} restarted but its last report to {name.split('-')[0]} is {last} "
                           f"(expected one since {since})", log=str(log))
        time.sleep(2)


def _now() -> datetime:
    """UTC now as nova and neutron write their report times (naive, to the second)."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


class RollingRestartStep(Step):
    """Restart a group's daemons that run older code or configuration, one at a time, each answering before the
    next is touched."""

    def __init__(self, name: str, group: Callable):
        self.name = f"restart-{name}"
        self.group = group

    def _todo(self, lab) -> List[daemons.Daemon]:
        group = self.group(lab)
        old = {d.name for d in stale_daemons(lab, group)}
        return [d for d in group if d.name in old or not daemons.recorded_pid(d, lab.pids)
                or daemons.outdated(d, lab.pids)]

    def done(self, lab) -> bool:
        return not self._todo(lab) and all(daemons.is_ready(d) for d in self.group(lab))

    def run(self, lab) -> None:
        for d in self._todo(lab):
            daemons.stop(d, lab.pids)
            since = _now()
            pid = daemons.start(d, lab.pids)
            daemons.wait_ready(d, lab.pids)
            if reports(d.name):
                wait_reported(lab, d.name, lab.hostname, since, d.log)
            self.say(f"{d.name} restarted (pid {pid})" + (", reported" if reports(d.name) else ""))
        for d in self.group(lab):
            if not daemons.is_ready(d):
                daemons.wait_ready(d, lab.pids)


class ComputeNodesStep(Step):
    """Each compute node of a multi-node lab, one node at a time: its OpenStack services that run older code than
    the packages (nova-compute, the L2 agent) restarted, and each reporting to nova or neutron again before the
    next node is touched. Their guests keep running."""

    name = "restart-compute-nodes"

    def _nodes(self, lab) -> List[nodes.Node]:
        return [n for n in nodes.made(lab) if compute_node.is_compute(n) and nodes.init_pid(n)]

    def done(self, lab) -> bool:
        return not any(compute_node.stale(n) for n in self._nodes(lab))

    def run(self, lab) -> None:
        for node in self._nodes(lab):
            old = [Path(word).name for word in compute_node.stale(node)]
            if not old:
                continue
            since = _now()
            compute_node.up(node)  # stops what runs old code and starts it again
            for name in old:
                if reports(name):
                    wait_reported(lab, name, node.name, since, node.logs)
            self.say(f"node {node.name}: {', '.join(old)} restarted and reported")


class NovaStatusStep(Step):
    """``nova-status upgrade check`` after the upgrade: no check may fail."""

    name = "nova-status"

    def done(self, lab) -> bool:
        marker = lab.marker("nova-status")
        return marker.exists() and marker.read_text().strip() == versions_digest()

    def run(self, lab) -> None:
        log = lab.logs / "nova-status.log"
        # nova-status exits 1 on a warning and 2 on a failure: the table says which, so it is read either way
        text = daemons.run_as("nova", ["sh", "-c", "nova-status upgrade check; true"], log=log,
                              what="nova-status upgrade check")
        checks = parse_upgrade_check(text)
        failed = [c for c in checks if c.result == "Failure"]
        if failed:
            raise LabError("; ".join(f"{c.name}: {c.result} ({c.details})" for c in failed), log=str(log))
        for c in checks:
            if not c.ok:
                self.say(f"{c.name}: {c.result}: {c.details}")
        lab.marker("nova-status").write_text(versions_digest() + "\n")


class TimelineProgress(Progress):
    """Progress lines, also kept with their epoch time in ``path``: a JSON list of runs (the last ``KEEP``), each
    ``{"started": 1764112800.0, "lines": [{"time": 1764112800.9, "line": "upgrade-packages ..."}, ...]}``, written
    after each line, so a run cut short still leaves its lines and a second run does not hide the first."""

    KEEP = 10

    def __init__(self, path, **kwargs):
        super().__init__(**kwargs)
        self.path = path
        try:
            self.runs = json.loads(path.read_text())[-(self.KEEP - 1):]
        except (OSError, ValueError):
            self.runs = []
        self.runs.append({"started": round(time.time(), 3), "lines": []})

    def line(self, text: str) -> None:
        super().line(text)
        self.runs[-1]["lines"].append({"time": round(time.time(), 3), "line": text})
        self.path.write_text(json.dumps(self.runs, indent=1) + "\n")


def timeline(lab):
    return lab.state / "upgrade-timeline.json"


def steps(lab) -> List[Step]:
    return [
        ReleaseStep("security", name="upgrade-packages"),
        MigrationsStep(),
        *[RollingRestartStep(name, group) for name, group in ROLLING_ORDER],
        ComputeNodesStep(),
        ComputeReadyStep(),
        DhcpServedStep(),
        NovaStatusStep(),
    ]

