"""A test app that leaves traces of how its processes exit.

Each process that imports it (gunicorn's worker, and its master with --preload)
registers an atexit handler, keeps a file open with a line not yet flushed, and holds
an object whose finalizer runs when the interpreter tears its modules down; each
leaves a file in EXIT_TRACES. EXIT_THREAD=1 also starts a thread, not a daemon, that
writes its line only once the app is being stopped. EXIT_FAIL=1 makes the import fail.
"""

import atexit
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

TRACES = Path(os.environ["EXIT_TRACES"])

if os.environ.get("EXIT_FAIL") == "1":
    raise RuntimeError("this app does not load")

unflushed = open(TRACES / f"buffered.{os.getpid()}", "a")  # noqa: SIM115
unflushed.write("written, never flushed\n")


class Finalized:
    def __del__(self) -> None:
        (TRACES / f"teardown.{os.getpid()}").write_text("torn down\n")


held = Finalized()


@atexit.register
def say_goodbye() -> None:
    (TRACES / f"atexit.{os.getpid()}").write_text("atexit ran\n")


def _late_thread() -> None:
    while threading.main_thread().is_alive():  # until Python starts to exit
        time.sleep(0.05)
    time.sleep(0.3)  # work left to do, which Python's exit waits for
    (TRACES / f"thread.{os.getpid()}").write_text("thread finished\n")


if os.environ.get("EXIT_THREAD") == "1":
    threading.Thread(target=_late_thread, daemon=False).start()


def app(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"exit app\n"]
