"""What the next apply would do: `hostd plan` and the dashboard's pending change.

Rendered exactly as an apply renders (the same `preview`), with edges that only
read: gunicorn versions come from their package metadata or source, and nothing is run.
The site files are read as the apply reads them (`SiteFolder`): a sites folder
that is missing, unreadable or suddenly empty changes nothing, and says so.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from hostd.apply.candidate import Preview, Renderer, preview
from hostd.core.generation import Generation, site_paths
from hostd.core.layout import Layout
from hostd.core.plan import Change, plan_diff
from hostd.core.settings import Settings
from hostd.core.site import Site
from hostd.edges.certstore import CertFolder
from hostd.edges.generations import GenerationStore
from hostd.edges.host import Gunicorns, LocalHost, host_facts
from hostd.edges.inputs import SiteFolder, builtin_site
from hostd.edges.records import SITES_FOLDER
from hostd.errors import SiteError, SitesFolderError


@dataclass(frozen=True)
class Pending:
    """What the next apply would do to one site: its change, why it is refused, the diff."""

    change: str  # added, changed, removed, unchanged
    error: str | None
    diff: str


@dataclass(frozen=True)
class SitesNow:
    """The site files as the next apply reads them; `problem`: why the folder cannot
    say which sites exist (the apply then keeps the live sites, as `sites` does)."""

    sites: dict[str, Site | SiteError]
    problem: str | None


def sites_now(layout: Layout, live: Generation | None) -> SitesNow:
    """The site files by the apply's rule, read without writing any record."""
    live_sites = dict(live.sites) if live else {}
    folder = SiteFolder(
        layout.sites_dir,
        lambda: list(live_sites),
        layout,
        layout.state_dir / SITES_FOLDER,
        pauses=layout.maintenance_file,
        read_only=True,
    )
    try:
        return SitesNow(folder.load(), None)
    except SitesFolderError as exc:
        return SitesNow(dict(live_sites), str(exc))


def pending(
    layout: Layout, settings: Settings, only: Collection[str] | None = None
) -> tuple[Preview, str | None]:
    """What `hostd reload` (of `only`) would change now, touching nothing; and why
    the sites folder cannot say which sites exist, if it cannot."""
    gunicorns = Gunicorns()
    facts = host_facts(layout, settings, gunicorns)
    renderer = Renderer(facts, LocalHost(facts, gunicorns), CertFolder(layout))
    live = GenerationStore(layout.state_dir).live()
    now = sites_now(layout, live)
    return preview(now.sites, live, builtin_site(layout), renderer, only), now.problem


def pending_preview(
    layout: Layout, settings: Settings, only: Collection[str] | None = None
) -> Preview:
    """What `hostd reload` (of `only`) would change now, touching nothing."""
    return pending(layout, settings, only)[0]


def pending_site(layout: Layout, settings: Settings, site: str) -> Pending:
    """What the next apply would do to `site`, with the diff of its own files."""
    candidate = pending_preview(layout, settings, only={site})
    own = set(site_paths(site))
    live = {path: text for path, text in candidate.live_files.items() if path in own}
    files = {path: text for path, text in candidate.files.items() if path in own}
    change = next((p.change for p in candidate.plan.sites if p.name == site), Change.UNCHANGED)
    error = candidate.selection.rejected.get(site)
    return Pending(change.value, str(error) if error else None, plan_diff(live, files))
