"""Running a site's own code as the site's user, never as hostd's (root in system mode).

Whatever hostd runs of a site's code or venv (the import check before a code reload)
goes through `as_site_user`: the command is prefixed with util-linux's `setpriv`,
which takes the user's uid, gid and groups before anything of the site runs, and
HOME is the user's own.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping, Sequence

from hostd.edges.host import tool
from hostd.errors import HostdError


def as_site_user(
    argv: Sequence[str], env: Mapping[str, str], user: str | None
) -> tuple[list[str], dict[str, str]]:
    """`argv` and `env` to run as `user` (None: as the programs run, i.e. as hostd's
    own user, which is already the site's). HostdError if the user does not exist."""
    if user is None:
        return list(argv), {"HOME": "/", **env}
    try:
        entry = pwd.getpwnam(user)
    except KeyError as exc:
        raise HostdError(f"user {user!r} does not exist") from exc
    env = {"HOME": entry.pw_dir or "/", "USER": user, "LOGNAME": user, **env}
    if entry.pw_uid == os.geteuid():
        return list(argv), env
    prefix = [tool("setpriv"), f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
              "--init-groups", "--"]  # fmt: skip
    return [*prefix, *argv], env
