"""Running logrotate for an embedded instance, on the config hostd renders for it."""

from __future__ import annotations

from collections.abc import Iterable

from hostd.core.layout import Layout
from hostd.core.logline import SOURCES
from hostd.core.logrotate import config_path, logrotate_argv, render_logrotate
from hostd.edges.fs import write_atomic
from hostd.edges.runner import Completed, Runner


def rotate(
    layout: Layout, sites: Iterable[str], runner: Runner, logrotate: str, *, force: bool
) -> Completed:
    """Write the config for `sites` and run logrotate on it (`force`: rotate now)."""
    names = sorted(set(sites))
    processes = {site: process_logs(layout, site) for site in names}
    write_atomic(config_path(layout), render_logrotate(layout, names, processes), 0o644)
    return runner.run(logrotate_argv(logrotate, layout, force=force), timeout=120)


def process_logs(layout: Layout, site: str) -> list[str]:
    """The worker processes of `site` that have a log (NAME.log beside the site's own)."""
    folder = layout.site_log_dir(site)
    return sorted(p.stem for p in folder.glob("*.log") if p.stem not in SOURCES)
