"""Validation: would nginx and Supervisor take a candidate, and if not, which site's
change is to blame.

The whole candidate is checked first. If it is refused, the live version of every
changed site must pass (else the fault is not a site's and the apply stops); then
each change is added back one at a time, and the ones that make it fail are refused.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from hostd.apply.candidate import Renderer
from hostd.apply.ports import Checker, Generations, Host
from hostd.core.generation import ALL_PROGRAMS, NGINX, PROGRAMS, all_programs, nginx_files
from hostd.core.site import Site
from hostd.errors import HostdError, SiteError


class Validator:
    def __init__(
        self, renderer: Renderer, checker: Checker, host: Host, generations: Generations
    ) -> None:
        self.renderer = renderer
        self.checker = checker
        self.host = host
        self.generations = generations

    def refusal(self, sites: Mapping[str, Site], *, nginx_if_unchanged: bool = True) -> str | None:
        """Why nginx or Supervisor refuse a generation serving `sites`, or None.

        Program files the live generation holds passed Supervisor's parser when they
        went live; only new and changed ones are parsed again (all of them take
        0.4 s at 1,000 sites). Without `nginx_if_unchanged`, nginx is not asked
        when its files would be the live ones: it serves them already.
        """
        self.host.prepare(sites)
        live = self.generations.live()
        checked = live.files if live else {}
        rendered = self.renderer.files(sites, root=self.checker.root)
        files = {
            rel: text
            for rel, text in rendered.items()
            if not (rel.startswith(PROGRAMS) and checked.get(rel) == text)
        }
        files[ALL_PROGRAMS] = all_programs(files)  # only the new and changed programs
        served = nginx_files(checked)
        if not nginx_if_unchanged and served and nginx_files(self.renderer.files(sites)) == served:
            files = {rel: text for rel, text in files.items() if not rel.startswith(NGINX)}
        return self.checker.refusal(files)

    def accepted(
        self, sites: Mapping[str, Site], live: Mapping[str, Site], changed: Collection[str]
    ) -> tuple[dict[str, Site], dict[str, SiteError]]:
        """`sites` without the changes nginx or Supervisor refuse, one site at a time,
        and why each refused one is."""
        if self.refusal(sites, nginx_if_unchanged=False) is None:
            return dict(sites), {}
        good = {n: s for n, s in sites.items() if n not in changed}
        good.update({n: live[n] for n in changed if n in live})
        if (error := self.refusal(good)) is not None:
            raise HostdError(f"the configuration is refused even without this change: {error}")
        refused: dict[str, SiteError] = {}
        for name in changed:
            trial = {**good, name: sites[name]}
            if (error := self.refusal(trial)) is None:
                good = trial
            else:
                refused[name] = SiteError(f"refused by the server: {error}", file=sites[name].file)
        return good, refused
