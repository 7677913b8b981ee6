"""The machine's own nginx and Supervisor configuration, which system mode plugs into.

Two hooks: an nginx include in conf.d (inside http{} on Debian) and one more glob
in Supervisor's [include]; and Debian's default site, which would answer unknown
hosts instead of hostd's catch-all, moved out of the way. The text of each change
is `hostd.core.attachment`; this module reads and writes the files.
"""

from __future__ import annotations

import os
from pathlib import Path

from hostd.core.attachment import (
    declares_default_server,
    nginx_hook_text,
    supervisor_glob,
    with_supervisor_include,
)
from hostd.core.layout import Layout, Machine
from hostd.edges.fs import write_atomic
from hostd.edges.init_record import remember
from hostd.errors import InstanceError


def machine_of(layout: Layout) -> Machine:
    if layout.machine is None:
        raise InstanceError("hostd watch runs in system mode: drop --home")
    return layout.machine


def install_hooks(layout: Layout) -> list[str]:
    """Put hostd's hooks into the machine's configuration; what was changed."""
    machine = machine_of(layout)
    changes: list[str] = []
    for path, what in ((machine.nginx_conf, "nginx"), (machine.supervisor_conf, "Supervisor")):
        if not path.is_file():
            raise InstanceError(
                f"{what} is not set up: {path} is missing (apt-get install nginx supervisor)"
            )
    hook = nginx_hook_text(layout)
    current = machine.nginx_hook.read_text() if machine.nginx_hook.exists() else None
    if current != hook:
        write_atomic(machine.nginx_hook, hook, 0o644)
        changes.append(f"added {machine.nginx_hook}: nginx includes hostd's sites")
    default = machine.nginx_default_site
    if default.is_file() and declares_default_server(default.read_text()):
        changes.append(_disable_default_site(layout, default))
    text = machine.supervisor_conf.read_text()
    try:
        updated = with_supervisor_include(text, supervisor_glob(layout))
    except ValueError as exc:
        raise InstanceError(f"{machine.supervisor_conf}: {exc}") from exc
    if updated is not None:
        mode = machine.supervisor_conf.stat().st_mode & 0o777
        write_atomic(machine.supervisor_conf, updated, mode)
        changes.append(f"added hostd's programs to the [include] of {machine.supervisor_conf}")
    return changes


def _disable_default_site(layout: Layout, path: Path) -> str:
    """Debian's default server would answer unknown hosts instead of hostd's 444."""
    if path.is_symlink():
        remember(layout, "default_site", {"link": str(path), "target": os.readlink(path)})
        path.unlink()
        return f"removed the link {path}: hostd's catch-all answers unknown hosts now"
    kept = path.parent.parent / "sites-available" / f"{path.name}.disabled-by-hostd"
    kept.parent.mkdir(parents=True, exist_ok=True)
    remember(layout, "default_site", {"moved": str(path), "to": str(kept)})
    path.rename(kept)
    return f"moved {path} to {kept}: hostd's catch-all answers unknown hosts now"
