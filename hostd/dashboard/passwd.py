"""`hostd dashboard passwd USER`: what it does besides reading the password."""

from __future__ import annotations

from dataclasses import replace

from hostd.core.builtin import dashboard_domain
from hostd.core.layout import Layout
from hostd.core.settings import Settings
from hostd.dashboard.config import dashboard_dir, private_folder
from hostd.dashboard.users import UserStore
from hostd.edges.inputs import load_settings
from hostd.errors import SettingsError


def users_file(layout: Layout) -> UserStore:
    return UserStore(private_folder(dashboard_dir(layout)) / "users.json")


def set_password(layout: Layout, settings: Settings, name: str, password: str) -> list[str]:
    """Set `name`'s dashboard password; the lines to tell the operator."""
    store = users_file(layout)
    created = store.set_password(name, password)
    lines = [f"{'created' if created else 'changed the password of'} dashboard user {name} "
             f"({store.path})"]  # fmt: skip
    lines.append(where(layout, settings))
    return lines


def where(layout: Layout, settings: Settings) -> str:
    """Where the dashboard is served, or how to turn it on."""
    try:
        settings = replace(
            settings, dashboard=load_settings(layout.config_file, layout.mode).dashboard
        )
        if not settings.dashboard.enabled:
            return f"the dashboard is off: set [dashboard] enabled = true in {layout.config_file}"
        domain = dashboard_domain(settings.dashboard, layout)
    except SettingsError as exc:
        return f"the dashboard is not set up right: {exc}"
    port = settings.http.port
    return f"log in at http://{domain}{'' if port == 80 else f':{port}'}/"
