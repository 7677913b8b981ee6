"""One site's environment changes among 50 live sites: time until the new value is served.

50 probe sites (1 worker each) are live. Each run rewrites one site's file (one
rename) with a new GREETING and polls nginx every 5 ms until the site answers
"<site> says <new value>". Between runs: wait until no apply runs. Reported: p50/p95
of the time, how many polls during the change got something else than a 200 (the
site's downtime while its program restarts), and whether the other 49 sites kept
their gunicorn master pids (from /info through nginx and from `hostd status --json`).
Exits 1 if any of the 49 got a new master: hostd promises that unchanged sites keep
their pids.

    /tmp/v/bin/python bench/env_change_among_50.py [--runs 20] [--sites 50]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import (
    NO_ANSWER,
    POLL,
    SITE_TIMEOUT,
    BenchError,
    bench_sites,
    domain,
    emit,
    fetch,
    hello,
    instance,
    main,
    master_pids,
    note,
    percentile,
    samples,
    secs,
    site_yaml,
    status_pids,
    wait_settled,
    write_site,
)

GOAL_P50 = 0.5  # seconds, file renamed -> new value served (issue: 300 live sites)
GOAL_RSS_MIB = 60.0  # the `hostd up` process, after the runs


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sites", type=int, default=50)
    args = parser.parse_args()
    sites = bench_sites(args.sites)
    changed, *others = sorted(sites)
    with instance(sites) as up:
        wait_settled(up, quiet=2.0)
        before = master_pids(up, others)
        before_status = status_pids(up)
        first_pid = master_pids(up, [changed])[changed]
        times: list[float] = []
        bad_polls: list[int] = []
        downtimes: list[float] = []  # first non-200 poll -> first 200 with the new value
        seen: dict[int, int] = {}  # status -> polls (0: no connection)
        for n in range(1, args.runs + 1):
            value = f"v{n}"
            want = hello(changed, value)
            text = site_yaml([domain(changed)], env={"GREETING": value})
            start = write_site(up, changed, text)
            bad = 0
            down_since: float | None = None
            while True:
                try:
                    status, body = fetch(up.port, domain(changed))
                except OSError:
                    status, body = 0, ""
                now = time.perf_counter()
                if status == 200 and body == want:
                    times.append(now - start)
                    downtimes.append(now - down_since if down_since is not None else 0.0)
                    break
                if status != 200:
                    bad += 1
                    seen[status] = seen.get(status, 0) + 1
                    if down_since is None:
                        down_since = now
                if status not in (200, 502, NO_ANSWER, 0):
                    raise BenchError(f"{changed} answered {status}: {body[:200]!r}")
                if time.perf_counter() - start > SITE_TIMEOUT:
                    raise BenchError(f"{value} not served within {SITE_TIMEOUT:.0f}s")
                time.sleep(POLL)
            bad_polls.append(bad)
            wait_settled(up)
        rss_kib = (
            [
                int(line.split()[1])
                for line in Path(f"/proc/{up.proc.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS:")
            ]
            if up.proc is not None
            else []
        )
        after = master_pids(up, others)
        after_status = status_pids(up)
        last_pid = master_pids(up, [changed])[changed]

    moved = sorted(site for site in others if after[site] != before[site])
    moved_status = sorted(
        site for site in others if after_status.get(site) != before_status.get(site)
    )
    emit(
        f"env_change_{args.sites}",
        runs=len(times),
        p50=secs(percentile(times, 50)),
        p95=secs(percentile(times, 95)),
        max=secs(max(times)),
        non200_polls=sum(bad_polls),
        runs_with_non200=sum(1 for b in bad_polls if b),
    )
    emit(
        f"env_change_{args.sites}_goal",
        p50=secs(percentile(times, 50)),
        goal="0.500s",
        met="yes" if percentile(times, 50) <= GOAL_P50 else "no",
    )
    if rss_kib:
        emit(
            f"hostd_rss_{args.sites}_sites",
            rss_mib=f"{rss_kib[0] / 1024:.1f}",
            goal="60",
            met="yes" if rss_kib[0] / 1024 <= GOAL_RSS_MIB else "no",
        )
    emit(
        f"env_change_{args.sites}_downtime",
        p50=secs(percentile(downtimes, 50)),
        p95=secs(percentile(downtimes, 95)),
        statuses=",".join(f"{code}x{count}" for code, count in sorted(seen.items())) or "-",
    )
    emit(
        f"env_change_{args.sites}_pids",
        others_kept_master_pid=f"{len(others) - len(moved)}/{len(others)}",
        others_kept_status_pid=f"{len(others) - len(moved_status)}/{len(others)}",
        changed_site_pid_changed="yes" if first_pid != last_pid else "no",
    )
    samples(f"env_change_{args.sites}_times", times)
    emit(f"env_change_{args.sites}_non200_polls", per_run=",".join(str(b) for b in bad_polls))
    if moved or moved_status:
        note(f"new master pids: /info {moved}, status {moved_status}")
        raise BenchError(f"{len(set(moved) | set(moved_status))} unchanged site(s) restarted")


if __name__ == "__main__":
    main(run)
