"""The ``oslab`` command: ``oslab lab up|status|down``, ``oslab cleanup`` and ``oslab history``."""
from __future__ import annotations

import sys
from typing import List, Optional

from pytest_oslab.lab.cli import main as lab_main
from pytest_oslab.provision.cleanup import main as cleanup_main
from pytest_oslab.report.index import main as history_main

USAGE = """usage: oslab lab {up,status,down} [options]
       oslab cleanup --cloud NAME [options]
       oslab history [--report-dir DIR] [--keep N] [--days D]

  lab      bring up, check or tear down the embedded reference cloud on this machine
  cleanup  remove what earlier pytest-oslab runs left in a cloud (only what they tagged as their own)
  history  write DIR/index.html (default reports/) from the history of the runs kept there, pruning it
"""


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "lab":
        return lab_main(rest)
    if command == "cleanup":
        return cleanup_main(rest)
    if command == "history":
        return history_main(rest)
    sys.stderr.write(f"oslab: unknown command {command!r}\n{USAGE}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
