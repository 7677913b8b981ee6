"""/proc, the one reader: what hostd reads of a process by its pid. Light (no
subprocess, no ctypes): the command that hands a reload to the daemon imports it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/PID/stat hostd uses."""

    pid: int
    state: str  # R, S, D, Z, ...
    ppid: int
    pgid: int
    start: int  # clock ticks after boot: tells a process from a reused pid


def proc_stat(pid: int) -> ProcStat | None:
    """/proc/PID/stat of `pid`, or None if there is no such process."""
    try:
        # the command name may hold spaces and parentheses: the fields follow the last ")"
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return ProcStat(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[19]))
    except (OSError, IndexError, ValueError):
        return None


def proc_pids() -> list[int]:
    """Every process id in /proc, this process's included."""
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def proc_cmdline(pid: int) -> bytes | None:
    """The NUL-separated command line of `pid`, or None."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def proc_command(pid: int) -> str | None:
    """The command name (/proc/PID/comm) of `pid`, or None."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
