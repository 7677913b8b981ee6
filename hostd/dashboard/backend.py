"""What the dashboard asks of hostd, through the same code as the CLI.

`HostdBackend` reads through `hostd.queries` (status, the pending plan, logs) and
applies through `hostd.runtime.wiring`, exactly as `hostd status`, `hostd plan`,
`hostd logs` and `hostd reload` do, from the home or root it was given; the views
only see the `Backend` protocol, so tests can hand them another.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from hostd.core.layout import Layout, layout_for
from hostd.core.logline import LogLine
from hostd.core.report import ApplyReport
from hostd.core.settings import Settings
from hostd.edges.figures_source import fetch_figures
from hostd.edges.inputs import instance_view, load_sites, running_instance
from hostd.edges.logfiles import read_history, site_log_folders, site_logs
from hostd.errors import HostdError, InstanceError, UsageError
from hostd.queries.plan import Pending, pending_site
from hostd.queries.status import Status, collect_status
from hostd.runtime.wiring import make_reconciler

logger = logging.getLogger("hostd.dashboard")


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

    def rollback(self, site: str, wait: float) -> ApplyReport | None:
        """Roll `site` back as `hostd rollback SITE` does; None if still running after
        `wait`."""
        ...

    def http_port(self) -> int:
        """The port the instance serves HTTP on, for links to the sites."""
        ...

    def figures(self) -> dict[str, Any] | None:
        """What the daemon's /figures.json answers; None if no daemon serves them."""
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
        return instance_view(self.home, self.root, self.sites_dir)

    def status(self) -> Status:
        return collect_status(*self.view())

    def pending(self, site: str) -> Pending:
        return pending_site(*self.view(), site)

    def log_lines(self, site: str, count: int) -> list[LogLine] | None:
        layout, _ = self.view()
        if site not in site_log_folders(layout):
            return None
        lines, _ = read_history(site_logs(layout, site), count)
        return lines

    def reload(self, site: str, wait: float) -> ApplyReport | None:
        layout, settings = running_instance(self.home, self.root)
        reconciler = make_reconciler(layout, settings)
        live = reconciler.live()
        if site not in set(load_sites(layout.sites_dir)) | set(live.sites if live else {}):
            raise UsageError(f"unknown site {site!r}")
        return _within(f"reload of {site}", wait, lambda: reconciler.apply({site}))

    def rollback(self, site: str, wait: float) -> ApplyReport | None:
        layout, settings = running_instance(self.home, self.root)
        reconciler = make_reconciler(layout, settings)
        live = reconciler.live()
        if site not in (live.sites if live else {}):
            raise UsageError(f"unknown site {site!r}")
        return _within(f"rollback of {site}", wait, lambda: reconciler.rollback(site))

    def http_port(self) -> int:
        return self.view()[1].http.port

    def figures(self) -> dict[str, Any] | None:
        try:
            return fetch_figures(self.layout)
        except InstanceError as exc:
            logger.debug("no figures: %s", exc)
            return None


def _within(what: str, wait: float, work: Callable[[], ApplyReport]) -> ApplyReport | None:
    """`work`'s report, run on a thread of its own; None if still running after
    `wait` (it goes on). HostdError as `work` raises it."""
    done: list[ApplyReport | HostdError] = []

    def run() -> None:
        try:
            done.append(work())
        except HostdError as exc:
            done.append(exc)
        except Exception:  # the worker lives on; the apply's own log says more
            logger.exception("the %s failed unexpectedly", what)

    worker = threading.Thread(target=run, name=what.replace(" ", "-"), daemon=True)
    worker.start()
    worker.join(wait)
    if worker.is_alive():
        return None
    if not done:
        raise InstanceError(f"the {what} failed unexpectedly: see the dashboard log")
    if isinstance(done[0], HostdError):
        raise done[0]
    return done[0]
