"""Settings by environment, the secret key, logging, and the toolbar kept out of production."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from flask import Flask

from hostd.core.layout import layout_for
from hostd.dashboard.config import ensure_secret, secrets_file
from hostd.edges.host import package_root
from hostd.errors import SettingsError

from .conftest import Dashboard, log_in, make_dashboard

TOOLBAR_ROUTE = "/_debug_toolbar/static/<path:filename>"


def has_toolbar(app: Flask) -> bool:
    return any(rule.rule == TOOLBAR_ROUTE for rule in app.url_map.iter_rules())


def logged_in_page(dashboard: Dashboard) -> str:
    dashboard.add_user()
    client = dashboard.client()
    assert log_in(client).status_code == 302
    return client.get("/").text


def test_development(home: Path) -> None:
    """Development: debug on, the toolbar on every page, logging at DEBUG."""
    dashboard = make_dashboard(home, env="development")
    assert dashboard.app.debug
    assert has_toolbar(dashboard.app)
    assert 'id="flDebug"' in logged_in_page(dashboard)
    assert logging.getLogger("hostd.dashboard").level == logging.DEBUG


def test_production(home: Path) -> None:
    """Production (the default): no debug, no toolbar, logging at INFO."""
    dashboard = make_dashboard(home)
    assert dashboard.app.config["ENV_NAME"] == "production"
    assert not dashboard.app.debug
    assert not has_toolbar(dashboard.app)
    assert 'id="flDebug"' not in logged_in_page(dashboard)
    assert logging.getLogger("hostd.dashboard").level == logging.INFO


def test_the_toolbar_cannot_be_enabled_in_production(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not by the factory's config, not by dashboard.toml, not by the environment."""
    (home / "dashboard.toml").write_text("[production]\ndebug = true\ndebug_tb_enabled = true\n")
    monkeypatch.setenv("HOSTD_DASHBOARD_DEBUG_TB_ENABLED", "true")
    monkeypatch.setenv("HOSTD_DASHBOARD_DEBUG", "true")
    dashboard = make_dashboard(home, config={"DEBUG_TB_ENABLED": True, "DEBUG": True})
    assert not dashboard.app.debug
    assert dashboard.app.config["DEBUG_TB_ENABLED"] is False
    assert not has_toolbar(dashboard.app)
    assert 'id="flDebug"' not in logged_in_page(dashboard)
    assert dashboard.client().get("/_debug_toolbar/static/css/toolbar.css").status_code == 302


def test_environment_from_the_variable(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hostd.dashboard import create_app

    monkeypatch.setenv("HOSTD_DASHBOARD_ENV", "development")
    assert create_app(home=home).config["ENV_NAME"] == "development"
    monkeypatch.setenv("HOSTD_DASHBOARD_ENV", "staging")
    with pytest.raises(SettingsError, match="HOSTD_DASHBOARD_ENV must be one of"):
        create_app(home=home)


def test_a_bad_setting_is_refused(home: Path) -> None:
    (home / "dashboard.toml").write_text("[default]\nsession_lifetime = 5\n")
    with pytest.raises(SettingsError, match="SESSION_LIFETIME"):
        make_dashboard(home)


def test_secret_key_is_made_on_first_start(home: Path) -> None:
    """0600 in a 0700 folder of the instance's state, never in the package, kept after."""
    path = secrets_file(layout_for(home))
    assert not path.exists()
    first = make_dashboard(home).app.config["SECRET_KEY"]
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(first) == 48 and int(first, 16) >= 0  # secrets.token_hex(24)
    assert make_dashboard(home).app.config["SECRET_KEY"] == first
    assert not list((package_root() / "hostd" / "dashboard").glob(".secrets*"))


def test_secret_key_is_written_once(tmp_path: Path) -> None:
    """Workers starting together end up with one key: the first write wins."""
    path = tmp_path / "dashboard" / ".secrets.toml"
    assert ensure_secret(path)
    text = path.read_text()
    assert not ensure_secret(path)
    assert path.read_text() == text
    assert [p.name for p in path.parent.iterdir()] == [".secrets.toml"]


def test_users_file_is_private(home: Path) -> None:
    dashboard = make_dashboard(home)
    dashboard.add_user()
    users = layout_for(home).state_dir / "dashboard" / "users.json"
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert "correct horse" not in users.read_text()
    assert '"$2b$04$' in users.read_text()


def test_a_bad_login_limit_is_refused(home: Path) -> None:
    (home / "dashboard.toml").write_text('[default]\nlogin_limit = "often"\n')
    with pytest.raises(SettingsError, match="LOGIN_LIMIT"):
        make_dashboard(home)
