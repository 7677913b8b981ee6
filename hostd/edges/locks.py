"""The locks that keep one apply at a time and one `hostd up` per home: flocks on files
below the instance's run folder. Kept light (stdlib only): the command that hands a
reload to the running daemon asks whether one runs."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from hostd.errors import InstanceError, LockError

TYPE_CHECKING = False  # light: the command that hands a reload to the daemon imports this
if TYPE_CHECKING:
    from pathlib import Path


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # readable: `hostd status` as adm


@contextmanager
def held_lock(path: Path, timeout: float = 300.0) -> Iterator[None]:
    """Hold the exclusive lock on `path`, waiting up to `timeout` seconds for it."""
    fd = _open(path)
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


def claim_instance(path: Path) -> int:
    """Lock `path` for the life of this process; InstanceError if another holds it."""
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise InstanceError(
            f"hostd is already running on {path.parent.parent} (pid {owner}); "
            "stop it first or use another --home"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def instance_running(path: Path | str) -> bool:
    """True while some process holds the instance lock at `path`."""
    if not os.path.exists(path):
        return False
    try:
        fd = os.open(path, os.O_RDWR)
        how = fcntl.LOCK_EX
    except PermissionError:  # not the lock's owner (`hostd status` as a member of adm)
        fd = os.open(path, os.O_RDONLY)
        how = fcntl.LOCK_SH
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
