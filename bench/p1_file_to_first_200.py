"""P1: from a site file renamed into the sites folder to the first HTTP 200 through nginx.

For a hello app (tests/apps/probe, 1 worker), with 1, 50 and 200 other live sites
(1 worker each). Each run adds a new site file with one rename, polls nginx every
5 ms with the site's Host header until it answers 200 with the app's body, then
deletes the file and waits until the site is gone (nginx closes: 444, its gunicorn
has exited, no apply runs) before the next run. While polling nginx it also polls
the site's own gunicorn socket, to split the time into "until the app answers on
its socket" and "until nginx routes to it".

The floor, measured in the same run and interleaved with it (one floor run before
each hostd run): plain gunicorn's boot-to-first-200 for the same app and worker
count, with the flags and the gunicorn config file hostd gives it, polled on its unix
socket every 5 ms.

    /tmp/v/bin/python bench/p1_file_to_first_200.py [--runs 20] [--others 1,50,200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    GUNICORN,
    NO_ANSWER,
    POLL,
    PROBE_APP,
    SITE_TIMEOUT,
    BenchError,
    HostdUp,
    bench_sites,
    domain,
    emit,
    fetch,
    hello,
    instance,
    load_average,
    main,
    note,
    percentile,
    ratio,
    samples,
    secs,
    site_yaml,
    unix_get,
    wait_gone,
    wait_settled,
    write_site,
    yes,
)

from hostd.core.render import GRACEFUL_TIMEOUT, TIMEOUT
from hostd.edges.process import daemon_environment, kill_all, processes_mentioning

GOAL_P50 = 1.4
GOAL_P95 = 2.5


@dataclass
class Series:
    floor: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)  # file renamed -> 200 through nginx
    socket: list[float] = field(default_factory=list)  # file renamed -> 200 on its socket


def socket_answers(sock: Path, host: str) -> bool:
    try:
        return unix_get(sock, "/", host, timeout=2.0)[0] == 200
    except OSError:
        return False


def floor_once(folder: Path, n: int, config: Path) -> float:
    """Plain gunicorn: Popen -> first 200 on its socket, with hostd's flags and the
    gunicorn config file hostd gives every site (`config`)."""
    sock = folder / f"floor{n}.sock"
    argv = [
        str(GUNICORN),
        "--config", str(config),
        "--chdir", str(PROBE_APP),
        "--bind", f"unix:{sock}",
        "--workers", "1",
        "--timeout", str(TIMEOUT),
        "--graceful-timeout", str(GRACEFUL_TIMEOUT),
        "--error-logfile", "-",
        "--control-socket", str(folder / f"floor{n}.ctl"),
        "probe:app",
    ]  # fmt: skip
    env = daemon_environment(os.environ) | {"PYTHONUNBUFFERED": "1", "HOSTD_SITE": "floor"}
    with (folder / "floor.log").open("ab") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        while not socket_answers(sock, "floor.test"):
            if proc.poll() is not None:
                raise BenchError(f"floor gunicorn exited {proc.returncode}: see {log.name}")
            if time.perf_counter() - start > SITE_TIMEOUT:
                raise BenchError(f"floor gunicorn did not answer within {SITE_TIMEOUT:.0f}s")
            time.sleep(POLL)
        return time.perf_counter() - start
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        strays = processes_mentioning(str(sock))
        if strays:
            kill_all(strays)


def hostd_once(up: HostdUp, name: str) -> tuple[float, float]:
    """Rename a new site file in; (seconds to 200 through nginx, seconds to 200 on socket)."""
    host = domain(name)
    sock = up.home / "run" / f"{name}.sock"
    want = hello(name)
    start = write_site(up, name, site_yaml([host]))
    on_socket: float | None = None
    while True:
        now = time.perf_counter() - start
        if on_socket is None and socket_answers(sock, host):
            on_socket = time.perf_counter() - start
        try:
            status, body = fetch(up.port, host, timeout=5.0)
        except OSError:
            status, body = 0, ""
        if status == 200 and body == want:
            total = time.perf_counter() - start
            break
        if status not in (200, NO_ANSWER, 502):
            raise BenchError(f"{name}: nginx answered {status} {body[:200]!r}")
        if now > SITE_TIMEOUT:
            raise BenchError(f"{name} not served within {SITE_TIMEOUT:.0f}s ({status})")
        time.sleep(POLL)
    return total, on_socket if on_socket is not None else total


def scenario(others: int, runs: int) -> Series:
    series = Series()
    with instance(bench_sites(others, prefix="o")) as up:
        wait_settled(up, quiet=2.0)
        for n in range(runs):
            series.floor.append(floor_once(up.root, n, up.home / "state" / "gunicorn.conf.py"))
            name = f"p1-{n:02d}"
            total, on_socket = hostd_once(up, name)
            series.total.append(total)
            series.socket.append(on_socket)
            (up.sites / f"{name}.yaml").unlink()
            wait_gone(up, name)
        note(f"{others} other site(s): load {load_average()}")
    return series


def report(label: str, s: Series) -> None:
    p50, p95 = percentile(s.total, 50), percentile(s.total, 95)
    f50, f95 = percentile(s.floor, 50), percentile(s.floor, 95)
    emit(
        label,
        runs=len(s.total),
        p50=secs(p50),
        p95=secs(p95),
        floor_p50=secs(f50),
        floor_p95=secs(f95),
        ratio_p50=ratio(p50, f50),
        ratio_p95=ratio(p95, f95),
        goal_p50=yes(p50 <= GOAL_P50 * f50),
        goal_p95=yes(p95 <= GOAL_P95 * f95),
    )
    emit(
        f"{label}_goal",
        ratio_p50=ratio(p50, f50),
        goal=f"{GOAL_P50:.2f}",
        met=yes(p50 <= GOAL_P50 * f50),
    )
    sock50, sock95 = percentile(s.socket, 50), percentile(s.socket, 95)
    gaps = [t - o for t, o in zip(s.total, s.socket, strict=True)]
    emit(
        f"{label}_split",
        socket_p50=secs(sock50),
        socket_p95=secs(sock95),
        socket_minus_floor_p50=secs(sock50 - f50),
        nginx_after_socket_p50=secs(percentile(gaps, 50)),
        nginx_after_socket_p95=secs(percentile(gaps, 95)),
    )
    samples(f"{label}_total", s.total)
    samples(f"{label}_floor", s.floor)
    samples(f"{label}_socket", s.socket)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--others", default="1,50,200", help="comma-separated other-site counts")
    args = parser.parse_args()
    labels = {1: "p1_one_site", 50: "p1_fifty_sites", 200: "p1_200_sites"}
    results: dict[int, Series] = {}
    for others in (int(x) for x in args.others.split(",")):
        note(f"scenario: {others} other live site(s), {args.runs} runs")
        results[others] = scenario(others, args.runs)
    for others, series in results.items():
        report(labels.get(others, f"p1_{others}_others"), series)


if __name__ == "__main__":
    main(run)
