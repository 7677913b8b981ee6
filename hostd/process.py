"""Child daemons of `hostd up`: start them tied to hostd, stop them, find strays."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

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


def spawn(argv: Sequence[str], *, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session, output appended to `log`."""
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
            )
        except OSError as exc:
            raise CommandError(argv, None, str(exc)) from exc


def stop(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Send `sig`, wait up to `timeout`, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def processes_mentioning(text: str) -> list[int]:
    """Pids of processes (not this one) whose command line contains `text`."""
    found: list[int] = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def kill_all(pids: Sequence[int], timeout: float = 5.0) -> None:
    """TERM `pids`, then KILL whatever is left after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
