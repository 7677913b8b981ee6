"""How a site's gunicorn exits under hostd's gunicorn config: what an app registered
for its exit still happens, with the status it would have had, minus the interpreter's
teardown (what makes hundreds of sites stop at once in seconds)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostd.core.render import templates_dir

from .harness import APPS, wait_until

GUNICORN = Path(sys.executable).parent / "gunicorn"
HOSTD_CONFIG = templates_dir() / "gunicorn.conf.py"


@pytest.fixture
def folder() -> Iterator[Path]:
    """A short path (a unix socket's path is at most 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="gx-", dir="/tmp") as name:
        yield Path(name)


def start(folder: Path, config: Path, *flags: str, **env: str) -> subprocess.Popen[bytes]:
    traces = folder / "traces"
    traces.mkdir(exist_ok=True)
    argv = [
        str(GUNICORN), "--config", str(config), "--chdir", str(APPS / "exits"),
        "--bind", f"unix:{folder}/app.sock", "--workers", "1",
        "--control-socket", str(folder / "gunicorn.ctl"),
        "--error-logfile", str(folder / "gunicorn.log"), *flags, "exitapp:app",
    ]  # fmt: skip
    environment = {**os.environ, "EXIT_TRACES": str(traces), **env}
    return subprocess.Popen(argv, env=environment, start_new_session=True)


@contextlib.contextmanager
def running(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """`proc`, and none of its process group once the block is done."""
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def answers(sock: Path) -> bool:
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as client:
        client.settimeout(5)
        client.connect(str(sock))
        client.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        return client.recv(64).split(b" ")[1:2] == [b"200"]
    return False


def stopped(
    folder: Path, *flags: str, group: bool = False, **env: str
) -> tuple[int, dict[str, str]]:
    """Start gunicorn with hostd's config, SIGTERM it once it serves (with `group`, to
    its whole process group at once, as Supervisor's stopasgroup does): its exit
    status, and the traces its processes left (kind.process -> text, process =
    master|worker)."""
    with running(start(folder, HOSTD_CONFIG, *flags, **env)) as proc:
        wait_until(lambda: answers(folder / "app.sock"), 30, "gunicorn serving")
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        status = proc.wait(60)
    names = {str(proc.pid): "master"}
    traces = {}
    for path in (folder / "traces").iterdir():
        kind, pid = path.name.split(".")
        traces[f"{kind}.{names.get(pid, 'worker')}"] = path.read_text()
    return status, traces


def test_a_stopped_gunicorn_runs_atexit_and_flushes_files_but_tears_nothing_down(
    folder: Path,
) -> None:
    status, traces = stopped(folder, "--preload")  # the master imports the app too
    assert status == 0
    assert traces["atexit.master"] == traces["atexit.worker"] == "atexit ran\n"
    assert traces["buffered.master"] == "written, never flushed\n" * 2  # and the fork's copy
    assert not [kind for kind in traces if kind.startswith("teardown.")]
    # the master ended its stop once its last worker was gone, saying so as halt() does
    assert (folder / "gunicorn.log").read_text().count("Shutting down: Master") == 1


def test_a_group_stopped_at_once_ends_as_cleanly(folder: Path) -> None:
    """Master and worker get the SIGTERM together; the master reaps its worker as it
    exits (not at its stop loop's next 0.1 s step) and still ends as halt() does."""
    for _ in range(3):
        for trace in (folder / "traces").glob("*"):
            trace.unlink()
        (folder / "gunicorn.log").unlink(missing_ok=True)
        status, traces = stopped(folder, "--preload", group=True)
        assert status == 0
        assert traces["atexit.master"] == traces["atexit.worker"] == "atexit ran\n"
        assert not [kind for kind in traces if kind.startswith("teardown.")]
        assert (folder / "gunicorn.log").read_text().count("Shutting down: Master") == 1


def test_an_app_thread_still_running_at_exit_is_waited_for(folder: Path) -> None:
    status, traces = stopped(folder, EXIT_THREAD="1")
    assert status == 0
    assert traces["thread.worker"] == "thread finished\n"
    assert traces["atexit.worker"] == "atexit ran\n"
    assert traces["teardown.worker"] == "torn down\n"  # the interpreter's usual exit
    assert (folder / "gunicorn.log").read_text().count("Shutting down: Master") == 1


def test_a_gunicorn_that_fails_exits_with_the_status_it_has_without_hostds_config(
    folder: Path,
) -> None:
    statuses = []
    for config in (HOSTD_CONFIG, Path("/dev/null")):
        with running(start(folder, config, EXIT_FAIL="1")) as proc:
            statuses.append(proc.wait(60))
    assert statuses[0] == statuses[1] != 0


@pytest.mark.parametrize("config", [HOSTD_CONFIG, Path("/dev/null")], ids=["hostd", "plain"])
def test_a_stopping_gunicorn_leaves_the_socket_path_a_newer_one_bound(
    folder: Path, config: Path
) -> None:
    """A site's next version starts in the slot of one still stopping (hostd does not
    wait for it): the newer gunicorn binds the same path, the older one's stop leaves
    it there under hostd's config (gunicorn's own removes it: the newer one would be
    unreachable), and the newer one still removes its own path when it stops."""
    sock = folder / "app.sock"
    with running(start(folder, config)) as older:
        wait_until(lambda: answers(sock), 30, "the older gunicorn serving")
        bound = sock.stat().st_ino
        with running(start(folder, config, "--control-socket", str(folder / "newer.ctl"))) as newer:
            wait_until(lambda: sock.exists() and sock.stat().st_ino != bound, 30, "rebound")
            wait_until(lambda: answers(sock), 30, "the newer gunicorn serving")
            older.send_signal(signal.SIGTERM)
            assert older.wait(60) == 0
            if config == HOSTD_CONFIG:
                assert answers(sock)
            else:
                assert not sock.exists()
                return
            newer.send_signal(signal.SIGTERM)
            assert newer.wait(60) == 0
            assert not sock.exists()
