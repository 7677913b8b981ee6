"""A burst: 200 atomic writes (rename) to one site file within one second.

One probe site is live. Two kinds of burst on the same instance, `--rounds` (3) of
each, the env ones first:

- env:     each write sets a new GREETING (only the site's program changes);
- domains: each write also adds a new second domain (nginx's files change too).

For each: applies = generations made (the `state/live` symlink target number before
and after); nginx reloads = SIGHUP lines in HOME/log/nginx-error.log before and
after; also the seconds from the last write until the last value is served, and the
longest pause between two writes (a pause of 0.1 s lets hostd's debounce start an
apply in the middle of the burst). The goal is at most 2 applies and 1 nginx reload
per burst (reported, not asserted); the `_worst` lines give the most over all rounds.

    /tmp/v/bin/python bench/burst_200_writes.py [--writes 200] [--within 1.0] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from itertools import pairwise

from common import (
    POLL,
    SITE_TIMEOUT,
    HostdUp,
    domain,
    emit,
    fetch,
    generation,
    hello,
    instance,
    main,
    nginx_reloads,
    note,
    secs,
    site_yaml,
    wait_for,
    wait_settled,
    write_site,
    yes,
)

SITE = "burst"
GOAL_APPLIES = 2
GOAL_RELOADS = 1


def burst(
    up: HostdUp,
    label: str,
    text_of: Callable[[int], str],
    served: Callable[[int], bool],
    writes: int,
    within: float,
    round_: int,
) -> tuple[int, int]:
    gen_before, reloads_before = generation(up), nginx_reloads(up)
    step = within * 0.9 / writes  # leave room: all writes land inside `within`
    first = time.perf_counter()
    stamps: list[float] = []
    for n in range(writes):
        delay = first + n * step - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        stamps.append(write_site(up, SITE, text_of(n)))
    span = stamps[-1] - stamps[0]
    max_gap = max(b - a for a, b in pairwise(stamps))
    served_after = wait_for(lambda: served(writes - 1), SITE_TIMEOUT, f"{label}: last write", POLL)
    # Let every apply the burst causes happen: a quiet debounce, a capped one, one more.
    time.sleep(3.0)
    wait_settled(up, quiet=1.0)
    applies = generation(up) - gen_before
    reloads = nginx_reloads(up) - reloads_before
    emit(
        f"burst_{label}",
        round=round_,
        writes=writes,
        span=secs(span),
        max_gap=secs(max_gap),
        applies=applies,
        nginx_reloads=reloads,
        last_served_after=secs(served_after),
        goal_applies=yes(applies <= GOAL_APPLIES),
        goal_reloads=yes(reloads <= GOAL_RELOADS),
    )
    return applies, reloads


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--within", type=float, default=1.0, help="seconds")
    parser.add_argument("--rounds", type=int, default=3, help="bursts of each kind")
    args = parser.parse_args()
    host = domain(SITE)

    # Values carry the round, so every burst ends in a state not served before it.
    def env_text(n: int) -> str:
        return site_yaml([host], env={"GREETING": f"e{round_}-{n}"})

    def env_served(n: int) -> bool:
        return fetch(up.port, host) == (200, hello(SITE, f"e{round_}-{n}"))

    def domain_text(n: int) -> str:
        return site_yaml([host, f"d{round_}-{n}.{host}"], env={"GREETING": f"d{round_}-{n}"})

    def domain_served(n: int) -> bool:
        return fetch(up.port, f"d{round_}-{n}.{host}") == (200, hello(SITE, f"d{round_}-{n}"))

    kinds = {"env": (env_text, env_served), "domains": (domain_text, domain_served)}
    worst: dict[str, tuple[int, int]] = {}
    round_ = 0
    with instance({SITE: site_yaml([host])}) as up:
        wait_settled(up, quiet=2.0)
        note(f"generation {generation(up)}, nginx reloads so far {nginx_reloads(up)}")
        # All env bursts first: after a domains burst, an env burst would change nginx too.
        for kind, (text_of, served) in kinds.items():
            for round_ in range(1, args.rounds + 1):
                got = burst(up, kind, text_of, served, args.writes, args.within, round_)
                seen = worst.get(kind, (0, 0))
                worst[kind] = (max(seen[0], got[0]), max(seen[1], got[1]))
    for kind, (applies, reloads) in worst.items():
        emit(
            f"burst_{kind}_worst",
            rounds=args.rounds,
            applies=applies,
            nginx_reloads=reloads,
            goal_applies=yes(applies <= GOAL_APPLIES),
            goal_reloads=yes(reloads <= GOAL_RELOADS),
        )


if __name__ == "__main__":
    main(run)
