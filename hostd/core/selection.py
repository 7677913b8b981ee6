"""Selection: which version of each site goes live. Pure.

Each loaded site's new version, or its last good one where the new one is refused;
duplicate domains stay with the site that serves them now.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from hostd.core.site import Site, duplicate_domain_errors
from hostd.errors import SiteError


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
    dropped; a refused site keeps its live version (`held`), or stays out if it is new.
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
                sites[name] = held(live[name], entry)
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


def held(live: Site, error: SiteError) -> Site:
    """The last good version of a refused site, paused or resumed as `error` carries
    it from the maintenance record (`hostd pause` works on an invalid file too)."""
    if error.pause_known and live.paused != error.paused:
        return replace(live, paused=error.paused)
    return live


def reverted(
    sites: Mapping[str, Site], names: Collection[str], live: Mapping[str, Site]
) -> dict[str, Site]:
    """`sites` with each of `names` back at its live version, or left out if new."""
    out = {n: s for n, s in sites.items() if n not in names}
    out.update({n: live[n] for n in names if n in live})
    return out
