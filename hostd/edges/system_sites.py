"""What system mode refuses of a site on this machine before rendering it: a name
that is the distribution's log folder, a /var/log folder of that name that is not
hostd's, and an app folder the site's user cannot enter."""

from __future__ import annotations

from hostd.core.facts import HostFacts
from hostd.core.layout import Layout, Mode
from hostd.core.reserved import reserved_name_problem
from hostd.core.site import Site
from hostd.edges.app_access import entry_refusal
from hostd.edges.log_folders import foreign
from hostd.errors import SiteError


def with_system_refused(
    loaded: dict[str, Site | SiteError], layout: Layout
) -> dict[str, Site | SiteError]:
    """`loaded` with the sites refused that cannot be served on this machine."""
    if layout.mode is not Mode.SYSTEM:
        return loaded
    out = dict(loaded)
    for name, site in loaded.items():
        if not isinstance(site, Site):
            continue
        problem = reserved_name_problem(name)
        if problem is None and foreign(layout.site_log_dir(name)):
            problem = (
                f"{layout.site_log_dir(name)} exists and is not hostd's: the site's logs would "
                "mix with another program's; rename the file"
            )
        if problem is not None:
            out[name] = SiteError(problem, file=site.file)
            continue
        user = site.app.user or HostFacts.default_user
        refusal = entry_refusal(site.app.root, user)
        if refusal is not None:
            out[name] = SiteError(refusal, file=site.file, line=site.line("app.root"),
                                  key="app.root")  # fmt: skip
    return out
