"""The dashboard as a hostd site: what `[dashboard]` in hostd.toml adds to an apply.

hostd serves its dashboard like any other site (gunicorn under Supervisor behind
nginx), from the folder that holds the hostd package, with hostd's own gunicorn.
Its name and its domain are reserved: a site file cannot take either. A site that
already served the domain before the dashboard asked for it keeps it, as with any
duplicate domain (DESIGN.md section 5, rule 2).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Collection, Mapping
from pathlib import Path

import hostd
from hostd.errors import SettingsError, SiteError
from hostd.layout import Layout, Mode
from hostd.model import SAFE_PATH, App, Site, Tls, normal_domain
from hostd.plan import Selection
from hostd.settings import DashboardSettings, load_settings
from hostd.yamlnode import Field, compose

NAME = "hostd-dashboard"
EMBEDDED_DOMAIN = "dashboard.localhost"
WSGI = "hostd.dashboard:create_app()"
HEALTH = "/healthz"
ENV_SWITCH = "HOSTD_DASHBOARD_ENV"
MAX_WORKERS = 64


def package_root() -> Path:
    """The folder holding the hostd package: the dashboard's `app.root`."""
    return Path(hostd.__file__).resolve().parent.parent


def own_venv() -> Path | None:
    """hostd's own virtualenv if it runs from one that has gunicorn, so the dashboard
    runs under the same interpreter and packages as hostd."""
    prefix = Path(sys.prefix)
    if prefix != Path(sys.base_prefix) and os.access(prefix / "bin" / "gunicorn", os.X_OK):
        return prefix
    return None


def system_root(layout: Layout) -> Path:
    """The folder system mode runs below (`--root`): hostd.toml is ROOT/etc/hostd/hostd.toml."""
    return layout.config_file.parent.parent.parent


def dashboard_environment(layout: Layout) -> tuple[tuple[str, str], ...]:
    """How the dashboard finds its instance: the same home or root the CLI takes."""
    env = {ENV_SWITCH: "production"}
    if layout.mode is Mode.EMBEDDED:
        env["HOSTD_HOME"] = str(layout.home)
    elif (root := system_root(layout)) != Path("/"):
        env["HOSTD_ROOT"] = str(root)
    return tuple(sorted(env.items()))


def dashboard_domain(settings: DashboardSettings, layout: Layout) -> str:
    raw = settings.domain or (EMBEDDED_DOMAIN if layout.mode is Mode.EMBEDDED else "")
    if not raw:
        raise SettingsError(f"{layout.config_file}: dashboard.domain is required in system mode")
    node = compose(json.dumps(raw))
    try:
        if node is None:
            raise SiteError("a domain is required")
        return normal_domain(raw, Field(node, "dashboard.domain"))
    except SiteError as exc:
        raise SettingsError(f"{layout.config_file}: dashboard.domain: {exc.message}") from None


def dashboard_site(layout: Layout, settings: DashboardSettings) -> Site:
    """The site serving the dashboard under `settings`; SettingsError if they are wrong."""
    where = layout.config_file
    if settings.tls not in ("off", "auto"):
        raise SettingsError(f"{where}: dashboard.tls must be 'off' or 'auto', not {settings.tls!r}")
    if not 1 <= settings.workers <= MAX_WORKERS:
        raise SettingsError(f"{where}: dashboard.workers must be from 1 to {MAX_WORKERS}")
    root = package_root()
    if not SAFE_PATH.match(str(root)):
        raise SettingsError(
            f"hostd is installed in {root}, a path nginx and Supervisor cannot take"
        )
    return Site(
        name=NAME,
        file=where,
        domains=(dashboard_domain(settings, layout),),
        app=App(
            root=root,
            wsgi=WSGI,
            venv=own_venv(),
            workers=settings.workers,
            env=dashboard_environment(layout),
            # system mode: it reads hostd's state and applies, as `hostd reload` does
            user="root" if layout.mode is Mode.SYSTEM else None,
            health=HEALTH,
        ),
        tls=Tls(settings.tls),
    )


def with_dashboard(
    selection: Selection,
    layout: Layout,
    live: Mapping[str, Site],
    only: Collection[str] | None = None,
) -> Selection:
    """`selection` with the dashboard in it when hostd.toml enables it, without it
    when not; site files that claim its name or its domain are refused."""
    sites, rejected = dict(selection.sites), dict(selection.rejected)
    _refuse_reserved_name(sites, rejected, layout)
    previous = live.get(NAME)
    # the version to serve, then the one to fall back to if it cannot have its domain
    candidates = [previous] if previous is not None else []
    if only is None or NAME in only:
        try:
            settings = load_settings(layout.config_file, layout.mode).dashboard
            wanted = dashboard_site(layout, settings) if settings.enabled else None
        except SettingsError as exc:
            text = str(exc).removeprefix(f"{layout.config_file}: ")
            rejected[NAME] = SiteError(text, file=layout.config_file)
        else:
            fallback = candidates if wanted is not None and wanted != previous else []
            candidates = [wanted, *fallback] if wanted is not None else []
    sites.pop(NAME, None)
    for candidate in candidates:
        holder = _holder(candidate, sites, live)
        if holder is None:
            sites[NAME] = candidate
            rejected.update(_claimants_refused(candidate, sites, live))
            break
        domain = _shared(candidate, sites[holder])
        rejected[NAME] = SiteError(
            f"domain {domain!r} is already served by site {holder!r} ({sites[holder].file})",
            file=layout.config_file,
            key="dashboard.domain",
        )
    return Selection(sites, rejected)


def _refuse_reserved_name(
    sites: dict[str, Site], rejected: dict[str, SiteError], layout: Layout
) -> None:
    """A site file named like the dashboard is refused, under its file name."""
    file: Path | None = None
    if NAME in sites and sites[NAME].file != layout.config_file:
        file = sites.pop(NAME).file
    elif NAME in rejected:
        file = rejected.pop(NAME).file
    if file is not None:
        rejected[file.name] = SiteError(
            f"the site name {NAME!r} is reserved for hostd's dashboard ([dashboard] in "
            f"{layout.config_file})",
            file=file,
        )


def _shared(one: Site, other: Site) -> str | None:
    return next((domain for domain in one.domains if domain in other.domains), None)


def _holder(dashboard: Site, sites: Mapping[str, Site], live: Mapping[str, Site]) -> str | None:
    """A site that serves one of the dashboard's domains now and still claims it."""
    for name in sorted(sites):
        domain = _shared(dashboard, sites[name]) if name != NAME and name in live else None
        if domain is not None and domain in live[name].domains:
            return name
    return None


def _claimants_refused(
    dashboard: Site, sites: dict[str, Site], live: Mapping[str, Site]
) -> dict[str, SiteError]:
    """Refuse the sites that claim a dashboard domain: back to their live version, or out."""
    refused: dict[str, SiteError] = {}
    for name in sorted(sites):
        site = sites[name]
        domain = _shared(dashboard, site) if name != NAME else None
        if domain is None:
            continue
        key = f"domains[{site.domains.index(domain)}]"
        refused[name] = SiteError(
            f"domain {domain!r} is reserved for hostd's dashboard ([dashboard] in "
            f"{dashboard.file})",
            file=site.file,
            line=site.line(key) or site.line("domains"),
            key=key,
        )
        if name in live and _shared(dashboard, live[name]) is None:
            sites[name] = live[name]
        else:
            del sites[name]
    return refused
