"""Whether hostd's own daemon (`hostd watch`, or `hostd up`) runs: it holds the
instance lock while it does. Asked read-only, so a member of `adm` can ask too."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from hostd.core.layout import Layout, Mode
from hostd.edges.records import read_up


def daemon_state(layout: Layout) -> str:
    """ "running (pid N)", "not running", or why it cannot be told."""
    command = "hostd watch" if layout.mode is Mode.SYSTEM else "hostd up"
    try:
        fd = os.open(layout.up_lock, os.O_RDONLY)
    except FileNotFoundError:
        return f"not running (start it: {command})"
    except PermissionError:  # the lock is root's: the pid up.json records, if alive
        return _by_pid(layout, command)
    except OSError as exc:
        return f"unknown ({layout.up_lock}: {exc.strerror})"
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        record = read_up(layout)
        return f"running (pid {record.pid})" if record else "running"
    finally:
        os.close(fd)
    return f"not running (start it: {command})"


def _by_pid(layout: Layout, command: str) -> str:
    record = read_up(layout)
    if record is None:
        return f"not running (start it: {command})"
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
    except OSError:
        return f"not running (start it: {command})"
    if b"hostd" in cmdline:
        return f"running (pid {record.pid})"
    return f"not running (start it: {command})"
