"""The listening TCP sockets of running processes, taken over for the nginx that replaces
a dead one.

When nginx's master dies, its workers live on and keep accepting on the listening
sockets they inherited; an nginx started fresh cannot bind those ports until they
are gone, and between their end and its start every connection is refused. nginx
takes listening sockets from its parent instead of binding, as it does for its own
binary upgrade: their descriptors in the environment variable `NGINX`
(`"5;6;"`). hostd copies them out of a surviving worker with `pidfd_getfd(2)`
(Linux 5.6; the same permission as ptrace, which root and a parent of the workers
have), so the new nginx accepts on the very sockets the old workers do, and the
queue of waiting connections is never closed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterable
from pathlib import Path

SYS_PIDFD_GETFD = 438  # the same number on every architecture Linux numbers afresh
TCP_LISTEN = "0A"
_libc = ctypes.CDLL(None, use_errno=True)


def listening_inodes(proc: Path = Path("/proc")) -> set[int]:
    """The inodes of every listening TCP socket (IPv4 and IPv6) of this network."""
    inodes: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == TCP_LISTEN:
                inodes.add(int(fields[9]))
    return inodes


def held_listeners(pids: Iterable[int], proc: Path = Path("/proc")) -> dict[int, tuple[int, int]]:
    """Socket inode -> (pid, fd) for each listening TCP socket one of `pids` holds
    (the first holder found of each)."""
    listening = listening_inodes(proc)
    held: dict[int, tuple[int, int]] = {}
    for pid in pids:
        folder = proc / str(pid) / "fd"
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError, ValueError):
                target = os.readlink(entry)
                if target.startswith("socket:["):
                    inode = int(target[len("socket:[") : -1])
                    if inode in listening and inode not in held:
                        held[inode] = (pid, int(entry.name))
    return held


def copy_descriptor(pid: int, fd: int) -> int:
    """A descriptor of this process for `pid`'s `fd` (close-on-exec). Raises OSError."""
    pidfd = os.pidfd_open(pid)
    try:
        copied = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if copied < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"pidfd_getfd({pid}, {fd}): {os.strerror(errno)}")
        return int(copied)
    finally:
        os.close(pidfd)


def take_listeners(pids: Iterable[int]) -> list[int]:
    """Copies of the listening sockets `pids` hold, one per socket; none where the
    kernel refuses (the caller then starts without them)."""
    taken: list[int] = []
    try:
        for pid, fd in held_listeners(pids).values():
            taken.append(copy_descriptor(pid, fd))
    except OSError:
        close_all(taken)
        return []
    return taken


def inherited_env(fds: Iterable[int]) -> dict[str, str]:
    """The environment variable that hands `fds` to nginx as its listening sockets."""
    text = "".join(f"{fd};" for fd in fds)
    return {"NGINX": text} if text else {}


def close_all(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
