"""Whether a site's user can enter its app folder, asked of the file modes before
Supervisor tries: otherwise the program fails to chdir (EACCES) and the apply
waits for it to come up in vain. A Debian 12 home folder is 0700.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path


def _allowed(info: os.stat_result, uid: int, gids: set[int], bit: int) -> bool:
    """`bit` (1 execute, 4 read) of `info`'s mode for that user, as the kernel sees it."""
    if uid == 0:
        return True
    if info.st_uid == uid:
        return bool(info.st_mode & (bit << 6))
    if info.st_gid in gids:
        return bool(info.st_mode & (bit << 3))
    return bool(info.st_mode & bit)


def entry_refusal(folder: Path, user: str) -> str | None:
    """Why `user` cannot enter and read `folder` (the first folder on its path that
    stops them, with its mode and owner), or None; None for an unknown user too."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    gids = {entry.pw_gid, *os.getgrouplist(user, entry.pw_gid)}
    path = Path(os.path.realpath(folder))
    for step in [*reversed(path.parents), path]:
        try:
            info = step.stat()
        except OSError:
            return None  # a missing folder has its own message
        wanted = 5 if step == path else 1
        if not all(_allowed(info, entry.pw_uid, gids, bit) for bit in (1, 4) if wanted & bit):
            owner = _name(info.st_uid)
            return (
                f"user {user!r} cannot enter {step} ({stat.filemode(info.st_mode)} {owner}): "
                f"Permission denied (EACCES); let them in (chmod o+x {step}) or run the site "
                "as its owner (app.user)"
            )
    return None


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
