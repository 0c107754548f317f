"""What nova-compute logged about one instance, from its oslo.log lines.

A build that nova-compute gives up on is rescheduled; once no host is left, the API keeps only the conductor's
fault ("Exceeded maximum number of retries ...") and the compute host's reason stays in nova-compute's log, one
``[instance: <uuid>]`` line per event, tracebacks included (oslo.log prefixes every traceback line too).
``instance_events`` keeps the warnings and errors that say something, without the traceback frames.
"""
import re
from dataclasses import dataclass
from typing import List

# "2026-11-24 01:00:17.505 15789 ERROR nova.virt.libvirt.driver [req ...] [instance: <uuid>] message" (a log
# file), or the same after journald's prefix ("2026-11-24T01:00:17+0000 host nova-compute[15789]: ERROR ...")
_LEVEL = re.compile(r"(?:^|\s)(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) +(?P<logger>[a-z_][\w.]*) (?P<rest>.*)$")
_STAMP = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d)[ T](?P<time>\d\d:\d\d:\d\d)")
_TRACEBACK_GLUE = ("Traceback (most recent call last)", "During handling of the above exception",
                   "The above exception was the direct cause")
LEVELS = ("WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Event:
    time: str
    level: str
    logger: str
    message: str

    def __str__(self) -> str:
        return f"{self.time} {self.level} {self.logger}: {self.message}".lstrip()


def _message(rest: str, instance_id: str) -> str:
    """The part of an oslo.log line after its context (``[req-… …]``) and ``[instance: …]`` prefixes; a traceback
    frame keeps its indentation."""
    marker = f"[instance: {instance_id}]"
    if marker in rest:
        after = rest.split(marker, 1)[1]
    elif rest.startswith("["):
        after = rest[rest.index("]") + 1:] if "]" in rest else rest
    else:
        return rest
    return after[1:] if after.startswith(" ") else after


def instance_events(text: str, instance_id: str, levels=LEVELS) -> List[Event]:
    """The instance's warnings and errors in ``text`` (a nova-compute log, or lines grepped from it), in order,
    without traceback frames and without repeating the line before."""
    events: List[Event] = []
    for line in text.splitlines():
        if instance_id not in line:
            continue
        m = _LEVEL.search(line)
        if not m or m.group("level") not in levels:
            continue
        stamp = _STAMP.match(line)
        message = _message(m.group("rest"), instance_id)
        if not message.strip() or message.startswith((" ",) + _TRACEBACK_GLUE) or set(message.strip()) <= set("^~ "):
            continue
        when = f"{stamp.group('date')} {stamp.group('time')}" if stamp else ""
        event = Event(when, m.group("level"), m.group("logger"), message.strip())
        if events and (events[-1].message, events[-1].level) == (event.message, event.level):
            continue
        events.append(event)
    return events
