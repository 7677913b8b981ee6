"""Zero downtime, the long run: wrk holds a site under load while applies go on.

Two probe sites are live: `alpha` (2 workers, its code in a folder of its own) takes
the load, `beta` (1 worker) is the other site. For each scenario wrk runs against
alpha through hostd's nginx for exactly as long as the applies take, and reports
every status it saw and every socket error:

  brief        --applies env changes to beta (its program restarts; nginx does not
               reload) alternating with as many graceful code reloads of alpha
               (`hostd reload alpha` after its code changed): the issue's scenario,
               which tests/integration/test_zero_downtime.py runs small.
  nginx        the same, but each change to beta also changes its domains, so nginx
               reloads 10 times under the load; wrk keeps its connections alive.
  nginx-close  the nginx scenario again with `Connection: close` on every request.
  alpha-env    the changes go to the loaded site itself: each an env change that also
               switches alpha between 2 and 3 workers (a new version in its other
               slot), alternating with code deploys of alpha.
  alpha-env-close  the same with `Connection: close`.

Goal: 0 non-2xx answers and 0 socket errors in every scenario.

    /tmp/v/bin/python bench/zero_downtime.py [--connections 32] [--threads 2] [--applies 10]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from common import (
    BenchError,
    HostdUp,
    deployed_code,
    domain,
    emit,
    fetch,
    hello,
    instance,
    main,
    nginx_reloads,
    note,
    percentile,
    probe_app_copy,
    secs,
    site_yaml,
    wait_for,
    wait_settled,
)

from tests.integration.stress import WRK, WrkResult, start_wrk, stop_wrk

SCENARIOS = ("brief", "nginx", "nginx-close", "alpha-env", "alpha-env-close")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--applies", type=int, default=10, help="of each kind, per scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    if WRK is None:
        raise BenchError("wrk is not installed (apt-get install wrk)")
    with probe_app_copy("hdb-app-") as app:
        alpha = site_yaml([domain("alpha")], root=app).replace("workers: 1", "workers: 2")
        sites = {"alpha": alpha, "beta": site_yaml([domain("beta")])}
        with instance(sites) as up:
            wait_settled(up, quiet=1.0)
            failed = []
            for scenario in args.scenarios.split(","):
                result = scenario_run(up, app, scenario, args)
                if result.non_2xx or result.errors or set(result.statuses) != {200}:
                    failed.append(scenario)
            if failed:
                note(f"goal missed (0 non-2xx, 0 socket errors) in: {', '.join(failed)}")


def serving(up: HostdUp, site: str, body: str) -> Callable[[], bool]:
    return lambda: fetch(up.port, domain(site)) == (200, body)


def scenario_run(up: HostdUp, app: Path, scenario: str, args: argparse.Namespace) -> WrkResult:
    """One scenario under one wrk run; its figures printed."""
    source = app / "probe.py"
    original = source.read_text()
    reloads_before = nginx_reloads(up)
    wrk = start_wrk(
        f"http://127.0.0.1:{up.port}/",
        domain("alpha"),
        up.root,
        threads=args.threads,
        connections=args.connections,
        seconds=3600,
        close=scenario.endswith("-close"),
    )
    change_times: list[float] = []
    code_times: list[float] = []
    try:
        time.sleep(2.0)  # load first, then the applies
        for n in range(args.applies):
            value = f"{scenario}-{n}"
            started = time.perf_counter()  # the watcher may apply before `hostd reload`
            if scenario.startswith("alpha-env"):
                source.write_text(original)
                text = site_yaml([domain("alpha")], root=app, env={"GREETING": value})
                up.write_site("alpha", text.replace("workers: 1", f"workers: {2 + n % 2}"))
                done = up.reload()
                wait_for(serving(up, "alpha", hello("alpha", value)), 60, f"alpha: {value}")
            else:
                names = [domain("beta")]
                names += [f"b{n}.{domain('beta')}"] if scenario != "brief" else []
                up.write_site("beta", site_yaml(names, env={"GREETING": value}))
                done = up.reload()
                wait_for(serving(up, "beta", hello("beta", value)), 60, f"beta serves {value}")
            change_times.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise BenchError(f"reload failed: {done.stdout}{done.stderr}")
            source.write_text(deployed_code(original, value, n))
            started = time.perf_counter()
            done = up.reload("alpha")
            code_times.append(time.perf_counter() - started)
            if done.returncode != 0 or "alpha: reloaded" not in done.stdout:
                raise BenchError(f"code reload failed: {done.stdout}{done.stderr}")
        time.sleep(2.0)
    finally:
        result = stop_wrk(wrk)
        source.write_text(original)
    emit(
        f"zero_downtime_{scenario.replace('-', '_')}",
        connections=args.connections,
        threads=args.threads,
        keepalive="no" if scenario.endswith("-close") else "yes",
        requests=result.requests,
        rps=f"{result.requests_per_second:.0f}",
        non_2xx=result.non_2xx,
        socket_errors=result.errors,
        errors_by_kind=",".join(f"{k}:{v}" for k, v in result.socket_errors.items()),
        statuses=",".join(f"{s}x{n}" for s, n in sorted(result.statuses.items())),
        p50=f"{result.latency.get(50, 0) * 1000:.2f}ms",
        p99=f"{result.latency.get(99, 0) * 1000:.2f}ms",
        nginx_reloads=nginx_reloads(up) - reloads_before,
    )
    emit(
        f"zero_downtime_{scenario.replace('-', '_')}_applies",
        change_p50=secs(percentile(change_times, 50)),
        change_max=secs(max(change_times)),
        code_reload_p50=secs(percentile(code_times, 50)),
        code_reload_max=secs(max(code_times)),
    )
    wait_settled(up)
    return result


if __name__ == "__main__":
    main(run)
