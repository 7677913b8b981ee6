"""Restarting hostd in place: the process exec's itself and its next self carries on.

`hostd restart` (or SIGUSR2) makes the running daemon finish its loop and, instead of
stopping what serves the sites, record what it keeps (`hostd up`: the pids of its
nginx and supervisord, `run/handover.json`) and exec its own command again: a new
Python with the hostd now installed, the same pid. An exec leaves child processes
running and still its children, so the next self takes them over as they are:
nginx, supervisord and every gunicorn run on, and no request waits for a restart.
It then starts as after a reboot of hostd alone: the last good generation rendered
under the current settings, the programs and nginx brought in line, the sites
applied. What lived only in the old process goes: warm slots (as on every start),
the crash-loop guard's backoff timers.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from hostd.core.layout import Layout
from hostd.edges.process import pid_alive
from hostd.edges.records import read_up
from hostd.errors import InstanceError

# the signals the daemon handles: blocked across the exec (the mask is inherited) until
# the next self has its handlers, since their default would end the process
HANDLED_SIGNALS = frozenset(
    {signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2}
)


def exec_self() -> None:
    """Replace this process by a new run of the same hostd command (never returns)."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
    os.execv(sys.executable, [sys.executable, "-m", "hostd", *sys.argv[1:]])


def restart_running(layout: Layout, timeout: float) -> tuple[int, float]:
    """Ask the running hostd to restart in place and wait until its next self serves;
    its pid and the seconds it took. Raises InstanceError."""
    record = read_up(layout)
    if record is None:
        raise InstanceError(f"no running hostd recorded in {layout.runtime_file}")
    before = _identity(layout)
    started = time.monotonic()
    try:
        os.kill(record.pid, signal.SIGUSR2)
    except ProcessLookupError as exc:
        raise InstanceError(f"hostd (pid {record.pid}) is not running") from exc
    except PermissionError as exc:
        raise InstanceError(f"not allowed to signal hostd (pid {record.pid}): {exc}") from exc
    deadline = started + timeout
    while time.monotonic() < deadline:
        now = _identity(layout)
        if now is not None and now != before:
            again = read_up(layout)
            if again is not None and again.pid == record.pid:
                return record.pid, time.monotonic() - started
        if not pid_alive(record.pid):
            raise InstanceError(f"hostd (pid {record.pid}) exited instead of restarting")
        time.sleep(0.02)
    raise InstanceError(f"hostd (pid {record.pid}) did not serve again within {timeout:.0f}s")


def _identity(layout: Layout) -> tuple[int, int] | None:
    """The up record's inode and change time: a new self writes a new file."""
    try:
        info = layout.runtime_file.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns
