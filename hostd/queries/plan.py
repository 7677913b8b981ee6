"""What the next apply would do: `hostd plan` and the dashboard's pending change.

Rendered exactly as an apply renders (the same `preview`), with edges that only
read: gunicorn versions come from their package metadata, and nothing is run.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from hostd.apply.candidate import Preview, Renderer, preview
from hostd.core.generation import site_paths
from hostd.core.layout import Layout
from hostd.core.plan import Change, plan_diff
from hostd.core.settings import Settings
from hostd.edges.certstore import CertFolder
from hostd.edges.generations import GenerationStore
from hostd.edges.host import Gunicorns, LocalHost, host_facts
from hostd.edges.inputs import builtin_site, load_sites
from hostd.edges.maintenance import with_pauses


@dataclass(frozen=True)
class Pending:
    """What the next apply would do to one site: its change, why it is refused, the diff."""

    change: str  # added, changed, removed, unchanged
    error: str | None
    diff: str


def pending_preview(
    layout: Layout, settings: Settings, only: Collection[str] | None = None
) -> Preview:
    """What `hostd reload` (of `only`) would change now, touching nothing."""
    gunicorns = Gunicorns()  # no runner: never `gunicorn --version`
    facts = host_facts(layout, settings, gunicorns)
    renderer = Renderer(facts, LocalHost(facts, gunicorns), CertFolder(layout))
    live = GenerationStore(layout.state_dir).live()
    sites = with_pauses(load_sites(layout.sites_dir, layout), layout.maintenance_file)
    return preview(sites, live, builtin_site(layout), renderer, only)


def pending_site(layout: Layout, settings: Settings, site: str) -> Pending:
    """What the next apply would do to `site`, with the diff of its own files."""
    candidate = pending_preview(layout, settings, only={site})
    own = set(site_paths(site))
    live = {path: text for path, text in candidate.live_files.items() if path in own}
    files = {path: text for path, text in candidate.files.items() if path in own}
    change = next((p.change for p in candidate.plan.sites if p.name == site), Change.UNCHANGED)
    error = candidate.selection.rejected.get(site)
    return Pending(change.value, str(error) if error else None, plan_diff(live, files))
