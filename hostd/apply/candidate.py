"""The candidate: which version of each site would go live now, rendered, and what
that changes. Reading only: `preview` is what `hostd plan` shows and where every
apply starts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from hostd.apply.ports import CertStore, Host
from hostd.core.builtin import Builtin, with_dashboard
from hostd.core.capacity import over_cap
from hostd.core.certificate import Certificate, now_utc
from hostd.core.facts import HostFacts
from hostd.core.generation import Files, Generation
from hostd.core.plan import Plan, make_plan
from hostd.core.render import gunicorn_of, program_user, render_shared, render_site
from hostd.core.selection import Selection, reverted, select_sites
from hostd.core.site import Site, Tls
from hostd.core.slots import sites_on_b
from hostd.errors import SiteError

MAX_REMEMBERED = 4096


@dataclass(frozen=True)
class Preview:
    """What an apply would do now, without doing it."""

    selection: Selection
    plan: Plan
    live_files: Files
    files: Files


@dataclass(frozen=True)
class _Rendered:
    """The files last rendered for some sites and facts."""

    sites: dict[str, Site]
    facts: HostFacts
    files: dict[str, str]

    def serves(self, sites: Mapping[str, Site], facts: HostFacts) -> bool:
        """True if these are the same site objects, rendered with the same facts."""
        if facts != self.facts or sites.keys() != self.sites.keys():
            return False
        return all(self.sites[name] is site for name, site in sites.items())


class Renderer:
    """Generations rendered with this host's facts: the certificates that can be
    served now and the gunicorns that take --control-socket. Each site's files are
    remembered, as an apply renders every site several times."""

    def __init__(self, facts: HostFacts, host: Host, certs: CertStore) -> None:
        self.facts = facts
        self.host = host
        self.certs = certs
        self._sites: dict[tuple[object, ...], dict[str, str]] = {}
        self._last: dict[Path | None, _Rendered] = {}  # by root: an apply asks again
        self.slots_b: frozenset[str] = frozenset()  # the sites rendered in slot b

    def files(self, sites: Mapping[str, Site], root: Path | None = None) -> dict[str, str]:
        """The files serving `sites` when read from `root` (default: the live link)."""
        venvs = {gunicorn_of(site, self.facts) for site in sites.values() if site.app.venv}
        newer = {path for path in venvs if self.host.takes_control_socket(path)}
        facts = replace(
            self.facts,
            control_socket_gunicorns=self.facts.control_socket_gunicorns | newer,
            config_root=root,
            certificates=self._servable(sites),
            slots_b=self.slots_b,
        )
        known = self._last.get(root)
        if known is not None and known.serves(sites, facts):
            return dict(known.files)
        files: dict[str, str] = {}
        for name in sorted(sites):
            files.update(self._site_files(sites[name], facts))
        files.update(render_shared(files, facts))
        self._last[root] = _Rendered(dict(sites), facts, files)
        return dict(files)

    def served_https(self, sites: Mapping[str, Site]) -> frozenset[str]:
        """The sites among `sites` served over HTTPS now."""
        return frozenset(self._servable(sites))

    def _servable(self, sites: Mapping[str, Site]) -> dict[str, Certificate]:
        out: dict[str, Certificate] = {}
        for name, site in sites.items():
            if site.tls is not Tls.AUTO:
                continue
            cert = self.certs.current(name)
            if cert is not None and cert.usable(site.domains, now_utc()):
                out[name] = cert
        return out

    def _site_files(self, site: Site, facts: HostFacts) -> dict[str, str]:
        key = (
            site,
            facts.certificates.get(site.name),
            facts.control_socket_gunicorns,
            site.name in facts.slots_b,
        )
        if key not in self._sites:
            if len(self._sites) > MAX_REMEMBERED:
                self._sites.clear()
            self._sites[key] = render_site(site, facts)
        return self._sites[key]


def unknown_users(sites: Mapping[str, Site], facts: HostFacts, host: Host) -> dict[str, SiteError]:
    """Sites whose program would run as a user this machine does not have."""
    errors: dict[str, SiteError] = {}
    for name, site in sites.items():
        user = program_user(site, facts)
        if user is not None and not host.user_exists(user):
            errors[name] = SiteError(
                f"user {user!r} does not exist on this machine",
                file=site.file,
                line=site.line("app.user"),
                key="app.user",
            )
    return errors


def preview(
    loaded: Mapping[str, Site | SiteError],
    live: Generation | None,
    builtin: Builtin,
    renderer: Renderer,
    only: Collection[str] | None = None,
) -> Preview:
    """Each site's version to go live (refused ones held at their last good version),
    rendered, and the plan from the live generation to it."""
    live_sites = live.sites if live else {}
    live_files = live.files if live else {}
    renderer.slots_b = sites_on_b(live_files, live_sites)  # each site in its live slot
    selection = select_sites(loaded, live_sites, only)
    selection = with_dashboard(selection, builtin, live_sites, only)
    new = {n: s for n, s in selection.sites.items() if live_sites.get(n) != s}
    if refused := unknown_users(new, renderer.facts, renderer.host):
        sites = reverted(selection.sites, refused, live_sites)
        selection = Selection(sites, {**selection.rejected, **refused})
    if refused := over_cap(selection.sites, live_sites, renderer.facts):
        sites = reverted(selection.sites, refused, live_sites)
        selection = Selection(sites, {**selection.rejected, **refused})
    files = renderer.files(selection.sites)
    plan = make_plan(live_files, files, live_sites, selection.sites)
    return Preview(selection, plan, live_files, files)
