"""The lock that keeps one apply at a time: an flock on a file below the instance's run
folder. (The one `hostd up` holds for its life is `hostd.edges.up_lock`.)"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from hostd.edges.up_lock import open_lock_file
from hostd.errors import LockError


@contextmanager
def held_lock(path: Path, timeout: float = 300.0) -> Iterator[None]:
    """Hold the exclusive lock on `path`, waiting up to `timeout` seconds for it."""
    fd = open_lock_file(path)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockError(f"another apply held {path} for over {timeout:.0f}s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


class FileLock:
    """The real `hostd.apply.ports.Lock`: an flock on `path`, shared between processes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def held(self, timeout: float = 300.0) -> AbstractContextManager[None]:
        return held_lock(self.path, timeout)
