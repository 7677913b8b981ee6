"""The figures against a real `hostd up`: requests through nginx are counted by status
class with their upstream latency, survive rotation and truncation without loss or
doubles, show in `hostd stats` and `hostd top`, and /metrics parses with the official
Prometheus client's parser. GoAccess reads the access log as a combined log."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .harness import HostdUp, free_port, site_yaml, wait_until

METRICS_PORT = free_port()  # [metrics] port, set in hostd.toml


@pytest.fixture(scope="module")
def served() -> Iterator[HostdUp]:
    """One instance with two sites, shared by the tests of this file."""
    up = HostdUp()
    try:
        up.home.mkdir(parents=True)
        (up.home / "hostd.toml").write_text(f"[metrics]\nport = {METRICS_PORT}\n")
        up.write_site("shop", site_yaml(["shop.localhost"]))
        up.write_site("blog", site_yaml(["blog.localhost"]))
        up.start()
        wait_until(lambda: up.get("shop.localhost").status == 200, 30, "shop answers")
        wait_until(lambda: up.get("blog.localhost").status == 200, 30, "blog answers")
        running = lambda: {s["program"] for s in up.status()["sites"].values()} == {"RUNNING"}  # noqa: E731
        wait_until(running, 30, "both programs RUNNING")
        yield up
    finally:
        print(up.log())
        strays = up.cleanup()
        assert not strays, f"processes left behind: {strays}"


def stats(up: HostdUp, site: str) -> dict[str, Any]:
    return dict(json.loads(up.hostd("stats", site, "--json", check=True).stdout))


def settled(up: HostdUp, site: str) -> int:
    """The site's requests in the last hour, once every line of its log is counted."""
    log = up.home / "log" / site / "access.log"

    def caught_up() -> bool:
        return stats(up, site)["windows"]["hour"]["requests"] == len(log.read_text().splitlines())

    wait_until(caught_up, 20, f"{site}'s log counted")
    return int(stats(up, site)["windows"]["hour"]["requests"])


def counted(up: HostdUp, site: str, total: int) -> dict[str, Any]:
    """The site's figures once `total` requests are counted in the last hour."""
    wait_until(
        lambda: stats(up, site)["windows"]["hour"]["requests"] >= total, 20, f"{total} counted"
    )
    figures = stats(up, site)
    assert figures["windows"]["hour"]["requests"] == total, figures["windows"]["hour"]
    return figures


def metrics(up: HostdUp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    url = json.loads((up.home / "run" / "metrics.json").read_text())["url"]
    with urllib.request.urlopen(url + "/metrics", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_requests_are_counted_by_class_with_their_latency(served: HostdUp) -> None:
    up = served
    base = settled(up, "shop")
    for path, times in (("/", 20), ("/status/503", 5), ("/status/404", 3), ("/sleep/300", 2)):
        for _ in range(times):
            up.get("shop.localhost", path)
    figures = counted(up, "shop", base + 30)
    minute = figures["windows"]["minute"]
    assert (minute["5xx"], minute["4xx"]) == (5, 3)
    assert minute["p50"] < 0.3 <= minute["p99"] < 0.5  # the two slow ones are the top 7%
    wait_until(lambda: stats(up, "shop")["program"]["state"] == "RUNNING", 20, "RUNNING")
    assert stats(up, "shop")["program"]["pid"] == up.pid("shop")
    assert figures["cert_days_left"] is None  # tls: off
    assert any(point["5xx"] == 5 for point in figures["series"]["hour"][-2:])

    text = up.hostd("stats", "shop", check=True).stdout
    assert text.startswith("shop: RUNNING pid ") and "last minute" in text
    missing = up.hostd("stats", "nope")
    assert missing.returncode == 2 and "live sites: blog, shop" in missing.stderr


def test_top_shows_every_site_each_refresh(served: HostdUp) -> None:
    done = served.hostd("top", "-n", "2", "-d", "0.2", check=True)
    frames = [frame for frame in done.stdout.split("hostd top: ") if frame]
    assert len(frames) == 2
    for frame in frames:
        rows = {line.split()[0]: line.split() for line in frame.splitlines()[4:] if line}
        assert set(rows) == {"shop", "blog"}
        assert rows["shop"][6] == "RUNNING" and rows["shop"][7] == str(served.pid("shop"))


def test_metrics_parse_with_the_prometheus_client(served: HostdUp) -> None:
    up = served
    expected = stats(up, "shop")["windows"]["day"]
    scraped = metrics(up)
    shop_5xx = scraped[("hostd_http_requests_total", (("code", "5xx"), ("site", "shop")))]
    assert shop_5xx == expected["5xx"]
    count = scraped[("hostd_upstream_response_seconds_count", (("site", "shop"),))]
    assert count == expected["requests"]
    assert scraped[("hostd_program_up", (("site", "shop"),))] == 1.0
    assert scraped[("hostd_generation", ())] == up.status()["generation"]
    assert scraped[("hostd_applies_total", ())] >= 1
    assert scraped[("hostd_nginx_reloads_total", ())] >= 1
    assert scraped[("hostd_last_apply_ok", ())] == 1.0
    # on loopback, at the port hostd.toml sets
    url = json.loads((up.home / "run" / "metrics.json").read_text())["url"]
    assert url == f"http://127.0.0.1:{METRICS_PORT}"


def test_rotation_and_truncation_lose_nothing_and_double_nothing(served: HostdUp) -> None:
    up = served
    base = settled(up, "blog")
    for _ in range(10):
        up.get("blog.localhost", "/")
    rotated = up.hostd("logs", "--rotate", "--force", check=True)
    assert rotated.returncode == 0
    for _ in range(10):
        up.get("blog.localhost", "/")
    counted(up, "blog", base + 20)
    assert (up.home / "log" / "blog" / "access.log.1").exists()
    os.truncate(up.home / "log" / "blog" / "access.log", 0)
    for _ in range(5):
        up.get("blog.localhost", "/status/500")
    figures = counted(up, "blog", base + 25)
    assert figures["windows"]["minute"]["5xx"] == 5


def test_a_program_restart_is_counted(served: HostdUp) -> None:
    up = served
    before = stats(up, "blog")["program"]["restarts"]
    pid = up.pid("blog")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: stats(up, "blog")["program"]["restarts"] == before + 1, 30, "restart seen")
    wait_until(lambda: up.get("blog.localhost").status == 200, 30, "blog back")


@pytest.mark.skipif(shutil.which("goaccess") is None, reason="needs goaccess (./dev installs it)")
def test_goaccess_reads_the_access_log_as_combined(served: HostdUp) -> None:
    up = served
    up.get("shop.localhost", "/sleep/10")
    log = up.home / "log" / "shop" / "access.log"
    wait_until(lambda: "/sleep/10 " in log.read_text(), 10, "logged")
    lines = log.read_text().splitlines()
    assert lines[-1].rsplit(" ", 2)[1:] != ["-", "-"]  # request and upstream time are there
    done = subprocess.run(
        ["goaccess", str(log), "--log-format=COMBINED", "--no-global-config", "-o", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    general = json.loads(done.stdout[done.stdout.index("{") :])["general"]
    assert (general["valid_requests"], general["failed_requests"]) == (len(lines), 0)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_top_runs_live_in_a_terminal(served: HostdUp) -> None:
    """In a real terminal (tmux) `hostd top` redraws one screen in place; Ctrl-C ends it."""
    socket_name = f"hostd-top-{uuid.uuid4().hex[:8]}"  # a tmux server of this test's own
    tmux = ["tmux", "-L", socket_name]
    command = shlex.join(
        [sys.executable, "-m", "hostd", "top", "-d", "0.3", "--home", str(served.home)]
    )
    env = {**served.environ(), "TERM": "xterm"}

    def screen() -> str:
        done = subprocess.run([*tmux, "capture-pane", "-p", "-t", "top"], capture_output=True,
                              text=True, env=env, timeout=10)  # fmt: skip
        return done.stdout

    subprocess.run([*tmux, "new-session", "-d", "-s", "top", "-x", "120", "-y", "30", command],
                   env=env, check=True, timeout=10)  # fmt: skip
    try:
        wait_until(lambda: "RUNNING" in screen() and "blog" in screen(), 15, "top drawn")
        for _ in range(3):  # several refreshes later, still one screen
            served.get("shop.localhost", "/")
            time.sleep(0.4)
            shown = screen()
            assert shown.count("hostd top:") == 1, shown
            rows = [
                line.split() for line in shown.splitlines() if line.startswith(("shop", "blog"))
            ]
            assert sorted(row[0] for row in rows) == ["blog", "shop"]
        subprocess.run([*tmux, "send-keys", "-t", "top", "C-c"], env=env, check=True, timeout=10)
        gone = lambda: subprocess.run([*tmux, "has-session", "-t", "top"],  # noqa: E731
                                      capture_output=True, env=env).returncode != 0  # fmt: skip
        wait_until(gone, 10, "top ended on Ctrl-C")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, env=env, timeout=10)
