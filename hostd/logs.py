"""Reading a site's logs: the last lines, and following them like `tail -F`."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hostd.layout import Layout

SOURCES = ("app", "access", "error", "hostd")


def site_logs(layout: Layout, site: str, sources: tuple[str, ...] = SOURCES) -> dict[str, Path]:
    folder = layout.site_log_dir(site)
    return {source: folder / f"{source}.log" for source in sources}


def tail(path: Path, lines: int = 5) -> str:
    """The last `lines` lines of `path` (from its last 64 KiB), or "" if unreadable."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 65536))
            data = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:]) if lines > 0 else ""


def last_lines(paths: Mapping[str, Path], count: int) -> list[tuple[str, str]]:
    """The last `count` lines of each file, as (source, line)."""
    out: list[tuple[str, str]] = []
    for source, path in paths.items():
        text = tail(path, count)
        out.extend((source, line) for line in text.splitlines())
    return out


@dataclass
class _Cursor:
    path: Path
    inode: int | None = None
    offset: int = 0
    partial: bytes = b""


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size


def follow(
    paths: Mapping[str, Path], *, poll: float = 0.2, stop: object = None
) -> Iterator[tuple[str, str]]:
    """Lines appended to `paths` from now on, surviving rotation and truncation."""
    cursors = {source: _Cursor(path) for source, path in paths.items()}
    for cursor in cursors.values():
        found = _inode(cursor.path)
        if found:
            cursor.inode, cursor.offset = found
    while True:
        quiet = True
        for source, cursor in cursors.items():
            for line in _read_new(cursor):
                quiet = False
                yield source, line
        if quiet:
            time.sleep(poll)


def _read_new(cursor: _Cursor) -> list[str]:
    found = _inode(cursor.path)
    if found is None:
        return []
    inode, size = found
    if inode != cursor.inode or size < cursor.offset:  # rotated or truncated
        cursor.inode, cursor.offset, cursor.partial = inode, 0, b""
    if size == cursor.offset:
        return []
    try:
        with cursor.path.open("rb") as handle:
            handle.seek(cursor.offset)
            data = handle.read(size - cursor.offset)
    except OSError:
        return []
    cursor.offset += len(data)
    data = cursor.partial + data
    *complete, cursor.partial = data.split(b"\n")
    return [line.decode(errors="replace") for line in complete]
