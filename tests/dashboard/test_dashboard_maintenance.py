"""A paused site (`hostd pause`) and worker processes as the dashboard shows them."""

from __future__ import annotations

from dataclasses import replace

from flask.testing import FlaskClient

from .conftest import Dashboard, site_status


def test_a_paused_site_shows_a_paused_badge_with_its_message(
    dashboard: Dashboard, client: FlaskClient
) -> None:
    state = dashboard.backend.state
    sites = [site_status("alpha", paused="Back at noon"), *state.sites[1:]]
    dashboard.backend.state = replace(state, sites=sites)
    for page in ("/", "/sites/alpha"):
        html = client.get(page).text
        assert 'class="badge text-bg-secondary paused" title="Back at noon">paused<' in html, page
    assert html.count(">paused<") == 1, "only the paused site"


def test_a_sites_worker_processes_show_their_state_on_its_page(
    dashboard: Dashboard, client: FlaskClient
) -> None:
    state = dashboard.backend.state
    worker = {"program": "RUNNING", "pid": 777, "crash_loop": None}
    flaky = {"program": "STOPPED", "pid": None, "crash_loop": {"reason": "gave up"}}
    sites = [site_status("alpha", processes={"worker": worker, "flaky": flaky}), *state.sites[1:]]
    dashboard.backend.state = replace(state, sites=sites)
    html = client.get("/sites/alpha").text
    assert "Process worker</dt>" in html and "pid 777" in html
    assert "Process flaky</dt>" in html and 'title="gave up">crash loop<' in html
