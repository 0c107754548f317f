"""What every check shares: how it names what it looked at, how it fails, and where its evidence goes.

A check gathers one fact from a node (through ``pytest_oslab.facts``), compares it with the value the API gives,
and either returns quietly or raises ``CheckFailed``: an ``AssertionError`` whose message says what was expected
and what was found, and names the objects (server, port, network, device, namespace, node). Every command a
check runs is kept as evidence: attached to the running test (``pytest_oslab.evidence``, whose one tracker the
plugin binds for every test) and carried on the exception, so a failure can be read without logging in anywhere.
Outside a test the evidence is only kept on the exception and in ``recorded()`` blocks (the unit tests use those).
"""
from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

from pytest_oslab import evidence
from pytest_oslab.evidence import bind  # noqa: F401 - the checks' name for it (tests bind an item by hand)

T = TypeVar("T")
CLOCK = [time.monotonic, time.sleep]  # (now, sleep) of every wait: a replay of recorded outputs swaps in its own
_STATE = threading.local()


class CheckFailed(AssertionError):
    """A documented fact that does not hold; the message names the objects and shows expected against actual."""

    def __init__(self, message: str, evidence: Optional[List[Tuple[str, str]]] = None):
        super().__init__(message)
        self.evidence = list(evidence or [])


class CheckSkipped(Exception):
    """The fact cannot be judged on this cloud (a driver, an agent or rights it lacks); the message says why."""


def _sinks() -> List[List[Tuple[str, str]]]:
    if not hasattr(_STATE, "sinks"):
        _STATE.sinks = []
    return _STATE.sinks


@contextlib.contextmanager
def recorded() -> Iterator[List[Tuple[str, str]]]:
    """Collect the evidence attached inside the block: ``with recorded() as evidence: check_...()``."""
    sink: List[Tuple[str, str]] = []
    _sinks().append(sink)
    try:
        yield sink
    finally:
        sinks = _sinks()
        del sinks[next(i for i, s in enumerate(sinks) if s is sink)]  # by identity: nested sinks compare equal


def attach(title: str, text: str) -> None:
    """Keep ``text`` as evidence under ``title``: on the running test's report and in open ``recorded()`` blocks.

    Inside ``wait_until`` only the last attempt's evidence reaches the report."""
    for sink in _sinks():
        sink.append((title, evidence.trim(text or "")))
    held = getattr(_STATE, "held", None)
    if held is not None:
        held.append((title, text or ""))
    else:
        _to_item(title, text or "")


def _to_item(title: str, text: str) -> None:
    evidence.attach(title, text)


def short_id(value: Optional[str]) -> str:
    return (value or "?")[:8]


def label(resource, kind: str = "") -> str:
    """``selfservice (8cc956e4)`` for an API resource with a name and an id; the id alone when it has no name."""
    if resource is None:
        return "?"
    name = getattr(resource, "name", None)
    rid = getattr(resource, "id", None)
    text = f"{name} ({short_id(rid)})" if name else (rid or "?")
    return f"{kind} {text}".strip()


@dataclass(frozen=True)
class Where:
    """The objects a check looked at, for its failure message: ``server vm1 (5aa817f3), port 60ad2c85-f3...``."""

    server: object = None
    port: object = None
    network: object = None
    device: Optional[str] = None
    namespace: Optional[str] = None
    node: Optional[str] = None
    chain: Optional[str] = None

    def __str__(self) -> str:
        parts = []
        if self.server is not None:
            parts.append(label(self.server, "server"))
        if self.port is not None:
            parts.append(f"port {getattr(self.port, 'id', self.port)}")
        if self.network is not None:
            parts.append(label(self.network, "network"))
        if self.chain:
            parts.append(f"chain {self.chain}")
        if self.device:
            parts.append(f"device {self.device}")
        if self.namespace:
            parts.append(f"namespace {self.namespace}")
        if self.node:
            parts.append(f"node {self.node}")
        return ", ".join(parts)


class Check:
    """One documented fact being judged: collect every mismatch, then fail once with all of them.

    ::

        with Check("the tap is UP at the network's MTU", Where(port=port, node=n.name)) as c:
            c.expect("MTU", network.mtu, link.mtu, "network MTU")
    """

    def __init__(self, statement: str, where: Where = Where()):
        self.statement = statement
        self.where = where
        self.problems: List[str] = []
        self._evidence: Optional[List[Tuple[str, str]]] = None
        self._recording = None

    def expect(self, what: str, expected, actual, source: str = "") -> bool:
        """Record a mismatch of ``what`` unless ``expected == actual``; ``source`` says where ``expected`` came from."""
        if expected == actual:
            return True
        origin = f" ({source})" if source else ""
        self.problems.append(f"{what}: expected {_show(expected)}{origin}, actual {_show(actual)}")
        return False

    def require(self, condition, problem: str) -> bool:
        if not condition:
            self.problems.append(problem)
        return bool(condition)

    def fail(self, problem: str) -> None:
        """Stop here: this problem makes the rest of the fact impossible to judge."""
        self.problems.append(problem)
        raise self._error()

    def _error(self) -> CheckFailed:
        where = f" [{self.where}]" if str(self.where) else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return CheckFailed(f"{self.statement}{where}:\n{lines}", self._evidence)

    def __enter__(self) -> "Check":
        self._recording = recorded()
        self._evidence = self._recording.__enter__()
        return self

    def __exit__(self, kind, value, tb) -> bool:
        self._recording.__exit__(None, None, None)
        if isinstance(value, CheckFailed):
            if not value.evidence:
                value.evidence = list(self._evidence)
            return False
        if kind is None and self.problems:
            raise self._error()
        return False


def _show(value) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        return "[" + ", ".join(str(v) for v in items) + "]"
    if value is None:
        return "nothing"
    return repr(value) if isinstance(value, str) and (value == "" or " " in value) else str(value)


def wait_until(probe: Callable[[], T], timeout: float, interval: float = 2.0) -> T:
    """Call ``probe`` until it stops raising ``CheckFailed`` or ``timeout`` seconds pass; the last failure is
    raised then (a check with ``timeout=0`` is judged once)."""
    now, sleep = CLOCK
    deadline = now() + max(0.0, timeout)
    outer = getattr(_STATE, "held", None)
    while True:
        _STATE.held = []
        try:
            result = probe()
        except CheckFailed as failure:
            if now() + interval > deadline:
                _release(outer)
                if timeout > 0:
                    first, _, rest = str(failure).partition("\n")
                    raise CheckFailed(f"{first} (still so after {timeout:.0f}s)\n{rest}", failure.evidence) from None
                raise
        except BaseException:
            _release(outer)
            raise
        else:
            _release(outer)
            return result
        _STATE.held = outer
        sleep(interval)


def _release(outer) -> None:
    """Hand the last attempt's evidence on: to an enclosing wait, else to the running test."""
    held, _STATE.held = _STATE.held, outer
    for title, text in held or ():
        if outer is not None:
            outer.append((title, text))
        else:
            _to_item(title, text)


def on_each(items, check: Callable[..., object]) -> None:
    """Run ``check(item)`` for every item (a node, a port...) and fail once with every failure, so that one bad node
    does not hide another. Items judged on different nodes run in parallel (``per_node``)."""
    failures: List[CheckFailed] = []
    for item, failure in per_node(items, check):
        if failure is not None:
            failures.append(failure)
    _fail_with(failures)


# nodes asked at once; a node's own items run one after another on its one connection. bench/suite.py's P4 over
# SSH: 16 nodes took 2.6 times one node's time with 16 (this machine's CPU floor: 2.6), 3.8 times with 4
NODE_WORKERS = 16


def node_name(item) -> Optional[str]:
    """The node ``item`` is judged on: a NodeFacts (a ``name`` and a ``host``), or one as its ``node`` or first
    element (``Served(node, port)``, ``(node, port)``); None when it names no node."""
    for candidate in (item, getattr(item, "node", None), item[0] if isinstance(item, tuple) and item else None):
        if candidate is not None and hasattr(candidate, "host") and isinstance(getattr(candidate, "name", None), str):
            return candidate.name
    return None


def per_node(items, call: Callable[..., T]) -> List[Tuple[object, Optional[CheckFailed]]]:
    """``call(item)`` for every item, the items of different nodes in parallel (at most NODE_WORKERS nodes at once),
    each node's items in order; ``[(result, failure)]`` in the items' order. The evidence each call attached is
    handed on in the items' order, as if they had run one after another; an error that is not a CheckFailed is
    raised (the first in order) once every item ran."""
    items = list(items)
    groups: Dict[object, List[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(node_name(item) or ("item", index), []).append(index)
    done: List[tuple] = [None] * len(items)

    def run(indexes: List[int]) -> None:
        for index in indexes:
            outer, _STATE.held = getattr(_STATE, "held", None), []
            sinks, _STATE.sinks = _sinks(), []  # the caller's recorded() blocks get the evidence once, below
            try:
                done[index] = (call(items[index]), None, None, _STATE.held)
            except CheckFailed as failure:
                done[index] = (None, failure, None, _STATE.held)
            except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread, in order
                done[index] = (None, None, error, _STATE.held)
            finally:
                _STATE.held, _STATE.sinks = outer, sinks

    named = [g for g in groups if not isinstance(g, tuple)]
    if len(named) < 2:
        for indexes in groups.values():
            run(indexes)
    else:
        with ThreadPoolExecutor(max_workers=min(NODE_WORKERS, len(groups)), thread_name_prefix="oslab-node") as pool:
            for future in [pool.submit(run, indexes) for indexes in groups.values()]:
                future.result()
    out = []
    for result, failure, error, held in done:
        for title, text in held:
            attach(title, text)
        if error is not None:
            raise error
        out.append((result, failure))
    return out


def on_any(items, check: Callable[..., object]) -> None:
    """Pass as soon as ``check(item)`` holds for one item (any DHCP node may answer a guest); when it holds for
    none, fail once with every item's failure."""
    failures: List[CheckFailed] = []
    for item in items:
        try:
            check(item)
            return
        except CheckFailed as failure:
            failures.append(failure)
    _fail_with(failures or [CheckFailed("nothing to judge the fact on: no item was given")])


def _fail_with(failures: List[CheckFailed]) -> None:
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise CheckFailed("\n".join(str(f) for f in failures), [e for f in failures for e in f.evidence])
