"""`hostd reload` calls that pile up share applies: at most one more per apply running.

A reload reads the site files when its apply starts, so an apply that started after a
call arrived has seen everything that call could ask for. Full reloads queue on
`run/reload.lock`; the one at the front applies and records when its apply started
and what it printed, in each form a caller may ask for (`run/reload.json`); a caller
that finds a record newer than its own arrival prints that and applies nothing. The
moment recorded is when the apply lock was last seen free, so it is never later than
when the apply read the files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from hostd.edges.fs import write_atomic
from hostd.edges.locks import held_lock

# the lines to print in each output form ("text", "json"), and whether the apply was ok
Applied = tuple[dict[str, list[str]], bool]


class ReloadQueue:
    def __init__(self, run_dir: Path, apply_lock: Path) -> None:
        self.lock = run_dir / "reload.lock"
        self.record = run_dir / "reload.json"
        self.apply_lock = apply_lock

    def coalesced(self, apply: Callable[[], Applied], timeout: float = 600.0) -> Applied:
        """`apply()`'s result, or that of an apply that started after this call."""
        called = time.time()
        with held_lock(self.lock, timeout):
            shared = self._since(called)
            if shared is not None:
                return shared
            with held_lock(self.apply_lock, timeout):
                pass  # the apply running now ends: ours reads the files after this moment
            started = time.time()
            forms, ok = apply()
            text = json.dumps({"started": started, "forms": forms, "ok": ok}) + "\n"
            write_atomic(self.record, text, 0o644)
            return forms, ok

    def _since(self, called: float) -> Applied | None:
        try:
            data = json.loads(self.record.read_text())
            if float(data["started"]) >= called:
                forms = {
                    str(form): [str(line) for line in lines]
                    for form, lines in data["forms"].items()
                }
                return forms, bool(data["ok"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
        return None
