"""``nova-status upgrade check`` (seed 002): a table of ``Check:`` / ``Result:`` / ``Details:`` cells."""
import re
from dataclasses import dataclass
from typing import List, Optional

from ._parse import ParseError, lines


@dataclass(frozen=True)
class UpgradeCheck:
    name: str                 # "Cells v2"
    result: str               # "Success", "Warning", "Failure"
    details: Optional[str]    # None when the table says "None"

    @property
    def ok(self):
        return self.result == "Success"


_CELL = re.compile(r"^\|\s?(.*?)\s*\|$")


def parse_upgrade_check(text) -> List[UpgradeCheck]:
    checks, current = [], None
    for line in lines(text):
        line = line.strip()
        if line.startswith("+"):
            continue
        cell = _CELL.match(line)
        if not cell:
            raise ParseError("nova-status upgrade check", "not a table row", line)
        content = cell.group(1)
        key, sep, value = content.partition(": ")
        if sep and key in ("Check", "Result", "Details"):
            if key == "Check":
                current = {"name": value.strip(), "result": None, "details": []}
                checks.append(current)
            elif current is None:
                raise ParseError("nova-status upgrade check", f"{key} before any Check", line)
            elif key == "Result":
                current["result"] = value.strip()
            else:
                current["details"].append(value.strip())
        elif content.strip() in ("Upgrade Check Results", ""):
            continue
        elif current is not None and current["details"]:
            current["details"].append(content.strip())    # wrapped Details text
        else:
            raise ParseError("nova-status upgrade check", "unexpected cell", line)
    out = []
    for check in checks:
        if check["result"] is None:
            raise ParseError("nova-status upgrade check", f"check {check['name']!r} has no Result", str(text))
        details = " ".join(check["details"]).strip()
        out.append(UpgradeCheck(check["name"], check["result"], None if details in ("", "None") else details))
    return out
