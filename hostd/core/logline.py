"""Log lines, purely: which sources a site has, when a line says it was written,
which lines a filter admits, several logs merged in time order, and the errors
hostd.log records.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

SOURCES = ("app", "access", "error", "hostd")

# hostd.log events that record something going wrong for a site
ERROR_EVENTS = frozenset(
    {"site-rejected", "site-failed", "crash-loop", "rollback", "apply-error", "boot-without-sites"}
)


@dataclass(frozen=True)
class LogLine:
    source: str
    text: str
    time: float | None = None  # when it was written, as far as the log tells

    def shown(self) -> str:
        return f"{self.source}: {self.text}"


@dataclass(frozen=True)
class LogFilter:
    """Which lines to show: written at or after `since`, matching `pattern`."""

    since: float | None = None
    pattern: re.Pattern[str] | None = None

    @property
    def active(self) -> bool:
        return self.since is not None or self.pattern is not None

    def admits(self, line: LogLine) -> bool:
        if self.since is not None and (line.time is None or line.time < self.since):
            return False
        return self.pattern is None or self.pattern.search(line.text) is not None


# -- dating lines -------------------------------------------------------------------

_CLOCK = r"(?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d)"
_ZONE = r"(?P<z>Z|[+-]\d\d:?\d\d)"
_STAMPS = (
    # hostd.log: {"ts": "2024-05-01T13:55:36+0000", ...}
    re.compile(rf'^\{{"ts": "(?P<Y>\d{{4}})-(?P<m>\d\d)-(?P<d>\d\d)T{_CLOCK}{_ZONE}?"'),
    # gunicorn: [2024-05-01 13:55:36 +0000] [42] [INFO] ...
    re.compile(rf"^\[(?P<Y>\d{{4}})-(?P<m>\d\d)-(?P<d>\d\d) {_CLOCK} {_ZONE}\]"),
    # nginx error log, local time: 2024/05/01 13:55:36 [error] ...
    re.compile(rf"^(?P<Y>\d{{4}})/(?P<m>\d\d)/(?P<d>\d\d) {_CLOCK} \["),
    # nginx access log: 127.0.0.1 - - [01/May/2024:13:55:36 +0000] "GET / HTTP/1.1" ...
    re.compile(rf"^[^\[]*\[(?P<d>\d\d)/(?P<m>[A-Z][a-z]{{2}})/(?P<Y>\d{{4}}):{_CLOCK} {_ZONE}\]"),
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_AGO = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _zone(text: str | None) -> timezone | None:
    """A fixed offset from `+0200`, `-05:30` or `Z`; None (local time) without one."""
    if not text:
        return None
    if text == "Z":
        return UTC
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-offset if text[0] == "-" else offset)


def line_time(text: str) -> float | None:
    """When a line of nginx, gunicorn or hostd says it was written (epoch), or None."""
    for stamp in _STAMPS:
        match = stamp.match(text)
        if match is None:
            continue
        part = match.groupdict()
        month = _MONTHS.get(part["m"]) or (int(part["m"]) if part["m"].isdigit() else 0)
        try:
            moment = datetime(
                int(part["Y"]), month, int(part["d"]),
                int(part["H"]), int(part["M"]), int(part["S"]), tzinfo=_zone(part.get("z")),
            )  # fmt: skip
        except ValueError:
            return None
        return moment.timestamp()  # a naive moment is local time
    return None


def parse_since(text: str, now: float) -> float:
    """The moment `--since` means: `30s`, `10m`, `2h`, `1d`, `1w` ago, or an ISO time.

    An ISO time without a zone is local time. ValueError names what is accepted.
    """
    text = text.strip()
    ago = _AGO.match(text)
    if ago:
        return now - int(ago.group(1)) * _UNITS[ago.group(2)]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30s, 10m, 2h, 1d, 1w) "
            "nor an ISO time (2024-05-01, 2024-05-01T13:00, 2024-05-01T13:00:00+02:00)"
        ) from None
    return moment.timestamp()


def dated(texts: Iterable[str], source: str, before: float | None = None) -> Iterator[LogLine]:
    """`texts` as lines of `source`, each dated by its own stamp or the last one before it."""
    last = before
    for text in texts:
        stamp = line_time(text)
        if stamp is not None:
            last = stamp
        yield LogLine(source, text, last)


def last_matching(lines: Iterable[LogLine], keep: LogFilter, count: int | None) -> list[LogLine]:
    """The last `count` lines (all if None) that `keep` admits."""
    if count is not None and count <= 0:
        return []
    found: deque[LogLine] = deque(maxlen=count)
    found.extend(line for line in lines if keep.admits(line))
    return list(found)


def _when(line: LogLine) -> float:
    return line.time if line.time is not None else -math.inf


def merged(groups: Iterable[Sequence[LogLine]]) -> list[LogLine]:
    """The lines of several logs in time order; each log keeps its own order."""
    return list(heapq.merge(*groups, key=_when))


def error_event(text: str) -> tuple[float, str] | None:
    """(time, message) if `text` is a hostd.log line recording an error, else None."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    event = str(record.get("event", ""))
    if event not in ERROR_EVENTS and "error" not in record:
        return None
    when = line_time(text)
    if when is None:
        return None
    message = str(record.get("detail") or record.get("error") or record.get("reason") or "")
    if event in ("site-rejected", "site-failed"):
        return when, message  # the same words state.json keeps
    return when, f"{event}: {message}" if message else event
