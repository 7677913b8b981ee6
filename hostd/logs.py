"""Reading a site's logs: the last lines, filtered by time and pattern, and following
them like `tail -F` across rotation and truncation.

Dating, filtering and merging are pure functions over lines; `read_history`,
`Follower`, `tail` and `last_error_event` are the only parts that open files.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from io import FileIO
from pathlib import Path
from typing import BinaryIO

from hostd.layout import Layout

SOURCES = ("app", "access", "error", "hostd")
CHUNK = 65536
RETIRE_AFTER = 2.0  # seconds a rotated-away file is still read after it last grew

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


@dataclass(frozen=True)
class Position:
    """Where reading a log stopped: the file (by inode) and the offset in it."""

    inode: int
    offset: int


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
        month = _MONTHS.get(part["m"]) or int(part["m"])
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


# -- reading files -------------------------------------------------------------------


def site_logs(layout: Layout, site: str, sources: Sequence[str] = SOURCES) -> dict[str, Path]:
    folder = layout.site_log_dir(site)
    return {source: folder / f"{source}.log" for source in sources}


def site_log_folders(layout: Layout) -> list[str]:
    """The sites that have a log folder written by hostd (app.log or hostd.log)."""
    found = {
        path.parent
        for name in ("app.log", "hostd.log")
        for path in layout.log_root.glob(f"*/{name}")
    }
    return sorted(folder.name for folder in found)


def rotated(path: Path) -> Path:
    """The newest rotated copy of `path`, which logrotate leaves uncompressed."""
    return path.with_name(f"{path.name}.1")


def tail(path: Path, lines: int = 5) -> str:
    """The last `lines` lines of `path` (from its last 64 KiB), or "" if unreadable."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - CHUNK))
            data = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:]) if lines > 0 else ""


def last_error_event(path: Path) -> tuple[float, str] | None:
    """The newest error a site's hostd.log records (in its last 64 KiB), or None."""
    for text in reversed(tail(path, 100_000).splitlines()):
        found = error_event(text)
        if found is not None:
            return found
    return None


def _tail_start(handle: BinaryIO, end: int, count: int) -> int:
    """The offset where the last `count` lines of the first `end` bytes begin."""
    if count <= 0:
        return end
    handle.seek(max(0, end - 1))
    need = count + 1 if handle.read(1) == b"\n" else count  # a final newline ends, not starts
    pos = end
    while pos > 0 and need > 0:
        size = min(CHUNK, pos)
        pos -= size
        handle.seek(pos)
        chunk = handle.read(size)
        at = len(chunk)
        while (at := chunk.rfind(b"\n", 0, at)) != -1:
            need -= 1
            if need == 0:
                return pos + at + 1
    return 0


def _texts(handle: BinaryIO, start: int, end: int) -> Iterator[str]:
    """The lines between offsets `start` and `end` of `handle`, decoded, read lazily."""
    handle.seek(start)
    left, rest = end - start, b""
    while left > 0:
        chunk = handle.read(min(CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)
        *lines, rest = (rest + chunk).split(b"\n")
        yield from (line.decode(errors="replace") for line in lines)
    if rest:
        yield rest.decode(errors="replace")


def _open(stack: ExitStack, path: Path) -> BinaryIO | None:
    try:
        return stack.enter_context(path.open("rb"))
    except OSError:
        return None


def read_history(
    paths: Mapping[str, Path], count: int | None, keep: LogFilter = LogFilter()
) -> tuple[list[LogLine], dict[str, Position]]:
    """The last `count` lines `keep` admits of each log (all if None), in time order,
    and where each log ended, for `Follower` to go on from.

    Without a filter only the tail of each file is read; with one, the whole file,
    and with `since` also its newest rotated copy (`access.log.1`).
    """
    groups: list[list[LogLine]] = []
    ends: dict[str, Position] = {}
    with ExitStack() as stack:
        for source, path in paths.items():
            older = _open(stack, rotated(path)) if keep.since is not None else None
            handle = _open(stack, path)
            if handle is None:
                continue
            info = os.fstat(handle.fileno())
            ends[source] = Position(info.st_ino, info.st_size)
            texts: list[Iterator[str]] = []
            if older is not None:
                texts.append(_texts(older, 0, os.fstat(older.fileno()).st_size))
            whole = keep.active or count is None
            start = 0 if whole else _tail_start(handle, info.st_size, count or 0)
            texts.append(_texts(handle, start, info.st_size))
            lines = dated((text for part in texts for text in part), source)
            groups.append(last_matching(lines, keep, count))
    return merged(groups), ends


# -- following files ------------------------------------------------------------------


@dataclass(eq=False)
class _Reader:
    """One open log file, read on from where it was left."""

    handle: FileIO
    inode: int
    grew_at: float = 0.0
    partial: bytes = b""

    @classmethod
    def open(cls, path: Path, offset: int | None) -> _Reader | None:
        """`path` opened at `offset` (None: at its end)."""
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 (close() closes it)
        except OSError:
            return None
        size = os.fstat(handle.fileno()).st_size
        if offset is None:
            offset = size
        handle.seek(offset if offset <= size else 0)  # shorter now: truncated since
        return cls(handle, os.fstat(handle.fileno()).st_ino)

    def read(self) -> list[str]:
        """The lines completed since the last read; starts over if truncated."""
        try:
            if os.fstat(self.handle.fileno()).st_size < self.handle.tell():
                self.handle.seek(0)
                self.partial = b""
            data = self.handle.read()
        except OSError:
            return []
        if not data:
            return []
        *lines, self.partial = (self.partial + data).split(b"\n")
        return [line.decode(errors="replace") for line in lines]

    def close(self) -> list[str]:
        """Close the file; a last unfinished line, if any."""
        self.handle.close()
        return [self.partial.decode(errors="replace")] if self.partial else []


@dataclass
class _Watch:
    path: Path
    current: _Reader | None = None
    retired: list[_Reader] = field(default_factory=list)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


class Follower:
    """New lines of some logs, surviving rotation and truncation like `tail -F`.

    When a path names a new file (rotation by rename), the old file stays open
    and is read until it has been quiet for `retire_after` seconds: daemons write
    on into it until they reopen their logs, and those lines are not lost.
    """

    def __init__(
        self,
        paths: Mapping[str, Path],
        start: Mapping[str, Position] | None = None,
        *,
        retire_after: float = RETIRE_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retire_after = retire_after
        self.clock = clock
        self.watches = {source: _Watch(path) for source, path in paths.items()}
        for source, watch in self.watches.items():
            where = start.get(source) if start is not None else None
            if start is None:
                watch.current = _Reader.open(watch.path, None)  # from now on
            elif where is not None and where.inode == _inode(watch.path):
                watch.current = _Reader.open(watch.path, where.offset)
            else:
                watch.current = _Reader.open(watch.path, 0)  # a file new since `start`

    def poll(self) -> list[LogLine]:
        """Every line completed since the last poll, old files' lines first."""
        now = self.clock()
        out: list[LogLine] = []
        for source, watch in self.watches.items():
            texts = self._drain_retired(watch, now)
            if watch.current is not None:
                texts += watch.current.read()
            inode = _inode(watch.path)
            if inode is not None and (watch.current is None or inode != watch.current.inode):
                fresh = _Reader.open(watch.path, 0)
                if fresh is not None:
                    if watch.current is not None:
                        watch.current.grew_at = now
                        watch.retired.append(watch.current)
                    watch.current = fresh
                    texts += fresh.read()
            out.extend(LogLine(source, text) for text in texts)
        return out

    def _drain_retired(self, watch: _Watch, now: float) -> list[str]:
        texts: list[str] = []
        for reader in list(watch.retired):
            fresh = reader.read()
            if fresh:
                reader.grew_at = now
            elif now - reader.grew_at >= self.retire_after:
                fresh = reader.close()
                watch.retired.remove(reader)
            texts += fresh
        return texts

    def close(self) -> None:
        for watch in self.watches.values():
            for reader in [*watch.retired, *([watch.current] if watch.current else [])]:
                reader.close()
            watch.retired.clear()
            watch.current = None


def follow(
    paths: Mapping[str, Path], start: Mapping[str, Position] | None = None, *, poll: float = 0.2
) -> Iterator[LogLine]:
    """Lines appended to `paths` from `start` (default: now) on, until closed."""
    follower = Follower(paths, start)
    try:
        while True:
            lines = follower.poll()
            yield from lines
            if not lines:
                time.sleep(poll)
    finally:
        follower.close()
