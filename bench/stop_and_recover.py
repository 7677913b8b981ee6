"""Stopping many sites, and a supervisord that dies: how long, and how many 502s.

stop     N probe sites (1 worker each) live; SIGTERM to `hostd up` and the time until
         it has exited with every process it started gone. Floor: the same with 1
         site, in the same run. Goal: under 10 s for 300 sites.
recover  N sites live; supervisord is killed with SIGKILL (its gunicorns live on as
         orphans) while `--sampled` sites are polled in a tight loop, one thread each.
         For each sampled site: the longest run of non-200 answers (its 502 window,
         from the first failed poll to the next 200) until hostd has started a new
         supervisord and every site answers 200 from a new gunicorn. Goal: every
         window under 0.3 s.

  /tmp/v/bin/python bench/stop_and_recover.py [--sites 300] [--sampled 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import threading
import time
from collections import Counter
from pathlib import Path

from common import (
    BenchError,
    bench_sites,
    domain,
    emit,
    fetch,
    hello,
    instance,
    main,
    note,
    percentile,
    ratio,
    secs,
    wait_for,
    yes,
)

from hostd.edges.process import processes_mentioning


def stop_seconds(sites: int) -> float:
    """Seconds from SIGTERM to `hostd up` exiting, with `sites` live; every process of
    the instance must be gone by then."""
    with instance(bench_sites(sites)) as up:
        assert up.proc is not None
        started = time.perf_counter()
        code = up.stop(timeout=120)
        took = time.perf_counter() - started
        left = processes_mentioning(str(up.root))
        if code != 0 or left:
            raise BenchError(f"hostd up exited {code}, left {left}")
        return took


class Poller(threading.Thread):
    """Polls one site until told to stop; remembers its longest non-200 run."""

    def __init__(self, port: int, site: str) -> None:
        super().__init__(daemon=True)
        self.port, self.site = port, site
        self.done = threading.Event()
        self.longest = 0.0
        self.failed_polls = 0
        self.polls = 0
        self.seen: Counter[int | str] = Counter()

    def run(self) -> None:
        failing_since: float | None = None
        while not self.done.is_set():
            try:
                status, body = fetch(self.port, domain(self.site), timeout=10)
                ok = (status, body) == (200, hello(self.site))
                self.seen[status if ok or status != 200 else -200] += 1
            except OSError as exc:
                ok = False
                self.seen[type(exc).__name__] += 1
            now = time.perf_counter()
            self.polls += 1
            if ok and failing_since is not None:
                self.longest = max(self.longest, now - failing_since)
                failing_since = None
            elif not ok:
                self.failed_polls += 1
                failing_since = failing_since or now
        if failing_since is not None:  # still failing at the end: a window that never closed
            self.longest = max(self.longest, time.perf_counter() - failing_since)


def supervisord_pid(home: Path) -> int:
    return int((home / "run" / "supervisord.pid").read_text().strip())


def recover(sites: int, sampled: int) -> None:
    names = bench_sites(sites)
    with instance(names) as up:
        old = supervisord_pid(up.home)
        pollers = [Poller(up.port, name) for name in list(names)[:: max(1, sites // sampled)]]
        for poller in pollers:
            poller.start()
        time.sleep(1.0)
        started = time.perf_counter()
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: supervisord_pid(up.home) != old, 120, "a new supervisord")
        for name in names:
            wait_for(lambda name=name: fetch(up.port, domain(name)) == (200, hello(name)), 120,
                     f"{name} served again")  # fmt: skip
        wait_for(lambda: "old supervisord left" in up.log(), 120, "orphans retired")
        recovered = time.perf_counter() - started
        time.sleep(1.0)
        for poller in pollers:
            poller.done.set()
        for poller in pollers:
            poller.join(15)
        windows = [poller.longest for poller in pollers]
        emit(
            f"recover_{sites}",
            sampled=len(pollers),
            window_max=secs(max(windows)),
            window_p50=secs(statistics.median(windows)),
            window_p90=secs(percentile(windows, 90)),
            failed_polls=sum(p.failed_polls for p in pollers),
            polls=sum(p.polls for p in pollers),
            answers=dict(sum((p.seen for p in pollers), Counter())),
            all_serving_after=secs(recovered),
            goal="every window < 0.3 s",
            met=yes(max(windows) < 0.3),
        )


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=300)
    parser.add_argument("--sampled", type=int, default=10)
    parser.add_argument("--parts", default="stop,recover")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if "stop" in parts:
        floor = stop_seconds(1)
        many = stop_seconds(args.sites)
        emit(f"stop_{args.sites}", seconds=secs(many), floor_1_site=secs(floor),
             ratio=ratio(many, floor), goal="< 10 s", met=yes(many < 10.0))  # fmt: skip
    if "recover" in parts:
        recover(args.sites, args.sampled)
    note("figures are wall times on this machine; see bench/README.md")


if __name__ == "__main__":
    main(run)
