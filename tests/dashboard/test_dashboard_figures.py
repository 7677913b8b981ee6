"""The figures on the dashboard's pages, without JavaScript: a sparkline's numbers per
site on the overview, the windows and the series as tables on a site's page, and the
chart library served by the dashboard itself."""

from __future__ import annotations

import re
import time

from flask.testing import FlaskClient

from hostd.core.accessline import Request
from hostd.core.figures import Health, SiteFigures

from .conftest import Dashboard


def figures_of_alpha() -> dict[str, object]:
    now = time.time()
    alpha = SiteFigures()
    alpha.add_all(
        Request(time=now - 120 + i, status=503 if i % 4 == 0 else 200, bytes=10,
                upstream_seconds=0.02)
        for i in range(40)
    )  # fmt: skip
    alpha.observe_program("RUNNING", 4242, 1.0)
    return {"time": now, "health": Health().summary(), "sites": {"alpha": alpha.summary(now)}}


def test_the_overview_has_a_sparkline_per_site_with_its_numbers(
    dashboard: Dashboard, client: FlaskClient
) -> None:
    dashboard.backend.figures_data = figures_of_alpha()
    html = client.get("/").text
    spark = re.search(r'<div class="spark" id="spark-alpha"[^>]*>', html, re.S)
    assert spark is not None
    requests = re.search(r'data-requests="([\d,]+)"', spark.group(0))
    errors = re.search(r'data-errors="([\d,]+)"', spark.group(0))
    assert requests and errors
    assert len(requests.group(1).split(",")) == 60
    assert sum(map(int, requests.group(1).split(","))) == 40
    assert sum(map(int, errors.group(1).split(","))) == 10
    assert "40 requests, 10 5xx" in html  # readable without the chart
    assert 'src="/static/vendor/uplot/uPlot.iife.min.js"' in html
    assert "cdn" not in html.split("uPlot")[0][-300:].lower()


def test_a_site_page_shows_its_windows_and_series_as_tables(
    dashboard: Dashboard, client: FlaskClient
) -> None:
    dashboard.backend.figures_data = figures_of_alpha()
    html = client.get("/sites/alpha").text
    row = re.search(r'<tr id="window-hour">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
    assert cells[:5] == ["40", "30", "0", "0", "10"]
    for key, points in (("hour", 60), ("day", 144)):
        table = re.search(rf'<table [^>]*id="series-{key}">(.*?)</table>', html, re.S)
        assert table is not None and table.group(1).count("<tr data-t=") == points
        assert f'id="chart-requests-{key}"' in html and f'id="chart-latency-{key}"' in html
    assert re.fullmatch(r"(1[6-9]|2[0-3])ms", cells[7])  # p50 of 20 ms, right to a bucket


def test_without_a_daemon_the_pages_say_there_are_no_figures(client: FlaskClient) -> None:
    assert 'id="no-figures"' in client.get("/sites/alpha").text
    assert client.get("/").status_code == 200


def test_the_chart_library_is_served_with_its_licence(client: FlaskClient) -> None:
    for path, needle in (
        ("/static/vendor/uplot/uPlot.iife.min.js", b"uPlot"),
        ("/static/vendor/uplot/LICENSE", b"MIT License"),
        ("/static/charts.js", b"new uPlot("),
    ):
        answer = client.get(path)
        try:
            assert answer.status_code == 200 and needle in answer.data, path
        finally:
            answer.close()
