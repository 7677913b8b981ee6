"""Crash-loop control: when a site's program that keeps dying is started again. Pure.

Supervisor retries a program that dies during its first seconds a few times,
then gives up (FATAL); one that dies later it restarts at once, forever. hostd
watches both: a program that is FATAL, or that started `max_starts` times
within `window` seconds, is stopped and started again after a delay that
doubles from `base_delay` up to `max_delay`. A program that has run for
`window` seconds counts as healthy again and its delay starts over.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from hostd.core.timing import backoff


class Action(enum.Enum):
    STOP = "stop"
    START = "start"


@dataclass
class Retry:
    attempts: int
    next_at: float
    reason: str


@dataclass
class CrashLoopGuard:
    max_starts: int = 5
    window: float = 60.0
    base_delay: float = 10.0
    max_delay: float = 600.0
    retries: dict[str, Retry] = field(default_factory=dict)
    starts: dict[str, deque[float]] = field(default_factory=dict)

    def delay(self, attempts: int) -> float:
        return backoff(attempts, self.base_delay, self.max_delay)

    def observe(self, name: str, state: str, started: float, now: float) -> Action | None:
        """What to do with program `name`, seen in `state`, last started at `started`."""
        seen = self.starts.setdefault(name, deque())
        if started and (not seen or seen[-1] != started):
            seen.append(started)
        while seen and seen[0] < now - self.window:
            seen.popleft()
        retry = self.retries.get(name)
        if retry is not None:
            if state in ("RUNNING", "STARTING") and started and now - started >= self.window:
                del self.retries[name]
                return None
            if state in ("STOPPED", "FATAL") and now >= retry.next_at:
                retry.attempts += 1
                seen.clear()
                return Action.START
            if state not in ("STOPPED", "FATAL") and len(seen) >= self.max_starts:
                return self._hold(name, f"restarted {len(seen)} times in {self.window:.0f}s", now)
            return None
        if state == "FATAL":
            return self._hold(name, "Supervisor gave up starting it", now)
        if len(seen) >= self.max_starts:
            return self._hold(name, f"restarted {len(seen)} times in {self.window:.0f}s", now)
        return None

    def _hold(self, name: str, reason: str, now: float) -> Action:
        attempts = self.retries[name].attempts if name in self.retries else 0
        self.retries[name] = Retry(attempts, now + self.delay(attempts + 1), reason)
        self.starts[name].clear()
        return Action.STOP

    def forget(self, name: str) -> None:
        """`name` is gone or was replaced by an apply: start over."""
        self.retries.pop(name, None)
        self.starts.pop(name, None)
