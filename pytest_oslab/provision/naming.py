"""Run id, tags and names: how the suite recognises what it made, and only that.

Every resource a run creates carries the Neutron/Nova tags ``oslab`` and ``oslab-run-<runid>``; resources that
cannot be tagged (keypairs, flavors) are named ``oslab-<runid>-...``. Under pytest-xdist all workers share the
controller's run id and add their worker id to names (``oslab-<runid>-gw1-net``), so no two workers clash.
"""
from __future__ import annotations

import re
import secrets as _random
import time
from dataclasses import dataclass

TAG = "oslab"
RUN_TAG_PREFIX = "oslab-run-"
# oslab-<runid>-... where runid is <yymmddHHMM><4 hex>, the shape new_run_id() makes
NAME_RE = re.compile(r"^oslab-(?P<run>\d{10}[0-9a-f]{4})-")


def new_run_id() -> str:
    """A short sortable id: UTC minute of the start and 4 random hex digits (``2405121530a3f9``)."""
    return time.strftime("%y%m%d%H%M", time.gmtime()) + _random.token_hex(2)


@dataclass(frozen=True)
class Naming:
    run_id: str
    worker: str = ""  # "gw0", "gw1", ... under xdist, "" otherwise

    @property
    def tags(self) -> list:
        return [TAG, RUN_TAG_PREFIX + self.run_id]

    @property
    def prefix(self) -> str:
        return f"oslab-{self.run_id}-" + (f"{self.worker}-" if self.worker else "")

    def name(self, what: str) -> str:
        return self.prefix + re.sub(r"[^A-Za-z0-9_.-]+", "-", what).strip("-")


def run_of(tags=None, name: str = "") -> str:
    """The run id a resource belongs to, from its tags or (untaggable kinds) its name; '' when not ours."""
    for tag in tags or []:
        if tag.startswith(RUN_TAG_PREFIX):
            return tag[len(RUN_TAG_PREFIX):]
    if tags and TAG in tags:
        return "?"
    match = NAME_RE.match(name or "")
    return match.group("run") if match else ""
