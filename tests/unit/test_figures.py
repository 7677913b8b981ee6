"""The figures, purely: access lines read, requests counted into fixed slots and
histograms, percentiles, windows that forget, hostd's own health from its events,
and the text of `hostd stats` and `hostd top`."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest

from hostd.core.accessline import ACCESS_LOG_FORMAT, Request, parse_request, upstream_seconds
from hostd.core.figures import BOUNDS, Counts, Health, Ring, SiteFigures, bucket_of
from hostd.core.figures_text import stats_text, top_text
from hostd.core.layout import Mode
from hostd.core.logline import dated
from hostd.core.settings import parse_settings
from hostd.edges.logfiles import Follower
from hostd.errors import SettingsError
from hostd.runtime.collector import tail_position

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
T0 = 1_789_999_200.0  # a moment on a minute, hour and ten-minute boundary
LINE = (
    '203.0.113.9 - alice [01/May/2024:13:55:36 +0000] "GET /a?b=\\"c\\" HTTP/1.1" 503 1234 '
    '"https://example.com/" "Mozilla/5.0 (X11; \\"quoted\\")" 0.250 0.120, 0.030'
)


def test_the_template_writes_the_format_the_parser_reads() -> None:
    text = (TEMPLATES / "hostd.conf.j2").read_text()
    found = re.search(r"log_format hostd_combined (.*);", text)
    assert found is not None and found.group(1) == ACCESS_LOG_FORMAT
    assert "$request_time $upstream_response_time" in ACCESS_LOG_FORMAT
    assert (TEMPLATES / "site.conf.j2").read_text().count("access.log hostd_combined;") == 2


def test_an_access_line_gives_status_bytes_and_latency() -> None:
    request = parse_request(LINE)
    assert request is not None
    assert (request.status, request.bytes, request.request_seconds) == (503, 1234, 0.25)
    assert request.upstream_seconds == pytest.approx(0.15)  # two upstreams tried: summed
    assert request.time == 1714571736.0


def test_plain_combined_lines_and_static_files_read_without_latency() -> None:
    combined = '127.0.0.1 - - [01/May/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 16 "-" "curl"'
    static = combined + " 0.000 -"
    for text in (combined, static):
        request = parse_request(text)
        assert request is not None and request.status == 200
        assert request.upstream_seconds is None
    assert parse_request("not a log line") is None
    assert parse_request('127.0.0.1 - - [99/Zzz/2024:13:55:36 +0000] "GET /" 200 1') is None
    assert upstream_seconds("-") is None and upstream_seconds("0.1 : 0.2") == pytest.approx(0.3)


def test_hostd_logs_still_dates_the_new_lines() -> None:
    (line,) = dated([LINE], "access")
    assert line.time == 1714571736.0


def request(at: float, status: int = 200, latency: float | None = 0.01, size: int = 100) -> Request:
    return Request(time=at, status=status, bytes=size, upstream_seconds=latency)


def test_percentiles_come_from_the_histogram_within_a_bucket() -> None:
    counts = Counts()
    for millis in range(1, 1001):  # 1 ms .. 1 s, evenly
        counts.add(request(T0, latency=millis / 1000))
    for q, exact in ((0.5, 0.5), (0.95, 0.95), (0.99, 0.99)):
        found = counts.quantile(q)
        assert found is not None
        bucket = bucket_of(exact)
        assert BOUNDS[bucket - 1] <= found <= BOUNDS[bucket]  # right to a bucket
    assert Counts().quantile(0.5) is None
    assert bucket_of(0.0) == 0 and bucket_of(10_000.0) == len(BOUNDS)


def test_windows_count_by_class_and_forget_what_is_older() -> None:
    figures = SiteFigures()
    figures.add_all(
        [request(T0, 200), request(T0 + 1, 404), request(T0 + 2, 502), request(T0 + 2, 500)]
    )
    now = T0 + 3
    minute = figures.summary(now)["windows"]["minute"]
    assert (minute["requests"], minute["2xx"], minute["4xx"], minute["5xx"]) == (4, 1, 1, 2)
    assert minute["bytes"] == 400
    later = figures.summary(T0 + 120)["windows"]
    assert later["minute"]["requests"] == 0 and later["hour"]["requests"] == 4
    assert figures.summary(T0 + 2 * 86400)["windows"]["day"]["requests"] == 0
    assert figures.total.requests == 4  # the counters Prometheus reads never forget


def test_the_rate_is_over_the_last_ten_whole_seconds() -> None:
    figures = SiteFigures()
    figures.add_all(request(T0 + second % 10, 500 if second % 2 else 200) for second in range(50))
    rate = figures.summary(T0 + 10)["rate"]
    assert rate == {"requests": 5.0, "5xx": 2.5, "p95": pytest.approx(rate["p95"])}


def test_series_have_one_point_per_slot_ending_now() -> None:
    figures = SiteFigures()
    figures.add(request(T0 + 30, 500))
    series = figures.summary(T0 + 3599)["series"]
    assert len(series["hour"]) == 60 and len(series["day"]) == 144
    assert series["hour"][0]["t"] == T0 and series["hour"][0]["5xx"] == 1
    assert sum(point["requests"] for point in series["day"]) == 1


def test_memory_is_bounded_whatever_the_traffic() -> None:
    ring = Ring(60, 60)
    randomly = random.Random(7)
    for _ in range(20_000):
        ring.add(request(T0 + randomly.uniform(0, 86400 * 3), latency=randomly.random()))
    assert len(ring.slots) == 60
    assert all(len(held[1].latency) == len(BOUNDS) + 1 for held in ring.slots if held)
    assert sys.getsizeof(ring.slots) < 1024


def test_a_request_older_than_its_slot_is_dropped_not_miscounted() -> None:
    ring = Ring(1, 60)
    ring.add(request(T0 + 60))  # takes the slot T0 used
    ring.add(request(T0))
    assert ring.total(T0 + 60).requests == 1


def test_a_new_start_time_is_a_restart() -> None:
    figures = SiteFigures()
    figures.observe_program("RUNNING", 10, 100.0)
    figures.observe_program("RUNNING", 10, 100.0)
    figures.observe_program("BACKOFF", None, None)
    figures.observe_program("RUNNING", 11, 160.0)
    assert figures.program.restarts == 1 and figures.program.pid == 11


def test_health_counts_applies_reloads_and_crash_loops() -> None:
    health = Health()
    health.observe({"event": "applied", "generation": 3, "ok": True}, T0)
    health.observe({"event": "nginx-reloaded"}, T0)
    health.observe({"event": "applied", "generation": 3, "ok": False}, T0 + 5)
    health.observe({"event": "crash-loop", "site": "blog"}, T0 + 6)
    health.observe({"event": "site-added", "site": "blog"}, T0 + 6)
    assert health.summary() == {
        "generation": 3, "applies": 2, "apply_failures": 1, "last_apply_ok": False,
        "last_apply_at": T0 + 5, "nginx_reloads": 1,
    }  # fmt: skip
    assert health.crash_loops == {"blog": 1}


def test_stats_and_top_show_the_figures() -> None:
    figures = SiteFigures()
    figures.add_all([request(T0, 200, 0.004), request(T0, 503, 1.5, size=2048)])
    figures.observe_program("RUNNING", 42, 1.0)
    figures.cert_not_after = T0 + 30 * 86400
    site = figures.summary(T0 + 1)
    text = stats_text("blog", site)
    assert "blog: RUNNING pid 42; restarts 0; crash loops 0; certificate: 30 days left" in text
    assert re.search(r"last minute +2 +0 +1 +0 +0 +1 +2\.1k ", text)
    frame = top_text({"health": Health(generation=4).summary(), "sites": {"blog": site}})
    assert "generation 4" in frame
    assert re.search(r"^blog +0\.2 +0\.1 +\S+ +2 +1 RUNNING +42 +0 +30d$", frame, re.M)


def test_metrics_settings_are_checked() -> None:
    path = Path("/etc/hostd/hostd.toml")
    assert parse_settings("", path, Mode.SYSTEM).metrics.port == 9181
    assert parse_settings("", path, Mode.EMBEDDED).metrics.port == 0
    for bad in ('[metrics]\nlisten = "localhost"\n', "[metrics]\nport = 70000\n"):
        with pytest.raises(SettingsError, match="metrics"):
            parse_settings(bad, path, Mode.EMBEDDED)


def test_a_big_log_is_read_from_its_last_mib_at_a_line_start(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    line = LINE.replace("503", "200") + "\n"
    log.write_text(line * (3 * (1 << 20) // len(line)))  # 3 MiB
    where = tail_position(log, 1 << 20)
    assert where is not None
    size = log.stat().st_size
    assert size - (1 << 20) <= where.offset < size - (1 << 20) + len(line)
    assert where.offset % len(line) == 0  # the start of a line
    follower = Follower({"access": log}, {"access": where})
    try:
        lines = follower.poll()
        assert len(lines) == (size - where.offset) // len(line)
        assert all(parse_request(read.text) is not None for read in lines)
    finally:
        follower.close()
    assert tail_position(tmp_path / "missing.log", 1 << 20) is None
