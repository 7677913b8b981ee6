"""A site's log folder in system mode: /var/log/<site>/, hostd's own and marked so.

0755 root:adm, as Debian keeps /var/log/nginx: nginx's www-data workers reopen
access.log and error.log there after logrotate's USR1, which a 0750 folder would
refuse them (they would write on into access.log.1). The files inside stay 0640
root:adm (logrotate's `create`), which nginx's master hands to its workers' user.
A marker file says the folder is hostd's, so `hostd logs` and the clean-up of
removed sites never take another package's folder for a site.
"""

from __future__ import annotations

import grp
import os
import shutil
from pathlib import Path

MARKER = ".hostd-site"
MODE = 0o755
LINES = ("access.log", "error.log")  # what a site that served a request has written


def adm_group() -> int | None:
    try:
        return grp.getgrnam("adm").gr_gid
    except KeyError:
        return None


def is_hostd_folder(folder: Path) -> bool:
    """A site log folder hostd made (marked, or from before the marker: app.log in it)."""
    try:
        return (folder / MARKER).is_file() or (folder / "app.log").is_file()
    except OSError:  # another program's private folder (/var/log/private is 0700)
        return False


def prepare(folder: Path, adm: int | None) -> None:
    """The folder, made or fixed: 0755 root:adm with hostd's marker."""
    folder.mkdir(parents=True, exist_ok=True, mode=MODE)
    if adm is not None:
        os.chown(folder, 0, adm)
    os.chmod(folder, MODE)
    marker = folder / MARKER
    if not marker.exists():
        marker.write_text("This folder holds the logs of a site hostd serves.\n")


def foreign(folder: Path) -> bool:
    """True if `folder` exists and is not hostd's: a site may not take it."""
    return folder.exists() and not is_hostd_folder(folder)


def unused(folder: Path) -> bool:
    """No request was served: no access or error line (app.log holds gunicorn's start)."""
    for name in LINES:
        try:
            if (folder / name).stat().st_size > 0:
                return False
        except FileNotFoundError:
            continue
    return True


def remove_unused(log_root: Path, keep: set[str]) -> list[str]:
    """Remove the hostd log folders of sites not in `keep` that never served a request;
    the names removed. Folders with requests stay for their owner to read."""
    removed = []
    for marker in sorted(log_root.glob(f"*/{MARKER}")):
        folder = marker.parent
        if folder.name not in keep and unused(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed
