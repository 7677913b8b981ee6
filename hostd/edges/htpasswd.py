"""The users of a site's basic authentication: a bcrypt file only nginx may read.

One `user:$2b$...` line per user, the format nginx's auth_basic_user_file reads
(glibc's crypt knows bcrypt). The file is replaced atomically, mode 0600, or 0640
with the nginx workers' group when hostd runs as root and the workers do not.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
from pathlib import Path

import bcrypt

from hostd.errors import UsageError

AUTH_USER = re.compile(r"^[A-Za-z0-9._@-]{1,64}\Z")
BCRYPT_ROUNDS = 12


def read_users(file: Path) -> dict[str, str]:
    """User name -> bcrypt hash; none if the file does not exist yet."""
    try:
        text = file.read_text()
    except FileNotFoundError:
        return {}
    users: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, digest = line.partition(":")
        if sep and name:
            users[name] = digest
    return users


def check_user(name: str) -> str:
    if not AUTH_USER.match(name):
        raise UsageError(f"bad user name {name!r}: 1 to 64 of letters, digits and ._@-")
    return name


def hashed(password: str) -> str:
    if not password or len(password.encode()) > 72:
        raise UsageError("a password must have 1 to 72 bytes")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def write_users(file: Path, users: dict[str, str], reader_group: str | None) -> None:
    """Replace `file` with `users`, readable by its owner (and `reader_group`) only."""
    file.parent.mkdir(parents=True, exist_ok=True)
    gid = _group_id(reader_group)
    os.chmod(file.parent, 0o750 if gid is not None else 0o700)
    if gid is not None:
        os.chown(file.parent, -1, gid)
    tmp = file.with_name(f".{file.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, "".join(f"{name}:{users[name]}\n" for name in sorted(users)).encode())
        if gid is not None:
            os.fchown(fd, -1, gid)
            os.fchmod(fd, 0o640)
        else:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    tmp.replace(file)


def _group_id(name: str | None) -> int | None:
    """The group nginx workers read with, when hostd (root) runs them as another user."""
    if name is None or os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name).pw_gid
    except KeyError:
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            raise UsageError(f"no user or group {name!r} for nginx's workers") from None
