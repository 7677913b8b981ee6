"""`hostd reload SITE…` handed to the running daemon: requests and replies as files.

A deploy runs `hostd reload blog`, and until it is answered the new code waits: a
command that imported all of hostd and built its own transaction spent 0.2 s on that
before the new version began to boot. The daemon has all of it loaded. So the command
writes a request (`run/reloads/ID.json`: the sites, the output form), sends the daemon
SIGUSR1 and waits for `ID.reply.json` (what to print, and the exit code), while the
daemon lives. A daemon says in its up record that it takes requests (`"reloads"`), so
no signal goes to one that would die of it. Light: the command imports this and little
else (hence its own small JSON reads and writes, not `records` and `fs`, which bring
the core in).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostd.edges.procfs import proc_cmdline

INBOX = "reloads"  # below the run folder; also the up record's key
REPLY = ".reply.json"


@dataclass(frozen=True)
class Request:
    id: str
    sites: list[str]
    json: bool


@dataclass(frozen=True)
class Reply:
    out: list[str]  # lines for standard output
    err: list[str]  # lines for standard error
    code: int


def inbox_of(run_dir: Path) -> Path:
    return run_dir / INBOX


# -- the command's side ---------------------------------------------------------------


def daemon_taking_requests(up_record: Path) -> int | None:
    """The pid of the daemon the up record names if it takes reload requests and runs
    (its command line names hostd: a pid reused after a crash is not signalled)."""
    try:
        data = json.loads(up_record.read_text())
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not data.get(INBOX) or pid <= 1:
        return None
    return pid if b"hostd" in (proc_cmdline(pid) or b"") else None


def ask(run_dir: Path, pid: int, sites: list[str], as_json: bool, timeout: float) -> Reply | None:
    """Hand the reload to daemon `pid` and wait for its reply; None if the request
    could not be made (the caller reloads by itself). Raises TimeoutError, or
    ProcessLookupError if the daemon is gone before it replied."""
    inbox = inbox_of(run_dir)
    request = Request(f"{os.getpid()}-{os.urandom(6).hex()}", sites, as_json)
    try:
        _write(inbox / f"{request.id}.json", {"sites": request.sites, "json": request.json})
        os.kill(pid, signal.SIGUSR1)
    except OSError:
        (inbox / f"{request.id}.json").unlink(missing_ok=True)
        return None
    reply = inbox / f"{request.id}{REPLY}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = _read(reply)
        if data is not None:
            reply.unlink(missing_ok=True)
            out, err = data.get("out", []), data.get("err", [])
            return Reply([str(x) for x in out], [str(x) for x in err], int(data.get("code", 3)))
        os.kill(pid, 0)  # ProcessLookupError once it is gone
        time.sleep(0.005)
    raise TimeoutError(f"no reply from hostd (pid {pid}) within {timeout:.0f}s")


# -- the daemon's side ------------------------------------------------------------------


def pending(run_dir: Path) -> Iterator[Request]:
    """The requests waiting, oldest first; each is taken (its file removed) as it is
    yielded. A damaged one is dropped."""
    inbox = inbox_of(run_dir)
    try:
        names = sorted(
            (entry.stat().st_mtime_ns, entry.name)
            for entry in os.scandir(inbox)
            if entry.name.endswith(".json") and not entry.name.endswith(REPLY)
            and not entry.name.startswith(".")
        )  # fmt: skip
    except OSError:
        return
    for _, name in names:
        path = inbox / name
        data = _read(path)
        path.unlink(missing_ok=True)
        if data is None:
            continue
        sites = data.get("sites")
        if isinstance(sites, list) and all(isinstance(s, str) for s in sites):
            yield Request(name.removesuffix(".json"), sites, bool(data.get("json")))


def answer(run_dir: Path, request: Request, reply: Reply) -> None:
    _write(inbox_of(run_dir) / f"{request.id}{REPLY}",
           {"out": reply.out, "err": reply.err, "code": reply.code})  # fmt: skip


STALE = 60.0  # seconds after which a request or reply nobody took is dropped


def prepare(run_dir: Path) -> None:
    """The inbox, without what nobody waits for any more: replies and requests older
    than a minute, half-written files. A request of the moments before (a restart in
    place, whose command waits on the same pid) stays, to be answered."""
    inbox = inbox_of(run_dir)
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = time.time()
    for entry in os.scandir(inbox):
        try:
            old = now - entry.stat().st_mtime > STALE
        except OSError:
            continue
        if old or entry.name.startswith(".") or entry.name.endswith(REPLY):
            Path(entry.path).unlink(missing_ok=True)


def _write(path: Path, data: dict[str, Any]) -> None:
    """All or nothing: a reader sees the whole file or none."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
