"""The dashboard's users: names and bcrypt hashes in one 0600 file in the state folder.

There is no default user and no default password: `hostd dashboard passwd USER`
creates the first. A login's identity carries a fingerprint of the password hash,
so changing a password ends every session and "remember me" cookie of that user.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask_bcrypt import Bcrypt

from hostd.edges.fs import write_atomic
from hostd.errors import UsageError

USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8
MAX_PASSWORD_BYTES = 72  # what bcrypt reads; longer passwords are refused, not cut


class UserError(UsageError):
    """A user name or password that cannot be stored."""


@dataclass(frozen=True)
class User:
    """A dashboard user as Flask-Login sees one."""

    name: str
    password_hash: str
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False
    session: str = ""  # the server-side login this user came with (LoginSessions)

    def get_id(self) -> str:
        base = f"{self.name}:{fingerprint(self.password_hash)}"
        return f"{base}:{self.session}" if self.session else base


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def check_name(name: str) -> str:
    if not USER_NAME.match(name):
        raise UserError(
            f"invalid user name {name!r}: 1 to 64 of letters, digits and _.@- "
            "(not starting with . @ or -)"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise UserError(f"the password must have at most {MAX_PASSWORD_BYTES} bytes (bcrypt)")
    if password != password.strip() or "\n" in password:
        raise UserError("the password must not start or end with blanks")
    return password


class UserStore:
    """The users file: read for every login, so a new password counts at once."""

    def __init__(self, path: Path, bcrypt: Bcrypt | None = None) -> None:
        self.path = path
        self.bcrypt = bcrypt or Bcrypt()
        self._dummy: str | None = None

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise UserError(f"{self.path}: unreadable users file: {exc}") from exc
        users = data.get("users") if isinstance(data, dict) else None
        if not isinstance(users, dict):
            raise UserError(f"{self.path}: not a users file (no 'users' table)")
        return {name: entry for name, entry in users.items() if isinstance(entry, dict)}

    def names(self) -> list[str]:
        return sorted(self._read())

    def get(self, name: str) -> User | None:
        entry = self._read().get(name)
        if entry is None or not isinstance(entry.get("password"), str):
            return None
        return User(name, entry["password"])

    def by_id(self, user_id: str) -> User | None:
        """The user a session or remember cookie names, if its password is unchanged."""
        name, _, mark = user_id.rpartition(":")
        user = self.get(name)
        return user if user is not None and fingerprint(user.password_hash) == mark else None

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if `password` is theirs; as slow for unknown names as for known ones."""
        user = self.get(name)
        too_long = len(password.encode()) > MAX_PASSWORD_BYTES
        if user is None or too_long:
            self._spend_time()
            return None
        try:
            good = bool(self.bcrypt.check_password_hash(user.password_hash, password))
        except ValueError:  # a damaged hash in the file
            good = False
        return user if good else None

    def _spend_time(self) -> None:
        if self._dummy is None:
            self._dummy = self.bcrypt.generate_password_hash("not a password").decode()
        self.bcrypt.check_password_hash(self._dummy, "still not a password")

    def set_password(self, name: str, password: str) -> bool:
        """Set `name`'s password (creating the user); True if the user is new."""
        check_name(name)
        check_password(password)
        users = self._read()
        created = name not in users
        hashed = self.bcrypt.generate_password_hash(password).decode()
        users[name] = {
            "password": hashed,
            "changed": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps({"users": users}, indent=2, sort_keys=True) + "\n"
        write_atomic(self.path, text, 0o600)
        return created
