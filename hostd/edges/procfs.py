"""/proc, the one reader: what hostd reads of a process by its pid. Light (the
standard library's os only): the command that hands a reload to the daemon imports it
before anything else."""

from __future__ import annotations

import os


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


class ProcStat(tuple[int, str, int, int, int]):
    """The fields of /proc/PID/stat hostd uses: pid, state (R, S, D, Z, ...), ppid,
    pgid, and start, in clock ticks after boot (tells a process from a reused pid).
    A tuple (typing's NamedTuple would import re, namedtuple collections)."""

    __slots__ = ()

    def __new__(cls, pid: int, state: str, ppid: int, pgid: int, start: int) -> ProcStat:
        return super().__new__(cls, (pid, state, ppid, pgid, start))

    @property
    def pid(self) -> int:
        return self[0]

    @property
    def state(self) -> str:
        return self[1]

    @property
    def ppid(self) -> int:
        return self[2]

    @property
    def pgid(self) -> int:
        return self[3]

    @property
    def start(self) -> int:
        return self[4]


def proc_stat(pid: int) -> ProcStat | None:
    """/proc/PID/stat of `pid`, or None if there is no such process."""
    try:
        # the command name may hold spaces and parentheses: the fields follow the last ")"
        fields = _read(f"/proc/{pid}/stat").decode(errors="replace").rsplit(")", 1)[1].split()
        return ProcStat(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[19]))
    except (OSError, IndexError, ValueError):
        return None


def proc_pids() -> list[int]:
    """Every process id in /proc, this process's included."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def proc_cmdline(pid: int) -> bytes | None:
    """The NUL-separated command line of `pid`, or None."""
    try:
        return _read(f"/proc/{pid}/cmdline")
    except OSError:
        return None


def proc_command(pid: int) -> str | None:
    """The command name (/proc/PID/comm) of `pid`, or None."""
    try:
        return _read(f"/proc/{pid}/comm").decode(errors="replace").strip()
    except OSError:
        return None
