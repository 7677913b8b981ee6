"""A paused site (`hostd pause`) is marked on the overview and on its own page."""

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
