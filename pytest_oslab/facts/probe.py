"""The probe agent's files (``pytest_oslab.probe.agent``) as series of probes, and what the workload felt.

A series is one guest seen along one path (ICMP from a namespace, TCP to its SSH port, its DHCP lease), each probe
a time and whether it was answered. Its figures:

- ``lost N of M``: probes not answered (an ICMP echo without reply, a TCP connect that failed or timed out, a
  lease sample where the guest's lease was missing or expired);
- ``longest gap``: the longest time without an answer beyond the series' own probe spacing (its median), so that
  a series where every probe answered has a gap of 0 s, and an echo every 0.2 s of which 10 in a row were lost
  has a gap of 2.0 s. A series that starts or ends with lost probes counts from its first or to its last probe.
"""
import re
from dataclasses import dataclass, field
from statistics import median
from typing import Dict, List, Optional, Tuple

from ._parse import lines

ICMP_REPLY = re.compile(r"^\[(?P<t>\d+\.\d+)\] \d+ bytes from .*icmp_seq=(?P<seq>\d+)")
ICMP_PENDING = re.compile(r"^\[(?P<t>\d+\.\d+)\] no answer yet for icmp_seq=(?P<seq>\d+)")
ICMP_ERROR = re.compile(r"^\[(?P<t>\d+\.\d+)\] From \S+ icmp_seq=(?P<seq>\d+)")
ICMP_STATS = re.compile(r"^(?P<sent>\d+) packets transmitted, (?P<received>\d+) received")
ICMP_INTERVAL = 0.2  # the agent's ping -i


@dataclass
class Series:
    guest: str
    path: str
    times: List[float] = field(default_factory=list)
    answered: List[bool] = field(default_factory=list)
    renewals: int = 0  # lease series: how often the lease's expiry moved on

    def add(self, t: float, ok: bool) -> None:
        self.times.append(t)
        self.answered.append(ok)

    @property
    def total(self) -> int:
        return len(self.times)

    @property
    def lost(self) -> int:
        return self.answered.count(False)

    @property
    def loss_percent(self) -> float:
        return 100.0 * self.lost / self.total if self.total else 0.0

    @property
    def spacing(self) -> float:
        order = sorted(self.times)
        steps = [b - a for a, b in zip(order, order[1:]) if b > a]
        return median(steps) if steps else 0.0

    @property
    def longest_gap(self) -> float:
        if not self.times:
            return 0.0
        points = sorted(zip(self.times, self.answered))
        sp = self.spacing
        points.append((points[-1][0] + sp, True))  # the window ends one spacing after the last probe
        gap, last_answer, missed = 0.0, points[0][0] - sp, False
        for t, ok in points:
            if not ok:
                missed = True
                continue
            if missed:  # only a stretch with a lost probe in it is a gap (a slow probe loop is not)
                gap = max(gap, t - last_answer - sp)
            last_answer, missed = t, False
        return round(max(0.0, gap), 1)

    @property
    def start(self) -> float:
        return min(self.times) if self.times else 0.0

    @property
    def end(self) -> float:
        return max(self.times) if self.times else 0.0

    def line(self) -> str:
        text = f"{self.guest} {self.path}: lost {self.lost} of {self.total}, longest gap {self.longest_gap:.1f} s"
        return text + (f" ({self.renewals} renewal{'s' if self.renewals != 1 else ''} seen)"
                       if self.path.startswith("DHCP") else "")

    def to_dict(self) -> dict:
        return {"guest": self.guest, "path": self.path, "times": [round(t, 3) for t in self.times],
                "answered": self.answered, "renewals": self.renewals}

    @classmethod
    def from_dict(cls, data: dict) -> "Series":
        return cls(data["guest"], data["path"], list(data["times"]), list(data["answered"]),
                   data.get("renewals", 0))


def icmp(guest: str, path: str, text: str) -> Series:
    """Each echo of ``ping -D -O`` (one or several runs of it, each from its ``PING`` line): answered when a reply
    names its sequence number; an echo never answered is placed at the time ping said "no answer yet" for it,
    else between its neighbours at ping's interval."""
    series = Series(guest, path)
    runs: List[List[str]] = []
    for line in lines(text):
        if line.startswith("PING ") or not runs:
            runs.append([])
        runs[-1].append(line)
    for run in runs:
        replies: Dict[int, float] = {}
        known: Dict[int, float] = {}
        sent = 0
        for line in run:
            reply, pending, error, stats = (ICMP_REPLY.match(line), ICMP_PENDING.match(line),
                                            ICMP_ERROR.match(line), ICMP_STATS.match(line))
            if reply:
                seq = int(reply["seq"])
                replies.setdefault(seq, float(reply["t"]))
                known[seq] = replies[seq]
            elif pending:
                known.setdefault(int(pending["seq"]), float(pending["t"]))
            elif stats:
                sent = int(stats["sent"])
            match = reply or pending or error
            if match:
                sent = max(sent, int(match["seq"]))
        for seq in range(1, sent + 1):
            series.add(_time_of(seq, known), seq in replies)
    return series


def _time_of(seq: int, known: Dict[int, float]) -> float:
    if seq in known:
        return known[seq]
    nearest = min(known, key=lambda k: abs(k - seq))
    return known[nearest] + (seq - nearest) * ICMP_INTERVAL


def tcp(path: str, text: str) -> Dict[str, Series]:
    """The agent's ``tcp.txt`` (``<epoch> <guest> ok|fail <detail>``), a series per guest."""
    found: Dict[str, Series] = {}
    for line in lines(text):
        words = line.split()
        if len(words) >= 3:
            found.setdefault(words[1], Series(words[1], path)).add(float(words[0]), words[2] == "ok")
    return found


def leases(path: str, text: str) -> Dict[str, Series]:
    """The agent's ``leases.txt`` (``<epoch> <guest> <expiry>|-``), a series per guest: a sample answers when the
    guest's lease is there and not expired; a renewal is an expiry later than the one before."""
    found: Dict[str, Series] = {}
    last: Dict[str, Optional[int]] = {}
    for line in lines(text):
        words = line.split()
        if len(words) != 3:
            continue
        t, guest, expiry = float(words[0]), words[1], (int(words[2]) if words[2].isdigit() else None)
        series = found.setdefault(guest, Series(guest, path))
        series.add(t, expiry is not None and expiry > t)
        if expiry is not None and last.get(guest) is not None and expiry > last[guest]:
            series.renewals += 1
        last[guest] = expiry if expiry is not None else last.get(guest)
    return found


def loss_over_time(series: Series, start: float, end: float, buckets: int = 60) -> List[Tuple[float, Optional[float]]]:
    """(seconds since ``start`` at the bucket's middle, percent of its probes lost or None when it has none) for
    ``buckets`` equal slices of [start, end]."""
    width = max((end - start) / buckets, 1e-9)
    sent = [0] * buckets
    lost = [0] * buckets
    for t, ok in zip(series.times, series.answered):
        i = min(buckets - 1, max(0, int((t - start) / width)))
        sent[i] += 1
        lost[i] += 0 if ok else 1
    return [((i + 0.5) * width, 100.0 * lost[i] / sent[i] if sent[i] else None) for i in range(buckets)]


def over_limits(all_series: List[Series], max_loss: Optional[float], max_gap: Optional[float]) -> List[str]:
    """One line per series over a limit (``max_loss`` in percent of its probes, ``max_gap`` in seconds)."""
    out = []
    for s in all_series:
        over = []
        if max_loss is not None and s.loss_percent > max_loss:
            over.append(f"loss {s.loss_percent:.1f}% over --oslab-max-loss {max_loss:g}%")
        if max_gap is not None and s.longest_gap > max_gap:
            over.append(f"gap {s.longest_gap:.1f} s over --oslab-max-gap {max_gap:g} s")
        if over:
            out.append(f"{s.line()}: {'; '.join(over)}")
    return out
