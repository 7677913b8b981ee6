"""Time, purely: when to apply after a stream of file events, how long to back off,
and how moments and durations are written.

An apply is due once events have been quiet for `quiet` seconds, or `cap` seconds
after the first event of a burst even if they keep coming. The first complete
write of a burst (a file renamed into place or closed after writing: nothing more
of it is coming) makes an apply due at once. Events that arrive
during an apply make exactly one more apply due afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Debouncer:
    quiet: float = 0.1
    cap: float = 2.0
    first: float | None = None  # the first and last events not applied yet
    last: float | None = None
    seen: float | None = None  # the last event, applied or not
    leads: bool = False  # the burst going on has not made an apply due at once yet
    now_due: bool = False  # a burst's first complete write: due without waiting

    def event(self, now: float, *, complete: bool = False) -> None:
        """An event at `now`; `complete`: a write that is whole (see the module's doc)."""
        if self.seen is None or now - self.seen >= self.quiet:
            self.leads = True  # a new burst
        if complete and self.leads:
            self.now_due = True
            self.leads = False
        if self.first is None:
            self.first = now
        self.last = now
        self.seen = now if self.seen is None else max(self.seen, now)

    @property
    def pending(self) -> bool:
        return self.first is not None

    def due(self, now: float) -> bool:
        if self.first is None or self.last is None:
            return False
        return self.now_due or now - self.last >= self.quiet or now - self.first >= self.cap

    def wait(self, now: float, longest: float) -> float:
        """How long to sleep before something may be due, at most `longest`."""
        if self.first is None or self.last is None:
            return longest
        if self.now_due:
            return 0.0
        until = min(self.last + self.quiet, self.first + self.cap) - now
        return max(0.0, min(longest, until))

    def take(self) -> None:
        """An apply starts now: events from here on make the next one due."""
        self.first = self.last = None
        self.now_due = False


def backoff(attempts: int, first: float, longest: float) -> float:
    """Seconds to wait after `attempts` failures in a row: `first`, doubling, at most
    `longest`."""
    return float(min(longest, first * 2 ** max(0, attempts - 1)))


def iso_time(epoch: float | None = None) -> str:
    """`epoch` (default: now) as a local ISO time with its offset: 2026-11-22T10:12:03+0100."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def local_time(epoch: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """`epoch` as a local time for people; "-" if unknown."""
    if not epoch:
        return "-"
    return time.strftime(fmt, time.localtime(epoch))


def duration(seconds: float) -> str:
    """A duration in its largest whole unit: 45s, 3m, 2h, 4d."""
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def uptime(since: float | None, now: float | None = None) -> str:
    """How long since `since` (epoch): "3m"; "-" if unknown."""
    if not since:
        return "-"
    return duration((now or time.time()) - since)


def ago(when: float | None, now: float | None = None) -> str:
    """`when` (epoch seconds) as "3m ago"; "-" if unknown."""
    if not when:
        return "-"
    seconds = (now or time.time()) - when
    if seconds < 0:
        return "just now"
    return f"{duration(seconds)} ago"
