"""Kernel parameters from ``sysctl KEY...`` (``net.bridge.bridge-nf-call-iptables = 1``).

A key the kernel does not have is left out of the result (``sysctl`` says so on stderr): the ``net.bridge.*``
keys exist only while ``br_netfilter`` is loaded (or built in).
"""
from typing import Dict

from ._parse import ParseError, lines


def parse_sysctl(text) -> Dict[str, str]:
    """``sysctl KEY...`` output -> ``{key: value}``."""
    found = {}
    for line in lines(text):
        key, sep, value = line.partition(" = ")
        if not sep:
            raise ParseError("sysctl", "expected 'key = value'", line)
        found[key.strip()] = value.strip()
    return found
