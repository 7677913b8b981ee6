"""The box-wide cap on gunicorn workers (hostd.toml `[workers] max_total`). Pure.

`workers: auto` is 2 x cores + 1 for each site: right for one site, but 300 sites
on 2 cores would run 1,500 workers. With a cap, the sites already live keep what
they run, and a new or changed site whose workers would take the total above the
cap is refused (held at its last good version), naming its `app.workers`.
"""

from __future__ import annotations

from collections.abc import Mapping

from hostd.core.facts import HostFacts
from hostd.core.site import Site
from hostd.errors import SiteError


def workers_of(site: Site, facts: HostFacts) -> int:
    """The gunicorn workers `site` runs (its master not counted)."""
    return site.app.workers or facts.auto_workers


def total_workers(sites: Mapping[str, Site], facts: HostFacts) -> int:
    return sum(workers_of(site, facts) for site in sites.values())


def over_cap(
    sites: Mapping[str, Site], live: Mapping[str, Site], facts: HostFacts
) -> dict[str, SiteError]:
    """The new and changed sites among `sites` that do not fit under the cap, in name
    order after every unchanged one; each refused one counts with its live version."""
    cap = facts.max_workers
    if cap <= 0:
        return {}
    changed = {name: site for name, site in sites.items() if live.get(name) != site}
    total = total_workers({n: s for n, s in sites.items() if n not in changed}, facts)
    refused: dict[str, SiteError] = {}
    for name in sorted(changed):
        site = changed[name]
        need = workers_of(site, facts)
        if total + need <= cap:
            total += need
            continue
        auto = " (workers: auto)" if site.app.workers is None else ""
        refused[name] = SiteError(
            f"its {need} gunicorn worker(s){auto} would take this box to {total + need}, "
            f"above the cap of {cap} set in hostd.toml ([workers] max_total); "
            "give it fewer workers or raise the cap",
            file=site.file,
            line=site.line("app.workers") or site.line("app"),
            key="app.workers",
        )
        if name in live:
            total += workers_of(live[name], facts)
    return refused
