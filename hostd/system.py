"""`hostd watch`: the daemon loop plugged into the machine's nginx and supervisord.

On start it puts its two hooks in place (an nginx include in conf.d and one
glob in Supervisor's [include]), moves Debian's default site out of the way of
its catch-all, makes the last good generation live under the current settings
and makes sure the machine's daemons serve it. Stopping hostd stops nothing
else: the sites keep serving until hostd is back.
"""

from __future__ import annotations

import os
from pathlib import Path

from hostd.daemon import Daemon
from hostd.errors import InstanceError
from hostd.hooks import (
    declares_default_server,
    nginx_hook_text,
    supervisor_glob,
    with_supervisor_include,
)
from hostd.layout import Layout, Machine
from hostd.rotation import render_logrotate
from hostd.store import write_atomic


class SystemRuntime(Daemon):
    def prepare_folders(self) -> None:
        super().prepare_folders()
        os.chmod(self.layout.state_dir, 0o755)

    def start_services(self) -> None:
        for change in install_hooks(self.layout):
            self.say(change)
        boot = self.reconciler.boot()
        self.say(f"generation {boot.id} is live ({len(boot.sites)} last good sites)")
        for problem in self.reconciler.resume():
            self.say(f"not serving the live generation yet: {problem}")

    def stop_services(self) -> None:
        self.say("stopped watching; the sites keep serving")

    def sites_changed(self) -> None:
        """Debian's daily logrotate rotates every live site's logs."""
        live = self.reconciler.live()
        path = _machine(self.layout).logrotate_conf
        text = render_logrotate(self.layout, live.sites if live else {})
        if not path.exists() or path.read_text() != text:
            write_atomic(path, text, 0o644)


def _machine(layout: Layout) -> Machine:
    if layout.machine is None:
        raise InstanceError("hostd watch runs in system mode: drop --home")
    return layout.machine


def install_hooks(layout: Layout) -> list[str]:
    """Put hostd's hooks into the machine's configuration; what was changed."""
    machine = _machine(layout)
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
        changes.append(_disable_default_site(default))
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


def _disable_default_site(path: Path) -> str:
    """Debian's default server would answer unknown hosts instead of hostd's 444."""
    if path.is_symlink():
        path.unlink()
        return f"removed the link {path}: hostd's catch-all answers unknown hosts now"
    kept = path.parent.parent / "sites-available" / f"{path.name}.disabled-by-hostd"
    kept.parent.mkdir(parents=True, exist_ok=True)
    path.rename(kept)
    return f"moved {path} to {kept}: hostd's catch-all answers unknown hosts now"
