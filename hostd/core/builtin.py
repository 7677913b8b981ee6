"""hostd's dashboard as a site: what `[dashboard]` in hostd.toml adds to an apply. Pure.

hostd serves its dashboard like any other site (gunicorn under Supervisor behind
nginx), from the folder that holds the hostd package, with hostd's own gunicorn.
Its name and its domain are reserved: a site file cannot take either. A site that
already served the domain before the dashboard asked for it keeps it, as with any
duplicate domain.

The runtime reads hostd.toml and hands the transaction a `Builtin`; the
transaction never reads hostd.toml itself.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from hostd.core.layout import SAFE_PATH, Layout, Mode
from hostd.core.selection import Selection
from hostd.core.settings import DashboardSettings
from hostd.core.site import App, Site, Tls, normal_domain
from hostd.core.yamlnode import Field, compose
from hostd.errors import SettingsError, SiteError

NAME = "hostd-dashboard"
EMBEDDED_DOMAIN = "dashboard.localhost"
WSGI = "hostd.dashboard:create_app()"
HEALTH = "/healthz"
ENV_SWITCH = "HOSTD_DASHBOARD_ENV"
MAX_WORKERS = 64


@dataclass(frozen=True)
class Builtin:
    """The dashboard as an input to an apply: the site hostd.toml asks for (None when
    it is off), or why it cannot be served; `config_file` is where it is defined."""

    config_file: Path
    site: Site | None = None
    error: SiteError | None = None


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


def dashboard_site(
    layout: Layout, settings: DashboardSettings, root: Path, venv: Path | None
) -> Site:
    """The site serving the dashboard under `settings`, run from `root` (the folder that
    holds the hostd package) with `venv`'s gunicorn; SettingsError if they are wrong."""
    where = layout.config_file
    if settings.tls not in ("off", "auto"):
        raise SettingsError(f"{where}: dashboard.tls must be 'off' or 'auto', not {settings.tls!r}")
    if not 1 <= settings.workers <= MAX_WORKERS:
        raise SettingsError(f"{where}: dashboard.workers must be from 1 to {MAX_WORKERS}")
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
            venv=venv,
            workers=settings.workers,
            env=dashboard_environment(layout),
            # system mode: it reads hostd's state and applies, as `hostd reload` does
            user="root" if layout.mode is Mode.SYSTEM else None,
            health=HEALTH,
        ),
        tls=Tls(settings.tls),
    )


def builtin_of(
    layout: Layout, settings: DashboardSettings, root: Path, venv: Path | None
) -> Builtin:
    """The dashboard `settings` ask for, or the error that refuses it (only it)."""
    if not settings.enabled:
        return Builtin(layout.config_file)
    try:
        return Builtin(layout.config_file, site=dashboard_site(layout, settings, root, venv))
    except SettingsError as exc:
        text = str(exc).removeprefix(f"{layout.config_file}: ")
        return Builtin(layout.config_file, error=SiteError(text, file=layout.config_file))


def with_dashboard(
    selection: Selection,
    builtin: Builtin,
    live: Mapping[str, Site],
    only: Collection[str] | None = None,
) -> Selection:
    """`selection` with the dashboard in it when `builtin` has one, without it when
    not; site files that claim its name or its domain are refused."""
    sites, rejected = dict(selection.sites), dict(selection.rejected)
    config_file = builtin.config_file
    _refuse_reserved_name(sites, rejected, config_file)
    previous = live.get(NAME)
    # the version to serve, then the one to fall back to if it cannot have its domain
    candidates = [previous] if previous is not None else []
    if only is None or NAME in only:
        if builtin.error is not None:
            rejected[NAME] = builtin.error
        else:
            wanted = builtin.site
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
            file=config_file,
            key="dashboard.domain",
        )
    return Selection(sites, rejected)


def _refuse_reserved_name(
    sites: dict[str, Site], rejected: dict[str, SiteError], config_file: Path
) -> None:
    """A site file named like the dashboard is refused, under its file name."""
    file: Path | None = None
    if NAME in sites and sites[NAME].file != config_file:
        file = sites.pop(NAME).file
    elif NAME in rejected:
        file = rejected.pop(NAME).file
    if file is not None:
        rejected[file.name] = SiteError(
            f"the site name {NAME!r} is reserved for hostd's dashboard ([dashboard] in "
            f"{config_file})",
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
