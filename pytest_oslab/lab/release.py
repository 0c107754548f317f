"""Which release of Debian's OpenStack packages the lab runs: the point release or the security updates.

Debian 12 serves this cloud at two versions: the point release (suite ``bookworm``) and newer builds in
``bookworm-security``. The lab's OpenStack packages are the installed packages of the Debian OpenStack team
(nova, neutron, keystone, glance and their ``python3-*`` libraries); which of them differ between the two suites
is asked of apt at run time (``apt-cache madison``), never written down here.

- ``security`` (the default): every such package at its newest version, no pin of the lab's.
- ``point``: every such package at the point release's version, held there by the lab's own apt preferences file
  (``/etc/apt/preferences.d/oslab-release``, a version pin per package at priority 1001), so that the lab's
  ``apt-get install`` runs keep it. ``oslab lab upgrade`` removes that file.

The chosen release is recorded in the lab's state, so a later ``oslab lab up`` keeps it. A daemon still running
the code of the package it was started from is found by comparing its start time with the time dpkg last
unpacked its ``python3-*`` package (``StaleDaemonsStep``): the next start step restarts it.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from . import daemons, proc
from .steps import LabError, Step

RELEASES = ("security", "point")
DEFAULT_RELEASE = "security"
PIN = Path("/etc/apt/preferences.d/oslab-release")
OPENSTACK_TEAM = "team+openstack@tracker.debian.org"
DPKG_FORMAT = "${Package}\t${Version}\t${db:Status-Abbrev}\t${Maintainer}\t${source:Package}\n"
DPKG_INFO = Path("/var/lib/dpkg/info")
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
# keep the lab's own configuration files when a package ships a new default one
APT_INSTALL = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "--allow-downgrades",
               "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]


@dataclass(frozen=True)
class Candidate:
    """An installed OpenStack package and its version in each release."""

    package: str
    installed: str
    point: str
    security: str
    source: str = ""  # its source package (``nova`` for ``python3-nova``), when dpkg said

    def wanted(self, release: str) -> str:
        return self.point if release == "point" else self.security


# ---------------------------------------------------------------- parsing apt's and dpkg's answers

def installed_openstack(dpkg_text: str) -> Dict[str, str]:
    """{package: version} of the installed packages of the Debian OpenStack team, from ``dpkg-query -W -f
    DPKG_FORMAT``."""
    found = {}
    for line in dpkg_text.splitlines():
        fields = line.split("\t")
        if len(fields) in (4, 5) and fields[2].startswith("ii") and OPENSTACK_TEAM in fields[3]:
            found[fields[0]] = fields[1]
    return found


def sources_of(dpkg_text: str) -> Dict[str, str]:
    """{package: source package} from the same ``dpkg-query`` output (its fifth field)."""
    return {f[0]: f[4] for f in (line.split("\t") for line in dpkg_text.splitlines()) if len(f) == 5 and f[4]}


def parse_madison(text: str) -> Dict[str, List[tuple]]:
    """{package: [(version, suite), ...]} from ``apt-cache madison``, in apt's order (highest version first)."""
    found: Dict[str, List[tuple]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) != 3 or not cells[0]:
            continue
        words = cells[2].split()
        if len(words) < 2 or words[-1] != "Packages":  # binary packages only
            continue
        suite = words[1].split("/")[0]
        found.setdefault(cells[0], []).append((cells[1], suite))
    return found


def candidates(installed: Dict[str, str], madison: Dict[str, List[tuple]],
               sources: Optional[Dict[str, str]] = None) -> List[Candidate]:
    """The installed packages that the archive serves at a newer version in a ``-security`` suite than in the
    point release: the newest version of each, and the newest outside the security suites."""
    sources = sources or {}
    found = []
    for package, version in sorted(installed.items()):
        rows = madison.get(package, [])
        point = next((v for v, suite in rows if not suite.endswith("-security")), None)
        if not rows or point is None or not rows[0][1].endswith("-security") or rows[0][0] == point:
            continue
        found.append(Candidate(package, version, point=point, security=rows[0][0], source=sources.get(package, "")))
    return found


def pin_text(cands: Iterable[Candidate], release: str) -> Optional[str]:
    """The lab's apt preferences for a release: a pin per package on the point release, none on the newest.
    Each source package is pinned too (``Package: src:neutron``), so that a package of it installed later (the
    agent of a driver switch: ``neutron-openvswitch-agent``) comes at the same point version as the rest."""
    if release != "point":
        return None
    cands = list(cands)
    stanzas = [f"Package: {c.package}\nPin: version {c.point}\nPin-Priority: 1001\n" for c in cands]
    points: Dict[str, set] = {}
    for c in cands:
        if c.source:
            points.setdefault(c.source, set()).add(c.point)
    stanzas += [f"Package: src:{src}\nPin: version {next(iter(v))}\nPin-Priority: 1001\n"
                for src, v in sorted(points.items()) if len(v) == 1]  # a binNMU'd binary: its own pin only
    return "# written by pytest-oslab: the lab runs OpenStack's point release (`oslab lab upgrade` removes it)\n\n" \
        + "\n".join(stanzas)


def to_install(cands: Iterable[Candidate], release: str) -> List[str]:
    """``package=version`` for apt-get, for each package not at the release's version."""
    return [f"{c.package}={c.wanted(release)}" for c in cands if c.installed != c.wanted(release)]


# ---------------------------------------------------------------- asking this machine

def _sh(argv: List[str], timeout: float = 120) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=APT_ENV)
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(argv[:3])}` did not finish in {timeout:.0f}s")
    if proc.returncode != 0:
        raise LabError(f"`{' '.join(argv[:3])}` exited {proc.returncode}: {proc.stderr.strip()[-200:]}")
    return proc.stdout


def installed_versions() -> Dict[str, str]:
    return installed_openstack(_sh(["dpkg-query", "-W", "-f", DPKG_FORMAT]))


def lab_candidates() -> List[Candidate]:
    """This machine's OpenStack packages that differ between the point release and the security suite."""
    text = _sh(["dpkg-query", "-W", "-f", DPKG_FORMAT])
    installed = installed_openstack(text)
    if not installed:
        return []
    return candidates(installed, parse_madison(_sh(["apt-cache", "madison", *sorted(installed)])), sources_of(text))


def recorded(lab) -> str:
    path = lab.state / "release"
    return path.read_text().strip() if path.exists() else DEFAULT_RELEASE


def record(lab, release: str) -> None:
    lab.state.mkdir(parents=True, exist_ok=True)
    (lab.state / "release").write_text(release + "\n")


def _pin_now() -> Optional[str]:
    return PIN.read_text() if PIN.exists() else None


class ReleaseStep(Step):
    """Every OpenStack package of the lab at the release's version (downgraded or upgraded with apt-get), the lab's
    pin written or removed, the release recorded."""

    def __init__(self, release: str, name: str = "release"):
        if release not in RELEASES:
            raise LabError(f"unknown release {release!r} (choose from {', '.join(RELEASES)})")
        self.release = release
        self.name = name

    def done(self, lab) -> bool:
        cands = lab_candidates()
        return (recorded(lab) == self.release and not to_install(cands, self.release)
                and _pin_now() == pin_text(cands, self.release))

    def run(self, lab) -> None:
        log = lab.logs / "apt.log"
        with open(log, "a") as out:
            if subprocess.run(["apt-get", "update", "-q"], stdout=out, stderr=subprocess.STDOUT, env=APT_ENV,
                              timeout=600).returncode != 0:
                raise LabError("apt-get update failed", log=str(log))
        cands = lab_candidates()
        record(lab, self.release)
        text = pin_text(cands, self.release)
        if text is None:
            PIN.unlink(missing_ok=True)
        else:
            PIN.write_text(text)
        todo = to_install(cands, self.release)
        if todo:
            more = " ..." if len(todo) > 4 else ""
            self.say(f"{len(todo)} packages to the {self.release} release: {', '.join(todo[:4])}{more}")
            with open(log, "a") as out:
                proc = subprocess.run(APT_INSTALL + todo, stdout=out, stderr=subprocess.STDOUT, env=APT_ENV,
                                      timeout=900)
            if proc.returncode != 0:
                raise LabError(f"apt-get install of {len(todo)} packages at the {self.release} release failed",
                               log=str(log))
        left = to_install(lab_candidates(), self.release)
        if left:
            raise LabError(f"still not at the {self.release} release: {', '.join(left[:3])}", log=str(log))


# ---------------------------------------------------------------- daemons running older code than installed

def package_of(daemon: daemons.Daemon, installed: Dict[str, str]) -> Optional[str]:
    """The OpenStack library a daemon runs (``nova-compute`` -> ``python3-nova``), if installed."""
    return package_named(daemon.name, installed)


def package_named(name: str, installed: Dict[str, str]) -> Optional[str]:
    """The OpenStack library of a service named ``name``, if installed."""
    package = "python3-" + name.split("-")[0]
    return package if package in installed else None


def unpacked_at(package: str) -> Optional[float]:
    """When dpkg last unpacked a package (its file list is rewritten then)."""
    try:
        return (DPKG_INFO / f"{package}.list").stat().st_mtime
    except OSError:
        return None


def stale(daemon: daemons.Daemon, lab, installed: Dict[str, str]) -> bool:
    """Whether the daemon runs and started before its OpenStack package was last installed (it runs old code)."""
    pid = daemons.recorded_pid(daemon, lab.pids)
    package = package_of(daemon, installed)
    return bool(pid and package) and runs_older_code(pid, package)


def runs_older_code(pid: int, package: str) -> bool:
    """Whether process ``pid`` started before ``package`` was last unpacked."""
    began, unpacked = proc.started_at(pid), unpacked_at(package)
    # a start time counts from the boot time, known to the second (/proc/stat's btime, psutil's too): a second's
    # margin, so a daemon started right after the install is not restarted again
    return began is not None and unpacked is not None and began + 1.0 < unpacked


def stale_daemons(lab, group) -> List[daemons.Daemon]:
    installed = installed_versions()
    return [d for d in group if stale(d, lab, installed)]


class StaleDaemonsStep(Step):
    """Stop the lab's daemons that run older code than their installed package: the start steps after it start
    them again (guests keep running: a nova-compute restart does not touch its domains)."""

    name = "stale-daemons"

    def __init__(self, group):
        self.group = group

    def done(self, lab) -> bool:
        return not stale_daemons(lab, self.group(lab))

    def run(self, lab) -> None:
        for d in stale_daemons(lab, self.group(lab)):
            self.say(f"stopping {d.name}: its package changed after it started")
            daemons.stop(d, lab.pids)


def with_release(plan: List[Step], release: str, group) -> List[Step]:
    """The lab's plan with the release's packages right after the packages step (and the daemons left running
    older code stopped, to be started by the plan's start steps)."""
    at = next((i + 1 for i, s in enumerate(plan) if s.name == "packages"), 0)
    return plan[:at] + [ReleaseStep(release), StaleDaemonsStep(group)] + plan[at:]

