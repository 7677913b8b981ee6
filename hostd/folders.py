"""Folders a site needs before nginx or Supervisor touch it, with their owners.

Log folders: nginx opens their files even to validate. System mode: a run
folder the site's user owns (its gunicorn binds there), and log folders
readable by the `adm` group, as Debian does for /var/log.
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Mapping

from hostd.errors import SiteError
from hostd.instance import Instance
from hostd.layout import Mode
from hostd.model import Site
from hostd.render import program_user
from hostd.store import write_atomic


def unknown_users(sites: Mapping[str, Site], instance: Instance) -> dict[str, SiteError]:
    """Sites whose program would run as a user this machine does not have."""
    errors: dict[str, SiteError] = {}
    for name, site in sites.items():
        user = program_user(site, instance)
        if user is None:
            continue
        try:
            pwd.getpwnam(user)
        except KeyError:
            errors[name] = SiteError(
                f"user {user!r} does not exist on this machine",
                file=site.file,
                line=site.line("app.user"),
                key="app.user",
            )
    return errors


def prepare_site_folders(sites: Mapping[str, Site], instance: Instance) -> None:
    layout = instance.layout
    system = layout.mode is Mode.SYSTEM
    if not layout.gunicorn_conf.exists():
        write_atomic(layout.gunicorn_conf, "# hostd: gunicorn takes its settings from flags\n")
    adm = _group_id("adm") if system else None
    for name, site in sites.items():
        logs = layout.site_log_dir(name)
        logs.mkdir(parents=True, exist_ok=True, mode=0o750)
        if adm is not None:
            os.chown(logs, 0, adm)
        if system:
            run = layout.site_run_dir(name)
            run.mkdir(parents=True, exist_ok=True, mode=0o755)
            user = pwd.getpwnam(program_user(site, instance) or "root")
            os.chown(run, user.pw_uid, user.pw_gid)


def _group_id(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None
