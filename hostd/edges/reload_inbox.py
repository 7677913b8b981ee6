"""`hostd reload SITE…` handed to the running daemon: requests and replies as files.

A deploy runs `hostd reload blog`, and until it is answered the new code waits: a
command that imported all of hostd and built its own transaction spent 0.2 s on that
before the new version began to boot. The daemon has all of it loaded. So the command
writes a request (`run/.reloads/ID.json`: the sites, the output form), sends the daemon
SIGUSR1 and waits for `ID.reply.json` (what to print, and the exit code), while the
daemon lives. A daemon that takes requests says so with its pid in
`run/.reloads/taker`, written once it handles SIGUSR1: no signal goes to one that
would die of it (a hostd from before has no such file), nor to a pid another
program has taken since.

Light: the command reaches the daemon with this module and the standard library's
`os` and `time` alone (no `typing`, no `pathlib`, no `collections`, no `contextlib`,
not even `signal`, which imports `enum`: ~2 ms of a command that takes ~10 ms
before it signals); JSON is imported only once the reply is there.
"""

from __future__ import annotations

import os
import time

from hostd.edges.procfs import proc_cmdline

TYPE_CHECKING = False  # typing (and the re it imports) would cost the deploy more
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, TypeAlias

    AnyPath: TypeAlias = str | os.PathLike[str]

INBOX = ".reloads"  # below the run folder; no site has such a name (system mode's run
# folder holds a folder per site)
REPLY = ".reply.json"
TAKER = "taker"  # the pid of the daemon that takes requests
PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


try:  # the C module `signal` wraps in enums: the same number, without enum's import
    from _signal import SIGUSR1  # type: ignore[import-not-found]
except ImportError:  # a Python without it
    from signal import SIGUSR1


class Request(tuple[str, list[str], bool]):
    """A reload asked: its id (the file's name), the sites, --json. (A tuple, as
    namedtuple's collections would cost the command its import.)"""

    __slots__ = ()

    def __new__(cls, id: str, sites: list[str], json: bool) -> Request:
        return super().__new__(cls, (id, sites, json))

    @property
    def id(self) -> str:
        return self[0]

    @property
    def sites(self) -> list[str]:
        return self[1]

    @property
    def json(self) -> bool:
        return self[2]


class Reply(tuple[list[str], list[str], int]):
    """What the command prints: lines for standard output and standard error, and its
    exit code."""

    __slots__ = ()

    def __new__(cls, out: list[str], err: list[str], code: int) -> Reply:
        return super().__new__(cls, (out, err, code))

    @property
    def out(self) -> list[str]:
        return self[0]

    @property
    def err(self) -> list[str]:
        return self[1]

    @property
    def code(self) -> int:
        return self[2]


def inbox_of(run_dir: AnyPath) -> str:
    return os.path.join(run_dir, INBOX)


# -- the command's side ---------------------------------------------------------------


def daemon_taking_requests(run_dir: AnyPath) -> int | None:
    """The pid of the daemon that takes reload requests in `run_dir` if it runs (its
    command line names hostd: a pid reused after a crash is not signalled)."""
    try:
        with open(os.path.join(inbox_of(run_dir), TAKER), "rb") as file:
            pid = int(file.read().strip() or b"0")
    except (OSError, ValueError):
        return None
    if pid <= 1:
        return None
    return pid if b"hostd" in (proc_cmdline(pid) or b"") else None


def ask(
    run_dir: AnyPath, pid: int, sites: list[str], as_json: bool, timeout: float
) -> Reply | None:
    """Hand the reload to daemon `pid` and wait for its reply; None if the request
    could not be made (the caller reloads by itself). Raises TimeoutError, or
    ProcessLookupError if the daemon is gone before it replied."""
    inbox = inbox_of(run_dir)
    request = Request(f"{os.getpid()}-{os.urandom(6).hex()}", sites, as_json)
    path = os.path.join(inbox, f"{request.id}.json")
    try:
        _write_text(path, _request_text(request))
        os.kill(pid, SIGUSR1)
    except OSError:
        _unlink(path)
        return None
    reply = os.path.join(inbox, f"{request.id}{REPLY}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = _read(reply)
        if data is not None:
            _unlink(reply)
            out, err = data.get("out", []), data.get("err", [])
            return Reply([str(x) for x in out], [str(x) for x in err], int(data.get("code", 3)))
        os.kill(pid, 0)  # ProcessLookupError once it is gone
        time.sleep(0.005)
    raise TimeoutError(f"no reply from hostd (pid {pid}) within {timeout:.0f}s")


def _request_text(request: Request) -> str:
    """A request as JSON; written by hand for plain site names (importing json would
    cost the deploy more than the rest of the command does)."""
    if not all(set(name) <= PLAIN for name in request.sites):
        import json

        return json.dumps({"sites": request.sites, "json": request.json})
    sites = ", ".join(f'"{name}"' for name in request.sites)
    return f'{{"sites": [{sites}], "json": {"true" if request.json else "false"}}}'


# -- the daemon's side ------------------------------------------------------------------


def pending(run_dir: AnyPath) -> Iterator[Request]:
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
        path = os.path.join(inbox, name)
        data = _read(path)
        _unlink(path)
        if data is None:
            continue
        sites = data.get("sites")
        if isinstance(sites, list) and all(isinstance(s, str) for s in sites):
            yield Request(name.removesuffix(".json"), sites, bool(data.get("json")))


def answer(run_dir: AnyPath, request: Request, reply: Reply) -> None:
    import json

    data = {"out": reply.out, "err": reply.err, "code": reply.code}
    _write_text(os.path.join(inbox_of(run_dir), f"{request.id}{REPLY}"), json.dumps(data))


STALE = 60.0  # seconds after which a request or reply nobody took is dropped


def prepare(run_dir: AnyPath, pid: int) -> None:
    """The inbox of daemon `pid`, without what nobody waits for any more: replies and
    requests older than a minute, half-written files, the taker of another daemon
    before. A request of the moments before (a restart in place, whose command waits
    on the same pid) stays, to be answered, and so does the taker naming `pid`."""
    inbox = inbox_of(run_dir)
    os.makedirs(inbox, mode=0o700, exist_ok=True)
    now = time.time()
    for entry in os.scandir(inbox):
        try:
            old = now - entry.stat().st_mtime > STALE
        except OSError:
            continue
        if old or entry.name.startswith(".") or entry.name.endswith(REPLY):
            _unlink(entry.path)
    if daemon_taking_requests(run_dir) != pid:
        _unlink(os.path.join(inbox, TAKER))


def take_requests(run_dir: AnyPath, pid: int) -> None:
    """Say that daemon `pid` takes requests (it handles SIGUSR1 from now on)."""
    _write_text(os.path.join(inbox_of(run_dir), TAKER), f"{pid}\n")


def _write_text(path: str, text: str) -> None:
    """All or nothing: a reader sees the whole file or none."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.tmp")
    with open(tmp, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(tmp, path)


def _read(path: str) -> dict[str, Any] | None:
    """The JSON object in `path`; None if there is none (no file, a damaged one)."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError:
        return None
    import json  # only once there is a file: while the command waits for its reply,
    # the new version boots, and the import would take its CPU

    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _unlink(path: str) -> None:
    try:  # noqa: SIM105 (contextlib.suppress: contextlib would cost the command its import)
        os.unlink(path)
    except FileNotFoundError:
        pass
