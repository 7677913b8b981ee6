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

import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path


class Failed(AssertionError):
    """A preparation's command exited non-zero."""


class Early:
    """One preparation: `steps(folder)` gives the commands to run in order."""

    def __init__(self, name: str, needed_by: str, steps: Callable[[Path], list[list[str]]]):
        self.name = name
        self.needed_by = needed_by  # the test file's name
        self.steps = steps
        self._folder: Path | None = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._error: str | None = None
        self._stopped = False

    def start(self) -> None:
        if self._thread is not None:
            return
        self._folder = Path(tempfile.mkdtemp(prefix=f"hostd-early-{self.name}-"))
        self._thread = threading.Thread(target=self._run, name=f"early-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._folder is not None
        for argv in self.steps(self._folder):
            if self._stopped:
                return
            try:
                self._process = subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                )
            except OSError as exc:
                self._error = f"{argv}: {exc}"
                return
            output = self._process.communicate()[0].decode(errors="replace")
            if self._process.returncode != 0:
                self._error = f"{argv} exited {self._process.returncode}:\n{output[-3000:]}"
                return

    def folder(self, timeout: float = 400) -> Path:
        """The prepared folder, once every step has run (started here if it was not)."""
        self.start()
        assert self._thread is not None and self._folder is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise Failed(f"{self.name}: not prepared within {timeout:.0f} s")
        if self._error is not None:
            raise Failed(f"{self.name}: {self._error}")
        return self._folder

    def remove(self) -> None:
        """Stop what still runs and remove the folder."""
        self._stopped = True
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        if self._thread is not None:
            self._thread.join(30)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._folder, self._thread, self._process = None, None, None
        self._error, self._stopped = None, False


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
