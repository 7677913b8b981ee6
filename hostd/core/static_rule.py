"""Which folders a site may hand nginx as `static:`, purely.

nginx serves every file below a static folder to anyone, so a static folder may
not be, lie inside, or contain:

- `/` and the machine's own folders: /etc, /root, /boot, /proc, /sys, /dev, /run and
  the program folders (/bin, /sbin, /lib*, /usr/bin, /usr/lib, ..., /var/lib,
  /var/log, ...); /usr, /var, /home, /srv, /opt, /tmp, /mnt and /media themselves
  (folders inside them are fine);
- hostd's own folders: its home, state, logs (every site's log folder), run folder,
  sites folder, certificates;
- another site's app root (its code, often its secrets).

A folder inside the site's own app root is fine (`static/` next to the code).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from hostd.core.layout import Layout

# refused, and every folder inside them
SYSTEM_TREES = tuple(
    PurePosixPath(p)
    for p in (
        "/etc", "/root", "/boot", "/proc", "/sys", "/dev", "/run", "/bin", "/sbin", "/lib",
        "/lib32", "/lib64", "/libx32", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/libexec",
        "/usr/local/bin", "/usr/local/sbin", "/usr/local/lib", "/usr/local/etc", "/var/lib",
        "/var/log", "/var/run", "/var/spool", "/var/cache", "/var/backups", "/var/mail",
        "/var/tmp",
    )
)  # fmt: skip
# refused themselves; folders inside them are fine
SYSTEM_ROOTS = tuple(
    PurePosixPath(p)
    for p in ("/", "/usr", "/usr/local", "/usr/share", "/var", "/home", "/srv", "/opt", "/tmp",
              "/mnt", "/media")
)  # fmt: skip


def overlaps(a: PurePosixPath, b: PurePosixPath) -> bool:
    """`a` and `b` are the same folder or one lies inside the other."""
    return a == b or a in b.parents or b in a.parents


def system_refusal(folder: PurePosixPath) -> str | None:
    """Why `folder` (absolute) is one of the machine's own, or None."""
    if folder in SYSTEM_ROOTS:
        return f"{folder} is a system folder"
    for tree in SYSTEM_TREES:
        if folder == tree or tree in folder.parents:
            return f"{folder} is inside the system folder {tree}"
    return None


def protected_folders(layout: Layout) -> dict[str, PurePosixPath]:
    """hostd's own folders of `layout`, by what they are."""
    folders = {
        "hostd's home": layout.home,
        "hostd's configuration folder": layout.config_file.parent,
        "hostd's state": layout.state_dir,
        "the log folder": layout.log_root,
        "hostd's run folder": layout.run_dir,
        "the sites folder": layout.sites_dir,
        "the certificates": layout.certbot_dir,
        "nginx's folder": layout.nginx_prefix,
    }
    return {what: PurePosixPath(path) for what, path in folders.items()}


def static_refusal(
    folder: PurePosixPath,
    protected: Mapping[str, PurePosixPath],
    other_roots: Mapping[str, PurePosixPath],
) -> str | None:
    """Why nginx may not serve `folder` as a static folder, or None.

    `protected`: hostd's folders by what they are; `other_roots`: the app root of
    every other site, by site name."""
    if (problem := system_refusal(folder)) is not None:
        return problem
    for what, path in protected.items():
        if overlaps(folder, path):
            return f"{folder} overlaps {what} ({path})"
    for name, root in sorted(other_roots.items()):
        if overlaps(folder, root):
            return f"{folder} overlaps the app root of site {name!r} ({root})"
    return None
