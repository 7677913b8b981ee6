"""Planning: which sites go live in which version, and what that changes. Pure."""

from __future__ import annotations

import difflib
import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from hostd.errors import SiteError
from hostd.files import NGINX, Files, site_paths
from hostd.model import Site, duplicate_domain_errors


class Change(enum.Enum):
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SitePlan:
    name: str
    change: Change
    nginx_changed: bool = False
    program_changed: bool = False


@dataclass(frozen=True)
class Plan:
    sites: tuple[SitePlan, ...]
    nginx_changed: bool
    shared_changed: bool  # main configs and the catch-all

    @property
    def is_empty(self) -> bool:
        return (
            not self.nginx_changed
            and not self.shared_changed
            and all(p.change is Change.UNCHANGED for p in self.sites)
        )

    def of(self, change: Change) -> list[str]:
        return [p.name for p in self.sites if p.change is change]

    @property
    def touched(self) -> list[str]:
        """Sites whose new version must be started and verified."""
        return [p.name for p in self.sites if p.change in (Change.ADDED, Change.CHANGED)]


@dataclass(frozen=True)
class Selection:
    """The sites chosen to go live, and the files refused on the way."""

    sites: dict[str, Site]
    rejected: dict[str, SiteError]


def select_sites(
    loaded: Mapping[str, Site | SiteError],
    live: Mapping[str, Site],
    only: Collection[str] | None = None,
) -> Selection:
    """Each loaded site's new version, or its last good one where the new is refused.

    Sites outside `only` keep their live version; a site whose file is gone is
    dropped; a refused site keeps its live version, or stays out if it is new.
    """
    sites: dict[str, Site] = {}
    rejected: dict[str, SiteError] = {}
    for name in sorted(set(loaded) | set(live)):
        entry = loaded.get(name)
        if only is not None and name not in only:
            if name in live:
                sites[name] = live[name]
        elif isinstance(entry, SiteError):
            rejected[name] = entry
            if name in live:
                sites[name] = live[name]
        elif entry is not None:
            sites[name] = entry
    holders = {domain: name for name, site in live.items() for domain in site.domains}
    while errors := duplicate_domain_errors(sites, holders):
        for name, error in errors.items():
            rejected[name] = error
            if name in live and sites[name] != live[name]:
                sites[name] = live[name]
            else:
                del sites[name]
    return Selection(sites, rejected)


def make_plan(
    live_files: Files, candidate_files: Files, live_sites: Collection[str], sites: Collection[str]
) -> Plan:
    """What going from the live files to the candidate files changes, site by site."""
    plans: list[SitePlan] = []
    own: set[str] = set()
    for name in sorted(set(live_sites) | set(sites)):
        paths = site_paths(name)
        own.update(paths)
        nginx_changed, program_changed = (
            live_files.get(p) != candidate_files.get(p) for p in paths
        )
        if name not in live_sites:
            change = Change.ADDED
        elif name not in sites:
            change = Change.REMOVED
        elif nginx_changed or program_changed:
            change = Change.CHANGED
        else:
            change = Change.UNCHANGED
        plans.append(SitePlan(name, change, nginx_changed, program_changed))
    shared = {p for p in set(live_files) | set(candidate_files) if p not in own}
    shared_changed = any(live_files.get(p) != candidate_files.get(p) for p in shared)
    nginx_changed = any(
        live_files.get(p) != candidate_files.get(p)
        for p in set(live_files) | set(candidate_files)
        if p.startswith(NGINX)
    )
    return Plan(tuple(plans), nginx_changed, shared_changed)


def plan_diff(live_files: Files, candidate_files: Files, label: str = "live") -> str:
    """A unified diff from the live files to the candidate files."""
    out: list[str] = []
    for path in sorted(set(live_files) | set(candidate_files)):
        before, after = live_files.get(path), candidate_files.get(path)
        if before == after:
            continue
        out.extend(
            difflib.unified_diff(
                (before or "").splitlines(keepends=True),
                (after or "").splitlines(keepends=True),
                fromfile=f"{label}/{path}" if before is not None else "/dev/null",
                tofile=f"candidate/{path}" if after is not None else "/dev/null",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)
