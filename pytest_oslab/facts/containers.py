"""Containers a node lists: ``podman ps --format json`` (one JSON array, ``Names`` a list) and
``docker ps --format json`` (one JSON object a line, ``Names`` a comma-separated string)."""
from dataclasses import dataclass
from typing import List, Tuple

from ._parse import ParseError, json_list, lines, load_json


@dataclass(frozen=True)
class Container:
    names: Tuple[str, ...]
    image: str
    state: str  # running, exited, created...

    @property
    def name(self) -> str:
        return self.names[0] if self.names else ""

    @property
    def running(self) -> bool:
        return self.state.lower() in ("running", "up") or self.state.lower().startswith("up ")


def _container(record, source) -> Container:
    if not isinstance(record, dict) or "Names" not in record:
        raise ParseError(source, "a container without Names", str(record))
    names = record["Names"]
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    state = record.get("State") or record.get("Status") or ""
    return Container(names=tuple(n.lstrip("/") for n in names), image=str(record.get("Image") or ""),
                     state=str(state))


def parse_ps(text, source="podman/docker ps --format json") -> List[Container]:
    """``podman ps --format json`` or ``docker ps --format json`` (either shape) -> ``[Container]``."""
    stripped = str(text).strip()
    if not stripped or stripped == "null":
        return []
    if stripped.startswith("["):
        return [_container(r, source) for r in json_list(stripped, source)]
    return [_container(load_json(line, source), source) for line in lines(stripped)]
