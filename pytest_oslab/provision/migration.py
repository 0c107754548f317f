"""Moving a server to another compute, as an operator does (admin API): a cold migration confirmed
(``migrate`` -> VERIFY_RESIZE -> ``confirmResize``) or a live migration. Each wait is bounded; a migration that
nova could not do raises ``MigrationFailed`` with nova's own words (the migration record's status, the server's
fault, the failed action event), so that a test can tell "this machine cannot" from "this cloud got it wrong".
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from openstack import exceptions as sdk_errors

DONE = {"finished", "confirmed", "completed", "done"}
FAILED = {"error", "failed", "cancelled"}


class MigrationFailed(Exception):
    """nova did not move the server; the message carries nova's reason."""


def latest_migration(conn, server_id: str):
    found = sorted(conn.compute.migrations(server_id=server_id), key=lambda m: (m.created_at or "", str(m.id)))
    return found[-1] if found else None


def reason(conn, server_id: str, migration=None) -> str:
    """nova's words on a failed move: the migration's status, the server's fault, the last failed action event."""
    parts = []
    if migration is not None:
        parts.append(f"migration {migration.id} {migration.status}")
    server = conn.compute.get_server(server_id)
    fault = getattr(server, "fault", None) or {}
    if fault.get("message"):
        parts.append(f"fault: {fault['message']}")
    try:
        actions = sorted(conn.compute.server_actions(server_id), key=lambda a: a.start_time or "")
        if actions:
            action = conn.compute.get_server_action(actions[-1].request_id, server_id)
            for event in action.events or []:
                field = event.get if isinstance(event, dict) else lambda name, e=event: getattr(e, name, None)
                if (field("result") or "").lower() == "error":
                    # the exception's message (``details``, compute API 2.84); else the traceback's last line
                    said = field("details") or ((field("traceback") or "").strip().splitlines() or [""])[-1].strip()
                    parts.append(f"{actions[-1].action} event {field('event')}: {said}".strip())
    except Exception:  # noqa: BLE001 - the reason is best effort; the failure itself is already known
        pass
    return "; ".join(parts) or f"server {server_id} status {server.status}"


def _wait(conn, server_id: str, timeout: float, settled: Callable[[object, object], Optional[str]],
          poll: float = 3.0):
    deadline = time.monotonic() + timeout
    while True:
        server = conn.compute.get_server(server_id)
        migration = latest_migration(conn, server_id)
        verdict = settled(server, migration)
        if verdict == "ok":
            return server
        if verdict == "failed" or server.status == "ERROR":
            raise MigrationFailed(reason(conn, server_id, migration))
        if time.monotonic() + poll > deadline:
            raise MigrationFailed(f"not done within {timeout:.0f}s (server {server.status}, task "
                                  f"{server.task_state or 'none'}, migration "
                                  f"{migration.status if migration is not None else 'none'})")
        time.sleep(poll)


def _ask(kind: str, request: Callable[[], object]) -> None:
    """Ask nova for the move; a refusal (409: the source's compute service seen down, a task in progress, ...)
    is nova's reason too, said with its own words."""
    try:
        request()
    except sdk_errors.ConflictException as e:
        raise MigrationFailed(f"nova refused the {kind} migration: {e}") from None


def cold_migrate(conn, server, timeout: float, host: Optional[str] = None):
    """Cold-migrate ``server`` (to ``host``, else where the scheduler picks) and confirm it; the server, ACTIVE,
    where it went."""
    before = latest_migration(conn, server.id)
    _ask("cold", lambda: conn.compute.migrate_server(server, host=host))

    def settled(now, migration):
        if migration is None or (before is not None and migration.id == before.id):
            return None
        if migration.status in FAILED:
            return "failed"
        return "ok" if now.status == "VERIFY_RESIZE" else None
    _wait(conn, server.id, timeout, settled)
    conn.compute.confirm_server_resize(server)
    return _wait(conn, server.id, timeout,
                 lambda now, m: "ok" if now.status == "ACTIVE" and not now.task_state else None)


def live_migrate(conn, server, timeout: float, block_migration=True, host: Optional[str] = None):
    """Live-migrate ``server`` (to ``host``, else where the scheduler picks); the server, ACTIVE, where it went."""
    before = latest_migration(conn, server.id)
    _ask("live", lambda: conn.compute.live_migrate_server(server, host=host, block_migration=block_migration))

    def settled(now, migration):
        if migration is None or (before is not None and migration.id == before.id):
            return None
        if migration.status in FAILED:
            return "failed"
        if migration.status in DONE and now.status == "ACTIVE" and not now.task_state:
            return "ok"
        return None
    return _wait(conn, server.id, timeout, settled)
