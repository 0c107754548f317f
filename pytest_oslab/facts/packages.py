"""The packages a node has installed, from its package manager's machine-readable listing:
``dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'`` (Debian, Ubuntu) or
``rpm -qa --qf '%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\tii \\n'`` (the same three columns)."""
from typing import Dict

from ._parse import lines

DPKG = "dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'"
RPM = "rpm -qa --qf '%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\tii \\n'"
COMMAND = f"if command -v dpkg-query >/dev/null; then {DPKG}; else {RPM}; fi"


def installed(text: str) -> Dict[str, str]:
    """{package: version} of the installed packages (dpkg status ``ii``; a half-installed one is left out)."""
    found = {}
    for line in lines(text):
        fields = line.split("\t")
        if len(fields) == 3 and fields[2].startswith("ii"):
            found[fields[0]] = fields[1]
    return found
