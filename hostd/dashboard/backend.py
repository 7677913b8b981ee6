"""What the dashboard asks of hostd, through the same code as the CLI.

`HostdBackend` builds its view of the instance the way `hostd status`, `hostd
plan`, `hostd logs` and `hostd reload` do (wiring.running_layout, make_reconciler)
from the home or root it was given; the views only see the `Backend` protocol, so
tests can hand them another.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from hostd.errors import InstanceError
from hostd.files import site_paths
from hostd.layout import Layout
from hostd.logs import LogLine, read_history, site_log_folders, site_logs
from hostd.plan import Change, plan_diff
from hostd.reconcile import Reconciler
from hostd.report import ApplyReport
from hostd.settings import Settings, load_settings
from hostd.sites import load_sites
from hostd.status import Status, collect_status
from hostd.wiring import layout_for, make_reconciler, running_layout

logger = logging.getLogger("hostd.dashboard")


@dataclass(frozen=True)
class Pending:
    """What the next apply would do to one site: its change, why it is refused, the diff."""

    change: str  # added, changed, removed, unchanged
    error: str | None
    diff: str


class Backend(Protocol):
    def status(self) -> Status: ...

    def pending(self, site: str) -> Pending: ...

    def log_lines(self, site: str, count: int) -> list[LogLine] | None:
        """The last `count` lines of each of the site's logs in time order; None if the
        site has no logs."""
        ...

    def reload(self, site: str, wait: float) -> ApplyReport | None:
        """Apply `site` as `hostd reload SITE` does; None if still running after `wait`."""
        ...

    def http_port(self) -> int:
        """The port the instance serves HTTP on, for links to the sites."""
        ...


class HostdBackend:
    def __init__(self, home: Path | None, root: Path = Path("/"), sites_dir: Path | None = None):
        self.home = home
        self.root = root
        self.sites_dir = sites_dir

    @property
    def layout(self) -> Layout:
        """Where the instance keeps its files (enough for secrets and users)."""
        return layout_for(self.home, self.sites_dir, self.root)

    def view(self) -> tuple[Layout, Settings]:
        """The running instance's layout and settings, else the files' own (like the CLI)."""
        try:
            layout, settings = running_layout(self.home, self.root)
        except InstanceError:
            layout = self.layout
            settings = load_settings(layout.config_file, layout.mode)
        if self.sites_dir is not None:
            layout = replace(layout, sites_dir=self.sites_dir.absolute())
        return layout, settings

    def reconciler(self) -> Reconciler:
        return make_reconciler(*self.view())

    def status(self) -> Status:
        return collect_status(self.reconciler())

    def pending(self, site: str) -> Pending:
        preview = self.reconciler().preview(only={site})
        own = set(site_paths(site))
        live = {path: text for path, text in preview.live_files.items() if path in own}
        candidate = {path: text for path, text in preview.files.items() if path in own}
        change = next((p.change for p in preview.plan.sites if p.name == site), Change.UNCHANGED)
        error = preview.selection.rejected.get(site)
        return Pending(change.value, str(error) if error else None, plan_diff(live, candidate))

    def log_lines(self, site: str, count: int) -> list[LogLine] | None:
        layout, _ = self.view()
        if site not in site_log_folders(layout):
            return None
        lines, _ = read_history(site_logs(layout, site), count)
        return lines

    def reload(self, site: str, wait: float) -> ApplyReport | None:
        layout, settings = running_layout(self.home, self.root)
        reconciler = make_reconciler(layout, settings)
        live = reconciler.live()
        if site not in set(load_sites(layout.sites_dir)) | set(live.sites if live else {}):
            raise InstanceError(f"unknown site {site!r}")
        done: list[ApplyReport] = []

        def apply() -> None:
            try:
                done.append(reconciler.apply({site}))
            except Exception:  # the worker lives on; the apply's own log says more
                logger.exception("reload of %s failed unexpectedly", site)

        worker = threading.Thread(target=apply, name=f"reload-{site}", daemon=True)
        worker.start()
        worker.join(wait)
        if worker.is_alive():
            return None
        if not done:
            raise InstanceError(f"the reload of {site} failed unexpectedly: see the dashboard log")
        return done[0]

    def http_port(self) -> int:
        return self.view()[1].http.port
