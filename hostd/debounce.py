"""When to apply after a stream of file events: latest state wins. Pure timing logic.

An apply is due once events have been quiet for `quiet` seconds, or `cap` seconds
after the first event of a burst even if they keep coming. Events that arrive
during an apply make exactly one more apply due afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Debouncer:
    quiet: float = 0.1
    cap: float = 1.0
    first: float | None = None
    last: float | None = None

    def event(self, now: float) -> None:
        if self.first is None:
            self.first = now
        self.last = now

    @property
    def pending(self) -> bool:
        return self.first is not None

    def due(self, now: float) -> bool:
        if self.first is None or self.last is None:
            return False
        return now - self.last >= self.quiet or now - self.first >= self.cap

    def wait(self, now: float, longest: float) -> float:
        """How long to sleep before something may be due, at most `longest`."""
        if self.first is None or self.last is None:
            return longest
        until = min(self.last + self.quiet, self.first + self.cap) - now
        return max(0.0, min(longest, until))

    def take(self) -> None:
        """An apply starts now: events from here on make the next one due."""
        self.first = self.last = None
