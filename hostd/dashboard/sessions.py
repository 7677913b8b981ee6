"""Logins the dashboard knows of, kept on the server: a cookie is only as good as its
entry here, so logging out (which removes the entry) ends every copy of the cookie.

    dashboard/sessions.json   {session id: {"user": name, "until": epoch}}

Several gunicorn workers share the file: every change holds an flock on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hostd.edges.fs import write_atomic


class LoginSessions:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {sid: entry for sid, entry in data.items() if isinstance(entry, dict)}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def start(self, user: str, lifetime: float) -> str:
        """A new login of `user` lasting `lifetime` seconds; its session id."""
        sid = secrets.token_urlsafe(24)
        now = time.time()
        with self._locked():
            live = {k: v for k, v in self._read().items() if _until(v) > now}
            live[sid] = {"user": user, "until": now + lifetime}
            write_atomic(self.path, json.dumps(live) + "\n", 0o600)
        return sid

    def alive(self, sid: str, user: str) -> bool:
        """`sid` is a login of `user` that has not ended or expired."""
        entry = self._read().get(sid)
        return entry is not None and entry.get("user") == user and _until(entry) > time.time()

    def end(self, sid: str) -> None:
        with self._locked():
            entries = self._read()
            if entries.pop(sid, None) is not None:
                write_atomic(self.path, json.dumps(entries) + "\n", 0o600)


def _until(entry: dict[str, Any]) -> float:
    until = entry.get("until")
    return float(until) if isinstance(until, (int, float)) else 0.0
