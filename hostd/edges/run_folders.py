"""System mode's run folders, /run/hostd/<site>: who owns each, and removing those of
sites no longer served (their gunicorn has stopped; its socket is gone with it)."""

from __future__ import annotations

import grp
import pwd
import shutil

from hostd.core.facts import HostFacts
from hostd.core.layout import Layout
from hostd.core.site import SITE_NAME, Site


def owner_of(site: Site, nginx_group: str = HostFacts.nginx_group) -> tuple[str, str]:
    """The user and group a site's run folder belongs to: the site's user, and nginx's
    group when the machine has it (only nginx and the site reach the socket), else the
    user's own group; KeyError for an unknown user."""
    user = pwd.getpwnam(site.app.user or HostFacts.default_user)
    try:
        return user.pw_name, grp.getgrnam(nginx_group).gr_name
    except KeyError:
        pass
    try:
        group = grp.getgrgid(user.pw_gid).gr_name
    except KeyError:
        group = str(user.pw_gid)
    return user.pw_name, group


def remove_stale_run_folders(layout: Layout, keep: set[str]) -> list[str]:
    """Remove the run folders of sites not in `keep`; the names removed. A folder
    whose name no site can have (hostd's own, `.reloads`) is not a site's."""
    try:
        folders = [path for path in layout.run_dir.iterdir() if path.is_dir()]
    except OSError:
        return []
    removed = []
    for folder in sorted(folders):
        if folder.name not in keep and SITE_NAME.match(folder.name) and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed
