"""Files on disk, safely: atomic writes and scratch trees (the locks: `locks.py`)."""

from __future__ import annotations

import os
from pathlib import Path

from hostd.core.generation import Files, file_mode


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write `path` through a temporary file, fsync and rename: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_tree(folder: Path, files: Files) -> None:
    """Write `files` below `folder` as they are: a scratch copy, nothing synced."""
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, file_mode(rel))
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
