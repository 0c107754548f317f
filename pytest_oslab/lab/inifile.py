"""Set and delete keys in an INI file in place, keeping the rest of the file (the packages' defaults) as is."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Tuple

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^\s*([^#;=\s][^=]*?)\s*=")


def edit(path: Path, values: Mapping[str, Mapping[str, Optional[object]]], mode: Optional[int] = None,
         group: Optional[str] = None) -> bool:
    """Apply ``{section: {key: value}}`` to the file (``None`` deletes the key). Return True when it changed."""
    path = Path(path)
    lines = path.read_text().splitlines() if path.exists() else []
    pending: Dict[str, Dict[str, Optional[object]]] = {s: dict(kv) for s, kv in values.items()}
    out = []
    managed = {(s, k) for s, kv in values.items() for k in kv}
    section = None  # lines before the first header belong to no section

    def flush(sec: Optional[str]) -> None:
        if sec is None:
            return
        for key, value in list(pending.get(sec, {}).items()):
            if value is not None:
                out.append(f"{key} = {format_value(value)}")
        pending.pop(sec, None)

    for line in lines:
        m = _SECTION.match(line)
        if m:
            flush(section)
            section = m.group(1).strip()
            out.append(line)
            continue
        k = _KEY.match(line)
        if k and section is None and ("DEFAULT", k.group(1).strip()) in managed:
            continue  # a key before any header is invalid for oslo.config: drop it, DEFAULT gets the value
        if k and (section, k.group(1).strip()) in managed:
            key = k.group(1).strip()
            if key in pending.get(section, {}):  # the first assignment takes the value, later ones go
                value = pending[section].pop(key)
                if value is not None:
                    out.append(f"{key} = {format_value(value)}")
            continue
        out.append(line)
    flush(section)
    for sec, kv in pending.items():
        if any(v is not None for v in kv.values()):
            out.append(f"[{sec}]")
            out.extend(f"{k} = {format_value(v)}" for k, v in kv.items() if v is not None)
    text = "\n".join(out) + "\n"
    changed = not path.exists() or path.read_text() != text
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if mode is not None:
        os.chmod(path, mode)
    if group is not None:
        shutil.chown(path, group=group)
    return changed


def read(path: Path) -> Dict[str, Dict[str, str]]:
    """The file's effective values, section by section (last assignment wins)."""
    result: Dict[str, Dict[str, str]] = {}
    section = None
    for line in Path(path).read_text().splitlines():
        m = _SECTION.match(line)
        if m:
            section = m.group(1).strip()
            continue
        k = _KEY.match(line)
        if k and section is not None:
            result.setdefault(section, {})[k.group(1).strip()] = line.split("=", 1)[1].strip()
    return result


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)
