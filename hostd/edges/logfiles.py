"""Reading a site's log files: the last lines, filtered by time and pattern, and
following them like `tail -F` across rotation and truncation.

What a line is, when it was written and which lines count is `hostd.core.logline`;
this module opens the files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from io import FileIO
from pathlib import Path
from typing import BinaryIO

from hostd.core.layout import Layout, Mode
from hostd.core.logline import (
    SOURCES,
    LogFilter,
    LogLine,
    dated,
    error_event,
    last_matching,
    merged,
)
from hostd.edges.log_folders import is_hostd_folder

CHUNK = 65536
RETIRE_AFTER = 2.0  # seconds a rotated-away file is still read after it last grew
NO_FILTER = LogFilter()


@dataclass(frozen=True)
class Position:
    """Where reading a log stopped: the file (by inode) and the offset in it."""

    inode: int
    offset: int


# -- reading files -------------------------------------------------------------------


def site_logs(layout: Layout, site: str, sources: Sequence[str] = SOURCES) -> dict[str, Path]:
    folder = layout.site_log_dir(site)
    return {source: folder / f"{source}.log" for source in sources}


def site_log_folders(layout: Layout) -> list[str]:
    """The sites that have a log folder written by hostd: in system mode only folders
    hostd made (`hostd.edges.log_folders`), never another program's in /var/log."""
    if layout.mode is Mode.SYSTEM:
        try:
            folders = [path for path in layout.log_root.iterdir() if path.is_dir()]
        except OSError:
            return []
        return sorted(folder.name for folder in folders if is_hostd_folder(folder))
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
    paths: Mapping[str, Path], count: int | None, keep: LogFilter = NO_FILTER
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
