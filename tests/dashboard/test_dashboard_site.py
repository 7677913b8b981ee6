"""[dashboard] in hostd.toml: the dashboard as a site, its reserved name and domain,
and `hostd dashboard passwd`."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from hostd.cli import main
from hostd.core.builtin import NAME, dashboard_site, with_dashboard
from hostd.core.layout import Layout, layout_for
from hostd.core.selection import Selection
from hostd.core.settings import DashboardSettings
from hostd.core.site import App, Site, Tls
from hostd.dashboard.users import UserStore
from hostd.edges.host import own_venv, package_root
from hostd.edges.inputs import builtin_site, load_settings
from hostd.errors import SiteError

ON = "[dashboard]\nenabled = true\n"


def site(name: str, *domains: str, file: Path | None = None) -> Site:
    return Site(
        name=name,
        file=file or Path(f"/srv/sites.d/{name}.yaml"),
        domains=domains or (f"{name}.localhost",),
        app=App(root=Path("/srv/apps/probe"), wsgi="probe:app"),
    )


def embedded(home: Path, toml: str = ON) -> Layout:
    (home / "hostd.toml").write_text(toml)
    return layout_for(home, home.parent / "sites.d")


def test_disabled_by_default(home: Path) -> None:
    layout = embedded(home, "")
    chosen = with_dashboard(Selection({"a": site("a")}, {}), builtin_site(layout), {})
    assert set(chosen.sites) == {"a"}
    assert not load_settings(layout.config_file, layout.mode).dashboard.enabled


def test_enabled_embedded(home: Path) -> None:
    """Served at dashboard.localhost by hostd's own gunicorn, told where its home is."""
    layout = embedded(home, ON + "workers = 3\n")
    chosen = with_dashboard(Selection({"a": site("a")}, {}), builtin_site(layout), {})
    dashboard = chosen.sites[NAME]
    assert dashboard.domains == ("dashboard.localhost",)
    assert dashboard.file == layout.config_file
    assert dashboard.app.root == package_root()
    assert (dashboard.app.root / "hostd" / "dashboard" / "__init__.py").is_file()
    assert dashboard.app.wsgi == "hostd.dashboard:create_app()"
    assert dashboard.app.workers == 3
    assert dashboard.app.health == "/healthz"
    assert dashboard.app.user is None
    env = dict(dashboard.app.env)
    assert env == {"HOSTD_DASHBOARD_ENV": "production", "HOSTD_HOME": str(layout.home)}
    if dashboard.app.venv is not None:
        assert Path(sys.executable).parent == dashboard.app.venv / "bin"
    assert chosen.rejected == {}


def test_system_mode_needs_a_domain(tmp_path: Path) -> None:
    layout = layout_for(None, root=tmp_path)
    layout.config_file.parent.mkdir(parents=True)
    layout.config_file.write_text(ON)
    chosen = with_dashboard(Selection({}, {}), builtin_site(layout), {})
    assert NAME not in chosen.sites
    assert "dashboard.domain is required in system mode" in str(chosen.rejected[NAME])
    layout.config_file.write_text(ON + 'domain = "Admin.Example.com"\ntls = "auto"\n')
    dashboard = with_dashboard(Selection({}, {}), builtin_site(layout), {}).sites[NAME]
    assert dashboard.domains == ("admin.example.com",)
    assert dashboard.tls is Tls.AUTO
    assert dashboard.app.user == "root"
    assert dict(dashboard.app.env)["HOSTD_ROOT"] == str(tmp_path)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('domain = "bad domain"', "dashboard.domain: invalid domain"),
        ('tls = "sometimes"', "dashboard.tls must be 'off' or 'auto'"),
        ("workers = 0", "dashboard.workers must be from 1 to 64"),
    ],
)
def test_bad_settings_hold_the_dashboard_only(home: Path, table: str, message: str) -> None:
    """A mistake in [dashboard] refuses the dashboard (kept at its last good version);
    every other site still goes live."""
    layout = embedded(home, f"{ON}{table}\n")
    live = {
        NAME: dashboard_site(layout, DashboardSettings(enabled=True), package_root(), own_venv())
    }
    chosen = with_dashboard(Selection({"a": site("a")}, {}), builtin_site(layout), live)
    assert message in str(chosen.rejected[NAME])
    assert chosen.sites == {"a": site("a"), NAME: live[NAME]}


def test_disabling_removes_it(home: Path) -> None:
    layout = embedded(home, "[dashboard]\nenabled = false\n")
    live = {
        NAME: dashboard_site(layout, DashboardSettings(enabled=True), package_root(), own_venv())
    }
    assert NAME not in with_dashboard(Selection({}, {}), builtin_site(layout), live).sites


def test_reload_of_other_sites_leaves_it_alone(home: Path) -> None:
    """`hostd reload a` keeps the live dashboard even if hostd.toml changed since."""
    layout = embedded(home)
    live = {
        NAME: dashboard_site(layout, DashboardSettings(enabled=True), package_root(), own_venv())
    }
    layout.config_file.write_text("[dashboard]\nenabled = false\n")
    chosen = with_dashboard(
        Selection({"a": site("a"), NAME: live[NAME]}, {}), builtin_site(layout), live, {"a"}
    )
    assert chosen.sites[NAME] == live[NAME]


def test_a_site_file_cannot_take_its_name(home: Path) -> None:
    layout = embedded(home)
    impostor = site(NAME, "evil.localhost", file=Path(f"/srv/sites.d/{NAME}.yaml"))
    chosen = with_dashboard(Selection({NAME: impostor}, {}), builtin_site(layout), {})
    assert chosen.sites[NAME].file == layout.config_file
    assert "is reserved for hostd's dashboard" in str(chosen.rejected[f"{NAME}.yaml"])
    assert NAME not in chosen.rejected


def test_a_broken_site_file_with_its_name(home: Path) -> None:
    layout = embedded(home)
    broken = SiteError("malformed YAML", file=Path(f"/srv/sites.d/{NAME}.yml"))
    chosen = with_dashboard(Selection({}, {NAME: broken}), builtin_site(layout), {})
    assert NAME in chosen.sites
    assert "reserved" in str(chosen.rejected[f"{NAME}.yml"])


def test_a_new_site_cannot_take_its_domain(home: Path) -> None:
    """A site that claims the dashboard's domain is refused: held at its live version
    if that did not claim it, else left out."""
    layout = embedded(home)
    old_b = site("b", "b.localhost")
    sites = {
        "a": site("a", "a.localhost", "dashboard.localhost"),
        "b": site("b", "b.localhost", "dashboard.localhost"),
    }
    chosen = with_dashboard(Selection(sites, {}), builtin_site(layout), {"b": old_b})
    assert set(chosen.sites) == {"b", NAME}
    assert chosen.sites["b"] == old_b
    for name in ("a", "b"):
        assert "'dashboard.localhost' is reserved for hostd's dashboard" in str(
            chosen.rejected[name]
        )


def test_a_site_that_had_the_domain_first_keeps_it(home: Path) -> None:
    """Enabling the dashboard on a domain a live site serves refuses the dashboard."""
    layout = embedded(home, ON + 'domain = "a.localhost"\n')
    chosen = with_dashboard(Selection({"a": site("a")}, {}), builtin_site(layout), {"a": site("a")})
    assert set(chosen.sites) == {"a"}
    assert "'a.localhost' is already served by site 'a'" in str(chosen.rejected[NAME])


def test_hostd_plan_shows_it(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The hook in Reconciler.preview: `hostd plan` would add the dashboard."""
    text = (home / "hostd.toml").read_text()
    (home / "hostd.toml").write_text(text + ON)
    code = main(["plan", "--home", str(home), "--sites", str(home.parent / "sites.d")])
    out = capsys.readouterr().out
    assert code == 0
    assert "hostd-dashboard: added (nginx, program)" in out
    assert "server_name dashboard.localhost;" in out
    assert "'hostd.dashboard:create_app()'" in out


def passwd(home: Path, user: str, stdin: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(["dashboard", "passwd", "--stdin", user, "--home", str(home)])


def test_passwd(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert passwd(home, "alice", "correct horse battery\n", monkeypatch) == 0
    out = capsys.readouterr().out
    assert "created dashboard user alice" in out
    assert "the dashboard is off: set [dashboard] enabled = true" in out
    store = UserStore(layout_for(home).state_dir / "dashboard" / "users.json")
    assert store.authenticate("alice", "correct horse battery") is not None
    assert passwd(home, "alice", "a new good password\n", monkeypatch) == 0
    assert "changed the password of dashboard user alice" in capsys.readouterr().out
    assert store.authenticate("alice", "correct horse battery") is None
    assert store.names() == ["alice"]


@pytest.mark.parametrize(
    ("user", "password", "message"),
    [
        ("alice", "short\n", "at least 8 characters"),
        ("alice", "x" * 73 + "\n", "at most 72 bytes"),
        ("bad name", "correct horse battery\n", "invalid user name"),
        ("alice", "\n", "at least 8 characters"),
    ],
)
def test_passwd_refuses(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    user: str,
    password: str,
    message: str,
) -> None:
    assert passwd(home, user, password, monkeypatch) == 2
    assert message in capsys.readouterr().err
    assert not (layout_for(home).state_dir / "dashboard" / "users.json").exists()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_passwd_asks_twice_on_a_terminal(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["correct horse battery", "correct horse battery!"])
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert main(["dashboard", "passwd", "alice", "--home", str(home)]) == 2
    assert "the two passwords differ" in capsys.readouterr().err
    answers = iter(["correct horse battery"] * 2)
    assert main(["dashboard", "passwd", "alice", "--home", str(home)]) == 0


def test_passwd_without_a_terminal_needs_stdin(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
    assert main(["dashboard", "passwd", "alice", "--home", str(home)]) == 2
    assert "pipe it in with --stdin" in capsys.readouterr().err
