"""Processes: start child daemons tied to hostd, stop them, find strays, and read
/proc (the one place that parses it)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from hostd.edges.procfs import proc_cmdline, proc_command, proc_pids, proc_stat
from hostd.errors import CommandError

_PR_SET_PDEATHSIG = 1
# What a daemon inherits from hostd: nothing that would change how sites run
# (GUNICORN_CMD_ARGS, WEB_CONCURRENCY, REQUESTS_CA_BUNDLE, ... stay out).
INHERITED_ENV = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ")
DAEMON_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


def daemon_environment(environ: Mapping[str, str]) -> dict[str, str]:
    env = {key: environ[key] for key in INHERITED_ENV if key in environ}
    env.setdefault("LANG", "C.UTF-8")
    env["PATH"] = DAEMON_PATH
    return env


def _die_with_parent() -> None:
    """In the child: get SIGTERM when hostd dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def spawn(
    argv: Sequence[str], *, env: Mapping[str, str], log: Path, pass_fds: Sequence[int] = ()
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session, output appended to `log`, with the descriptors
    `pass_fds` left open for it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            return subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
                preexec_fn=_die_with_parent,
                pass_fds=tuple(pass_fds),
            )
        except OSError as exc:
            raise CommandError(argv, None, str(exc)) from exc


class Child(Protocol):
    """A daemon this process runs: one it started (a `subprocess.Popen`) or one it
    kept across a restart in place (`Adopted`)."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...


class Adopted:
    """A child this process has from before it exec'd itself (`hostd restart`): the
    same process, still its child (an exec keeps the pid), with Popen's ways to ask
    and tell it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped already, or not ours
                self.returncode = -signal.SIGKILL if not pid_alive(self.pid) else None
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def stop(proc: Child, sig: int, timeout: float) -> None:
    """Send `sig`, wait up to `timeout`, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


MAX_OPEN_FILES = 65536


def raise_open_files_limit() -> int:
    """Let this process and its daemons open as many files as the hard limit allows
    (up to MAX_OPEN_FILES): nginx opens two log files per site, so a soft limit of
    1,024 stops it at about 500 sites. The soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


def processes_mentioning(text: str) -> list[int]:
    """Pids of processes (not this one) whose command line contains `text`."""
    needle = text.encode()
    return [
        pid for pid in proc_pids() if pid != os.getpid() and needle in (proc_cmdline(pid) or b"")
    ]


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot): tells a process from a pid reused."""
    stat = proc_stat(pid)
    return stat.start if stat else None


def group_members(pgid: int, command: str | None = None) -> list[int]:
    """Live processes of process group `pgid` (a dead daemon's children, for one),
    only those whose command name is `command` if given."""
    found: list[int] = []
    for pid in proc_pids():
        stat = proc_stat(pid)
        if stat is None or stat.pgid != pgid or stat.state == "Z":
            continue
        if command is None or proc_command(pid) == command:
            found.append(pid)
    return found


def kill_all(pids: Sequence[int], timeout: float = 5.0) -> None:
    """TERM `pids`, then KILL whatever is left after `timeout`."""
    left = list(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        left = still_running(left, timeout)
        if not left:
            return


def still_running(pids: Sequence[int], timeout: float) -> list[int]:
    """Those of `pids` that have not exited within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    left = [pid for pid in pids if pid_alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [pid for pid in left if pid_alive(pid)]
    return left


def pid_alive(pid: int) -> bool:
    """True while `pid` is a process that has not exited (a zombie has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    stat = proc_stat(pid)
    return stat is not None and stat.state != "Z"
