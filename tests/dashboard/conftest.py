"""Fixtures for the dashboard's Flask test-client tests: a temporary home, a fake
hostd behind the `Backend` protocol, users with cheap hashes, a logged-in client."""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hostd.core.report import ApplyReport, Outcome, SiteResult
from hostd.dashboard import create_app
from hostd.dashboard.backend import Pending
from hostd.dashboard.services import Services
from hostd.edges.logfiles import LogLine
from hostd.errors import HostdError
from hostd.queries.status import SiteStatus, Status

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                  r'name="csrf_token" value="([^"]+)"')  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_status(name: str, **changes: Any) -> SiteStatus:
    base = SiteStatus(
        name=name,
        domains=[f"{name}.localhost"],
        file=f"/srv/sites.d/{name}.yaml",
        program="RUNNING",
        pid=4242,
        since=1_700_000_000.0,
        outcome="added",
        held=False,
        error=None,
        last_error=None,
        last_error_at=None,
        crash_loop=None,
    )
    return replace(base, **changes)


def sample_status() -> Status:
    return Status(
        generation=7,
        nginx="serving live",
        supervisor="running",
        sites=[
            site_status("alpha", cert_expires="2099-01-31T12:00:00+00:00"),
            site_status(
                "beta",
                program="FATAL",
                pid=None,
                since=None,
                outcome="failed",
                held=True,
                error="app did not start (FATAL: Exited too quickly); app.log: ImportError: boom",
            ),
            site_status("hostd-dashboard", domains=["dashboard.localhost"]),
        ],
    )


@dataclass
class FakeBackend:
    """hostd as the views see it, with answers set by the test; records reloads."""

    state: Status = field(default_factory=sample_status)
    diff: str = ""
    change: str = "unchanged"
    pending_error: str | None = None
    lines: list[LogLine] = field(default_factory=list)
    report: ApplyReport | None = None
    fail: Exception | None = None  # what status() raises
    reload_fail: HostdError | None = None
    reloads: list[str] = field(default_factory=list)
    figures_data: dict[str, Any] | None = None  # what the daemon's /figures.json answers

    def status(self) -> Status:
        if self.fail is not None:
            raise self.fail
        return self.state

    def pending(self, site: str) -> Pending:
        return Pending(self.change, self.pending_error, self.diff)

    def log_lines(self, site: str, count: int) -> list[LogLine] | None:
        if site not in {entry.name for entry in self.state.sites}:
            return None
        return self.lines[-count:] if count else []

    def reload(self, site: str, wait: float) -> ApplyReport | None:
        self.reloads.append(site)
        if self.reload_fail is not None:
            raise self.reload_fail
        return self.report

    def rollback(self, site: str, wait: float) -> ApplyReport | None:
        self.reloads.append(f"rollback {site}")
        if self.reload_fail is not None:
            raise self.reload_fail
        return self.report

    def http_port(self) -> int:
        return 8080

    def figures(self) -> dict[str, Any] | None:
        return self.figures_data


@dataclass
class Dashboard:
    app: Flask
    backend: FakeBackend
    home: Path

    def client(self, address: str = "127.0.0.1") -> FlaskClient:
        client = self.app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return client

    def add_user(self, name: str = "alice", password: str = PASSWORD) -> None:
        services: Services = self.app.extensions["hostd"]
        services.users.set_password(name, password)


@pytest.fixture
def home() -> Iterator[Path]:
    """An instance home whose ports answer nothing, short enough for unix sockets."""
    folder = Path(tempfile.mkdtemp(prefix="hdd-", dir="/tmp"))
    home = folder / "h"
    home.mkdir()
    (home / "hostd.toml").write_text(f"[http]\nport = {free_port()}\nhttps_port = {free_port()}\n")
    (folder / "sites.d").mkdir()
    yield home
    shutil.rmtree(folder, ignore_errors=True)


def make_dashboard(
    home: Path, env: str = "production", config: dict[str, Any] | None = None
) -> Dashboard:
    backend = FakeBackend()
    app = create_app(
        {"BCRYPT_LOG_ROUNDS": 4, **(config or {})},
        home=home,
        sites_dir=home.parent / "sites.d",
        env=env,
        backend=backend,
    )
    return Dashboard(app, backend, home)


@pytest.fixture
def dashboard(home: Path) -> Dashboard:
    return make_dashboard(home)


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def log_in(
    client: FlaskClient, user: str = "alice", password: str = PASSWORD, remember: bool = False
) -> Any:
    token = csrf_token(client.get("/login").text)
    data = {"csrf_token": token, "username": user, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data)


@pytest.fixture
def client(dashboard: Dashboard) -> Iterator[FlaskClient]:
    """A client logged in as alice."""
    dashboard.add_user()
    client = dashboard.client()
    response = log_in(client)
    assert response.status_code == 302, response.text
    yield client


def reloaded(name: str) -> ApplyReport:
    return ApplyReport(generation=8, sites=[SiteResult(name, Outcome.RELOADED)])
