"""`hostd watch`: the daemon loop plugged into the machine's nginx and supervisord.

On start it puts its two hooks in place (an nginx include in conf.d and one
glob in Supervisor's [include]), moves Debian's default site out of the way of
its catch-all, makes the last good generation live under the current settings
and makes sure the machine's daemons serve it. Stopping hostd stops nothing
else: the sites keep serving until hostd is back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

from hostd.core.alerts import daemon_changes
from hostd.core.logrotate import render_logrotate
from hostd.core.site import site_name
from hostd.core.slots import sites_on_b
from hostd.core.tmpfiles import render_tmpfiles
from hostd.edges.fs import write_atomic
from hostd.edges.inputs import site_files
from hostd.edges.log_folders import remove_unused
from hostd.edges.machine_config import install_hooks, machine_of
from hostd.edges.nginx import read_pid
from hostd.edges.process import pid_alive
from hostd.edges.run_folders import owner_of, remove_stale_run_folders
from hostd.errors import HostdError
from hostd.runtime.daemon import Daemon

DAEMONS_EVERY = 5.0  # seconds between looks at the machine's nginx and supervisord


class SystemRuntime(Daemon):
    daemons_seen: dict[str, int | None] | None = None  # master pids at the last look
    daemons_next = 0.0

    def prepare_folders(self) -> None:
        super().prepare_folders()
        os.chmod(self.layout.state_dir, 0o755)

    def start_services(self) -> None:
        # the first look, before the first apply: a daemon that stops while it runs
        # (its sites served already) is seen to stop
        self.daemons_seen = self._daemons()
        self.daemons_next = time.monotonic() + DAEMONS_EVERY
        for change in install_hooks(self.layout):
            self.say(change)
        boot = self.reconciler.boot()
        self.say(f"generation {boot.id} is live ({len(boot.sites)} last good sites)")
        for problem in self.reconciler.resume():
            self.say(f"not serving the live generation yet: {problem}")

    def stop_services(self) -> None:
        self.say("stopped watching; the sites keep serving")

    def check_services(self) -> None:
        """The machine's nginx and supervisord are its service manager's to restart:
        one that stopped, or runs under a new master process (restarted), is an event
        (and through [notify], an alert)."""
        if time.monotonic() < self.daemons_next:
            return
        self.daemons_next = time.monotonic() + DAEMONS_EVERY
        now = self._daemons()
        for event, fields in daemon_changes(self.daemons_seen or {}, now):
            what = "stopped" if event == "daemon-down" else f"runs again (pid {fields['pid']})"
            self.say(f"{fields['daemon']} {what}")
            self.wired.events.emit(event, level=logging.WARNING, **fields)
        self.daemons_seen = now

    def _daemons(self) -> dict[str, int | None]:
        return {"nginx": _running(self.layout.nginx_pid),
                "supervisord": _running(self.layout.supervisord_pid)}  # fmt: skip

    def sites_changed(self) -> None:
        """Debian's daily logrotate rotates every live site's logs; systemd-tmpfiles
        makes their run folders at boot; sites no longer live leave no folders."""
        live = self.reconciler.live()
        sites = live.sites if live else {}
        machine = machine_of(self.layout)
        processes = {name: [p for p, _ in site.processes] for name, site in sites.items()}
        text = render_logrotate(self.layout, sites, processes)
        _write_if_changed(machine.logrotate_conf, text)
        try:
            owners = {name: owner_of(site) for name, site in sites.items()}
            on_b = sites_on_b(live.files, sites) if live else frozenset()
            text = render_tmpfiles(self.layout, owners, on_b)
            _write_if_changed(machine.tmpfiles_conf, text)
        except (KeyError, OSError) as exc:  # a user removed since the apply
            self.say(f"cannot write {machine.tmpfiles_conf}: {exc}")
        for name in remove_stale_run_folders(self.layout, set(sites)):
            self.say(f"removed the run folder of {name}: it is not served any more")
        files = set(site_names(self.layout.sites_dir))  # a failed site's app.log explains it
        for name in remove_unused(self.layout.log_root, set(sites) | files):
            self.say(f"removed the log folder of {name}: its file is gone, it served no request")


def site_names(folder: Path) -> list[str]:
    """The names of the site files in `folder` (none if it cannot be read)."""
    names = []
    try:
        paths = site_files(folder)
    except (OSError, HostdError):
        return []
    for path in paths:
        with contextlib.suppress(HostdError):
            names.append(site_name(path))
    return names


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        write_atomic(path, text, 0o644)


def _running(pid_file: Path) -> int | None:
    """The pid a daemon's pid file names, if that process lives."""
    pid = read_pid(pid_file)
    return pid if pid is not None and pid_alive(pid) else None
