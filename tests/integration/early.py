"""Slow preparations that start as soon as the tests are collected.

Building a Debian root file system or a venv of packages from PyPI takes a minute or
more, mostly waiting on the network and on dpkg. Each preparation here is started in
the background when a test file that needs it is among the collected tests, so it runs
while the tests before that file do; the file's fixture then waits for it. A
preparation owns one temporary folder, removed when the fixture is done with it, or at
the end of the session if the fixture never ran (a run stopped early); its processes
are killed then.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


class Failed(AssertionError):
    """A preparation's command exited non-zero."""


class Early:
    """One preparation: `steps(folder)` gives the commands to run in order.

    They run as one shell started by the process that collected the tests (its
    main thread: a fork from another thread while the tests fork too is not
    safe), its output in the folder's `early.log`."""

    def __init__(self, name: str, needed_by: str, steps: Callable[[Path], list[list[str]]]):
        self.name = name
        self.needed_by = needed_by  # the test file's name
        self.steps = steps
        self._folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._process is not None:
            return
        self._folder = Path(tempfile.mkdtemp(prefix=f"hostd-early-{self.name}-"))
        script = " && ".join(shlex.join(argv) for argv in self.steps(self._folder))
        with open(self._folder / "early.log", "wb") as log:
            self._process = subprocess.Popen(
                ["sh", "-c", script], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def folder(self, timeout: float = 400) -> Path:
        """The prepared folder, once every step has run (started here if it was not)."""
        self.start()
        assert self._process is not None and self._folder is not None
        try:
            code = self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failed(f"{self.name}: not prepared within {timeout:.0f} s") from None
        if code != 0:
            output = (self._folder / "early.log").read_text(errors="replace")
            raise Failed(f"{self.name}: exited {code}:\n{output[-3000:]}")
        return self._folder

    def remove(self) -> None:
        """Stop what still runs and remove the folder."""
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(30)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._folder, self._process = None, None


MIRROR = "http://deb.debian.org/debian"  # where apt's sources point on Debian 12
HTTPBIN = ("httpbin==0.10.*", "gunicorn==27.*")
DJANGO = ("django==5.2.*", "gunicorn==27.*", "uvicorn-worker==0.4.*")


def _debian_rootfs(folder: Path) -> list[list[str]]:
    """A minimal Debian 12 (python3, python3-venv, nginx-light) as `rootfs.tar`."""
    root = folder / "rootfs"
    return [
        ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,nginx-light",
         "bookworm", str(root), MIRROR],
        ["tar", "-C", str(root), "-cf", str(folder / "rootfs.tar"), "."],
        ["rm", "-rf", str(root)],
    ]  # fmt: skip


def _venv(folder: Path, *packages: str) -> list[list[str]]:
    return [
        [sys.executable, "-m", "venv", str(folder)],
        [str(folder / "bin" / "pip"), "install", "-q", *packages],
    ]


def _stock_venvs(folder: Path) -> list[list[str]]:
    """Two venvs from PyPI: `httpbin/` and `django/`."""
    return [*_venv(folder / "httpbin", *HTTPBIN), *_venv(folder / "django", *DJANGO)]


DEBIAN_ROOTFS = Early("rootfs", "test_kubernetes_pod.py", _debian_rootfs)
STOCK_VENVS = Early("stock-venvs", "test_stock_apps.py", _stock_venvs)
ALL = (DEBIAN_ROOTFS, STOCK_VENVS)


def start_for(test_files: Iterable[str]) -> None:
    """Start the preparations the collected `test_files` (names) need."""
    wanted = set(test_files)
    for early in ALL:
        if early.needed_by in wanted:
            early.start()


def remove_all() -> None:
    for early in ALL:
        early.remove()
