"""Helpers shared by the fact parsers: one error type and the few text chores every parser needs."""
import json
import re
from dataclasses import field


class ParseError(ValueError):
    """Command output that a parser could not read; the message names the source and the offending text."""

    def __init__(self, source, detail, text=None):
        message = f"{source}: {detail}"
        if text is not None:
            shown = text if len(text) <= 200 else text[:200] + "..."
            message += f": {shown!r}"
        super().__init__(message)


def lines(text):
    """Non-blank lines of ``text`` with trailing whitespace removed (leading kept: it can carry structure)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def load_json(text, source):
    """``json.loads`` that names the command whose output was not JSON."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as error:
        raise ParseError(source, f"not JSON ({error})", str(text)) from None


def json_list(text, source):
    """The JSON array ``ip -j`` and friends print (``[]`` or nothing for no entries)."""
    if not str(text).strip():
        return []
    data = load_json(text, source)
    if not isinstance(data, list):
        raise ParseError(source, "expected a JSON array", str(text))
    return data


_MAC = re.compile(r"^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$")


def normalize_mac(mac, source="MAC address"):
    """``FA:16:3E:9:F7:3B`` or busybox's ``8:0:27:5b:61:bc`` -> ``fa:16:3e:09:f7:3b``."""
    if not _MAC.match(mac or ""):
        raise ParseError(source, "not a MAC address", mac)
    return ":".join(octet.zfill(2) for octet in mac.lower().split(":"))


def columns():
    """A dataclass field for a mapping column (external_ids, options...): empty by default, left out of ==."""
    return field(default_factory=dict, compare=False)


def table_rows(text, source, min_columns):
    """Rows of a whitespace-aligned table (virsh list, arp -n...) below its header and dashes, split on runs of
    two or more spaces or tabs so that one-space values (``shut off``) stay whole."""
    rows = []
    for line in lines(text)[1:]:
        if set(line.strip()) <= {"-"}:
            continue
        cells = re.split(r"\s{2,}|\t+", line.strip())
        if len(cells) < min_columns:
            raise ParseError(source, f"expected {min_columns} columns", line)
        rows.append(cells)
    return rows
