"""Boot servers, several at once, and wait for them with a bounded, visible wait.

All requested servers are created first, then polled together: each state change is shown as a progress line
(name, state, task state, elapsed) and a reminder every ``tick`` seconds keeps a long boot from looking hung.
A server in ERROR fails the boot with its fault message; one still building at the deadline fails it with the
state it was stuck in. ``boot_each`` instead waits for every server to settle and returns the failures by server,
for callers whose servers serve unrelated tests. Every server is on the stack from the moment the API returned it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from pytest_oslab.provision.naming import Naming
from pytest_oslab.provision.stack import ResourceStack


class BootError(Exception):
    """One or more servers failed to boot; the message is one line per server, ``failed`` holds those servers."""

    def __init__(self, message: str, failed: Sequence[Any] = ()):
        super().__init__(message)
        self.failed = list(failed)


@dataclass
class ServerSpec:
    """What to boot. ``network`` or ``ports`` (or both) give the NICs, in order."""

    network: Any = None
    ports: Sequence[Any] = ()
    name: str = "server"
    image: Any = None
    flavor: Any = None
    security_groups: Optional[Sequence[Any]] = None
    user_data: Optional[str] = None
    availability_zone: Optional[str] = None
    host: Optional[str] = None  # the compute to boot on (``<zone or nova>:<host>``: admin rights, by nova's policy)
    group: Any = None  # a server group (its policy places the server among its members)
    floating_ip: bool = False  # give the server a floating IP on the external network once ACTIVE
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, spec) -> "ServerSpec":
        if isinstance(spec, cls):
            return spec
        if isinstance(spec, dict):
            known = {k: v for k, v in spec.items() if k in cls.__dataclass_fields__ and k != "extra"}
            return cls(**known, extra={k: v for k, v in spec.items() if k not in known})
        return cls(network=spec)  # a bare network


def placement(zone: Optional[str], host: Optional[str]) -> str:
    """nova's ``availability_zone`` for a server in ``zone`` (default ``nova``), on ``host`` if named."""
    return f"{zone or 'nova'}:{host}" if host else zone


def fault_of(server) -> str:
    fault = getattr(server, "fault", None) or {}
    message = fault.get("message") or "no fault recorded"
    details = (fault.get("details") or "").strip().splitlines()
    last = details[-1].strip() if details else ""
    return message + (f" ({last})" if last and last not in message else "")


class ServerFactory:
    def __init__(self, conn, naming: Naming, image, flavor, keypair_name: str, security_groups: Sequence[Any],
                 timeout: float, progress: Callable[[str], None] = print, poll: float = 2.0, tick: float = 15.0):
        self.conn = conn
        self.naming = naming
        self.image = image
        self.flavor = flavor
        self.keypair_name = keypair_name
        self.security_groups = list(security_groups)
        self.timeout = timeout
        self.progress = progress
        self.poll = poll
        self.tick = tick
        self._seq = 0

    def _unique(self, what: str) -> str:
        self._seq += 1
        return self.naming.name(f"{what}-{self._seq}")

    def _create(self, stack: ResourceStack, spec: ServerSpec):
        c = self.conn.compute
        nics = ([{"port": p.id} for p in spec.ports]
                + ([{"uuid": spec.network.id}] if spec.network is not None else []))
        if not nics:
            raise BootError(f"server spec {spec.name!r} names no network and no port")
        attrs = dict(spec.extra)
        if spec.user_data:
            attrs["user_data"] = spec.user_data
        if spec.availability_zone or spec.host:
            attrs["availability_zone"] = placement(spec.availability_zone, spec.host)
        if spec.group is not None:
            attrs["scheduler_hints"] = {"group": spec.group.id}
        if self.keypair_name:  # none: a server nobody logs into (nova refuses a null key_name)
            attrs["key_name"] = self.keypair_name
        groups = self.security_groups if spec.security_groups is None else list(spec.security_groups)
        server = c.create_server(
            name=self._unique(spec.name), image_id=(spec.image or self.image).id,
            flavor_id=(spec.flavor or self.flavor).id, networks=nics,
            security_groups=[{"name": g.id} for g in groups], tags=self.naming.tags, **attrs)
        stack.push("server", f"{server.name} ({server.id})", lambda: c.delete_server(server.id, ignore_missing=True),
                   lambda: c.find_server(server.id, ignore_missing=True) is not None)
        return server

    def _create_all(self, stack: ResourceStack, specs: Sequence[Any]) -> Tuple[List[Any], float]:
        start = time.monotonic()
        return [self._create(stack, ServerSpec.of(s)) for s in specs], start

    def boot(self, stack: ResourceStack, specs: Sequence[Any]) -> List[Any]:
        """Create every server of ``specs``, then wait until all are ACTIVE; BootError (one line each) if not."""
        return self.wait_active(*self._create_all(stack, specs))

    def boot_each(self, stack: ResourceStack, specs: Sequence[Any]) -> Tuple[List[Any], Dict[str, str]]:
        """Like ``boot``, but one server's failure is not every server's: wait until each is ACTIVE, in ERROR or
        out of time, and return the servers (in ``specs`` order) with the failed ones' lines by server id."""
        return self.settle(self.start(stack, specs))

    def start(self, stack: ResourceStack, specs: Sequence[Any]) -> Tuple[List[Any], float]:
        """Create every server of ``specs`` and return at once (the cloud boots them meanwhile); ``settle`` waits."""
        return self._create_all(stack, specs)

    def settle(self, started: Tuple[List[Any], float]) -> Tuple[List[Any], Dict[str, str]]:
        """``boot_each``'s wait for the servers ``start`` created (their times counted from their creation)."""
        return self._wait(*started, settle_all=True)

    def wait_active(self, servers: List[Any], start: Optional[float] = None) -> List[Any]:
        """Wait until every server is ACTIVE; BootError at the first one in ERROR, or at the deadline."""
        current, failures = self._wait(servers, time.monotonic() if start is None else start, settle_all=False)
        if failures:
            raise BootError("; ".join(failures.values()), failed=[s for s in current if s.id in failures])
        return current

    def _wait(self, servers: List[Any], start: float, settle_all: bool) -> Tuple[List[Any], Dict[str, str]]:
        c = self.conn.compute
        deadline = start + self.timeout
        seen: Dict[str, str] = {}
        current = {s.id: s for s in servers}
        failures: Dict[str, str] = {}
        last_tick = time.monotonic()
        while True:
            pending = []
            for sid in current:
                if sid in failures:
                    continue
                server = current[sid] = c.get_server(sid)
                state = f"{server.status}" + (f"/{server.task_state}" if server.task_state else "")
                if seen.get(sid) != state:
                    seen[sid] = state
                    self.progress(f"server {server.name}: {state} after {time.monotonic() - start:.1f}s")
                if server.status == "ERROR":
                    failures[sid] = (f"server {server.name} ({sid}) went to ERROR after "
                                     f"{time.monotonic() - start:.1f}s: {fault_of(server)}")
                elif server.status != "ACTIVE":
                    pending.append(server)
            if not pending or (failures and not settle_all):
                return [current[s.id] for s in servers], failures
            now = time.monotonic()
            if now >= deadline:
                failures.update({s.id: f"server {s.name} ({s.id}) still {seen[s.id]} after {self.timeout:.0f}s "
                                       f"(--oslab-timeout)" for s in pending})
                return [current[s.id] for s in servers], failures
            if now - last_tick >= self.tick:
                last_tick = now
                self.progress("waiting for " + ", ".join(f"{s.name} {seen[s.id]}" for s in pending)
                              + f" ({now - start:.0f}s of {self.timeout:.0f}s)")
            time.sleep(min(self.poll, max(0.0, deadline - now)))
