"""The lock `hostd up` (or `hostd watch`) holds for its life: an flock on `up.lock` in
the instance's run folder, claimed by the daemon, asked by commands (is hostd up?).

Light: the standard library's `os` and `fcntl` alone. The command that hands a reload
to the running daemon asks here before it signals it, and every import on that path is
time a deploy's new version waits for (`hostd.cli.handoff`)."""

from __future__ import annotations

import fcntl
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def open_lock_file(path: Path) -> int:
    """A descriptor of the lock file `path`, created (and its folder) if need be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # readable: `hostd status` as adm


def claim_instance(path: Path) -> int:
    """Lock `path` for the life of this process; InstanceError if another holds it."""
    fd = open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        from hostd.errors import InstanceError  # not on the light path: a failure's

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
