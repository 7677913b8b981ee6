"""Every page, logged in: overview, site page, reload, logs, JSON API, error pages."""

from __future__ import annotations

from dataclasses import replace

from flask.testing import FlaskClient

from hostd.core.report import ApplyReport, Outcome, SiteResult
from hostd.edges.logfiles import LogLine
from hostd.errors import InstanceError

from .conftest import Dashboard, csrf_token, make_dashboard, reloaded, sample_status, site_status


def test_overview_shows_every_site(client: FlaskClient) -> None:
    """Domains, program state, uptime, certificate expiry and the last error, per site."""
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    for text in (
        "alpha.localhost",
        "beta.localhost",
        "dashboard.localhost",
        "RUNNING",
        "FATAL",
        "pid 4242",
        "2099-01-31 (in ",
        "ImportError: boom",
        "serving live",
        'href="http://alpha.localhost:8080/"',
        "this dashboard",
    ):
        assert text in html, text
    assert 'href="/sites/beta"' in html


def test_overview_works_on_a_phone(client: FlaskClient) -> None:
    html = client.get("/").text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'class="table-responsive"' in html
    assert 'id="sites-compact"' in html  # a list instead of the table on small screens
    assert "navbar-toggler" in html


def test_bootstrap_is_served_locally(client: FlaskClient) -> None:
    """No internet needed: Bootstrap comes from the dashboard itself."""
    html = client.get("/").text
    assert "/bootstrap/static/css/bootstrap.min.css" in html
    assert "/bootstrap/static/js/bootstrap.min.js" in html
    assert "cdn.jsdelivr.net" not in html


def test_bootstrap_from_the_cdn_when_configured(dashboard: Dashboard) -> None:
    cdn = make_dashboard(dashboard.home, config={"BOOTSTRAP_SERVE_LOCAL": False})
    page = cdn.client().get("/login")
    assert "https://cdn.jsdelivr.net/npm/bootstrap@" in page.text
    assert "https://cdn.jsdelivr.net" in page.headers["Content-Security-Policy"]


def test_pages_are_private_and_framed_by_no_one(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_site_page(client: FlaskClient, dashboard: Dashboard) -> None:
    """Its state, its pending plan as a diff, its last log lines, a reload button."""
    dashboard.backend.change = "changed"
    dashboard.backend.diff = (
        "--- live/supervisor/programs/alpha.conf\n+++ candidate/supervisor/programs/alpha.conf\n"
        '@@ -1 +1 @@\n-environment=GREETING="hello"\n+environment=GREETING="hi"\n'
    )
    dashboard.backend.lines = [
        LogLine("app", "[INFO] Booting worker with pid: 12"),
        LogLine("access", '127.0.0.1 - - "GET / HTTP/1.1" 200 <script>'),
    ]
    page = client.get("/sites/alpha")
    assert page.status_code == 200
    html = page.text
    assert '<span class="diff-add">+environment=GREETING=&#34;hi&#34;</span>' in html
    assert '<span class="diff-del">-environment=GREETING=&#34;hello&#34;</span>' in html
    assert "Booting worker with pid: 12" in html
    assert "200 &lt;script&gt;" in html  # log lines are escaped
    assert 'id="reload"' in html
    assert 'action="/sites/alpha/reload"' in html
    assert 'data-url="/sites/alpha/logs.json?lines=60"' in html


def test_site_page_shows_a_refused_change(client: FlaskClient, dashboard: Dashboard) -> None:
    dashboard.backend.pending_error = "/srv/sites.d/beta.yaml:3: app.wsgi: invalid wsgi target"
    page = client.get("/sites/beta")
    assert "Refused: /srv/sites.d/beta.yaml:3: app.wsgi: invalid wsgi target" in page.text
    assert "app did not start" in page.text


def test_the_dashboard_does_not_reload_itself(client: FlaskClient, dashboard: Dashboard) -> None:
    page = client.get("/sites/hostd-dashboard")
    assert 'id="reload"' not in page.text
    response = client.post(
        "/sites/hostd-dashboard/reload", data={"csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 302
    assert dashboard.backend.reloads == []
    assert "hostd reload hostd-dashboard" in client.get("/sites/hostd-dashboard").text


def reload(client: FlaskClient, site: str = "alpha") -> str:
    token = csrf_token(client.get(f"/sites/{site}").text)
    response = client.post(f"/sites/{site}/reload", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sites/{site}"
    return client.get(response.headers["Location"]).text


def test_reload_flashes_the_result(client: FlaskClient, dashboard: Dashboard) -> None:
    """The reload button applies the one site and says what `hostd reload SITE` says."""
    dashboard.backend.report = reloaded("alpha")
    html = reload(client)
    assert dashboard.backend.reloads == ["alpha"]
    assert "alert-success alert-dismissible" in html
    assert "alpha: reloaded" in html


def test_reload_flashes_a_failure(client: FlaskClient, dashboard: Dashboard) -> None:
    dashboard.backend.report = ApplyReport(
        generation=7,
        sites=[SiteResult("beta", Outcome.FAILED, "app did not start", held=True)],
    )
    html = reload(client, "beta")
    assert "alert-danger" in html
    assert "beta: failed (serving its last good version): app did not start" in html


def test_reload_still_running(client: FlaskClient, dashboard: Dashboard) -> None:
    dashboard.backend.report = None
    assert "the reload is still running" in reload(client)


def test_reload_without_an_instance(client: FlaskClient, dashboard: Dashboard) -> None:
    dashboard.backend.reload_fail = InstanceError("no hostd instance is running on /x")
    html = reload(client)
    assert "alpha: not reloaded: no hostd instance is running on /x" in html
    assert "alert-danger" in html


def test_logs_json(client: FlaskClient, dashboard: Dashboard) -> None:
    """What the page's live follow polls: the last lines, as JSON."""
    dashboard.backend.lines = [LogLine("app", f"line {n}") for n in range(100)]
    data = client.get("/sites/alpha/logs.json?lines=3").json
    assert data == {
        "site": "alpha",
        "lines": [{"source": "app", "text": f"line {n}"} for n in (97, 98, 99)],
    }
    assert client.get("/sites/nope/logs.json").status_code == 404


def test_api_status_mirrors_hostd_status_json(client: FlaskClient) -> None:
    response = client.get("/api/status")
    assert response.status_code == 200
    assert response.json == sample_status().to_json()
    assert list(response.json["sites"]) == ["alpha", "beta", "hostd-dashboard"]


def test_not_found_page(client: FlaskClient) -> None:
    for path in ("/nowhere", "/sites/nope"):
        page = client.get(path)
        assert page.status_code == 404
        assert "There is no such page here." in page.text
        assert "Back to the sites" in page.text


def test_hostd_unreachable_page(client: FlaskClient, dashboard: Dashboard) -> None:
    dashboard.backend.fail = InstanceError("supervisord is not answering")
    page = client.get("/")
    assert page.status_code == 503
    assert "hostd could not answer" in page.text
    assert "supervisord is not answering" in page.text
    assert client.get("/api/status").json == {"error": "supervisord is not answering"}


def test_server_error_page(client: FlaskClient, dashboard: Dashboard) -> None:
    dashboard.backend.fail = RuntimeError("a bug")
    page = client.get("/")
    assert page.status_code == 500
    assert "Something went wrong" in page.text
    assert "a bug" not in page.text


def test_site_names_are_not_paths(client: FlaskClient) -> None:
    for path in ("/sites/%2E%2E/logs.json", "/sites/..", "/sites/a%2Fb", "/sites/.hidden"):
        assert client.get(path).status_code == 404, path


def test_a_site_with_a_previous_version_can_be_rolled_back(
    client: FlaskClient, dashboard: Dashboard
) -> None:
    """The page says which version serves from which slot; with a previous version it
    offers the rollback, which says what `hostd rollback SITE` says."""
    assert 'id="rollback"' not in client.get("/sites/alpha").text  # one version only
    previous = {"version": 3, "slot": "a", "warm": True, "warm_until": 1_700_000_300.0}
    dashboard.backend.state = replace(
        dashboard.backend.state,
        sites=[site_status("alpha", version=4, slot="b", previous=previous)],
    )
    page = client.get("/sites/alpha").text
    assert "4, live in slot b; previous: 3 in slot a (warm)" in page
    assert "Roll back to version 3" in page
    detail = "version 3 serves again in slot a, from its warm slot"
    dashboard.backend.report = ApplyReport(8, [SiteResult("alpha", Outcome.ROLLED_BACK, detail)])
    token = csrf_token(page)
    response = client.post("/sites/alpha/rollback", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/sites/alpha"
    assert dashboard.backend.reloads == ["rollback alpha"]
    assert f"alpha: rolled back: {detail}" in client.get("/sites/alpha").text
    assert client.post("/sites/alpha/rollback", data={}).status_code == 400  # no CSRF token
