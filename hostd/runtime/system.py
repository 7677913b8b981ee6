"""`hostd watch`: the daemon loop plugged into the machine's nginx and supervisord.

On start it puts its two hooks in place (an nginx include in conf.d and one
glob in Supervisor's [include]), moves Debian's default site out of the way of
its catch-all, makes the last good generation live under the current settings
and makes sure the machine's daemons serve it. Stopping hostd stops nothing
else: the sites keep serving until hostd is back.
"""

from __future__ import annotations

import os

from hostd.core.logrotate import render_logrotate
from hostd.edges.fs import write_atomic
from hostd.edges.machine_config import install_hooks, machine_of
from hostd.runtime.daemon import Daemon


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
        path = machine_of(self.layout).logrotate_conf
        sites = live.sites if live else {}
        processes = {name: [p for p, _ in site.processes] for name, site in sites.items()}
        text = render_logrotate(self.layout, sites, processes)
        if not path.exists() or path.read_text() != text:
            write_atomic(path, text, 0o644)
