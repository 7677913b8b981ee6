"""Reading why an app did not start from the tail of its log."""

from __future__ import annotations

from hostd.edges.verify import root_cause

GUNICORN_TAIL = """\
[2026-11-22 02:00:00 +0000] [10] [INFO] Booting worker with pid: 11
Traceback (most recent call last):
  File "/srv/app/crashapp.py", line 3, in <module>
RuntimeError: crashapp refuses to start
[2026-11-22 02:00:00 +0000] [11] [INFO] Worker exiting (pid: 11)
gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>
"""


def test_the_apps_own_exception_wins_over_gunicorns_halt() -> None:
    """The operator sees the app's error, not gunicorn's 'worker failed to boot'."""
    assert root_cause(GUNICORN_TAIL) == "RuntimeError: crashapp refuses to start"


def test_without_an_exception_the_last_line_is_the_cause() -> None:
    """A log without a traceback gives its last line."""
    assert root_cause("starting\nport in use\n\n") == "port in use"
    assert root_cause("") == ""
