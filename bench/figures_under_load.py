"""What collecting the figures costs while nginx serves about 5,000 requests/s across
20 sites, and how soon a request shows in `hostd stats`.

20 probe sites (1 worker each), each with a static folder. wrk (1 thread, 25
connections, each pausing `--pause-ms` between requests) sends requests round-robin
over the 20 Host headers: 9 in 10 for a static file nginx serves itself, 1 in 10 for
the app. Figures:

- **CPU share** of the `hostd up` Python process (utime+stime from /proc/PID/stat, as
  a share of one core) over `--seconds` of load, against the **floor**: the same
  process over the same time with no load, just before, in the same run. nginx's
  workers' CPU under the load is printed for context.
- **RSS** (VmRSS) of that process, sampled every second, idle and under load.
- **Counted**: the requests the figures counted (the day windows of every site, from
  /figures.json) against the requests wrk made: the collector keeps up.
- **Request to `hostd stats`**: under the load, a request to `s00` with a status no
  other request gets (418), then /figures.json (what `hostd stats` reads) polled every
  10 ms until that site's 4xx count grows; and the same through the `hostd stats s00
  --json` command itself, polled as fast as it runs.

    /tmp/v/bin/python bench/figures_under_load.py [--sites 20] [--seconds 30] [--pause-ms 4]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import (
    BenchError,
    HostdUp,
    domain,
    emit,
    fetch,
    instance,
    main,
    note,
    percentile,
    samples,
    site_yaml,
    wait_settled,
)

from tests.integration.stress import WRK

TICK = os.sysconf("SC_CLK_TCK")
SCRIPT = """\
local hosts = {}
for host in string.gmatch(os.getenv("WRK_HOSTS"), "[^,]+") do table.insert(hosts, host) end
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
local n = 0
function request()
  n = n + 1
  local path = (n % 10 == 0) and "/" or "/static/hello.txt"
  return wrk.format("GET", path, {Host = hosts[(n % #hosts) + 1]})
end
if pause > 0 then function delay() return pause end end
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def figures(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/figures.json", timeout=10) as answer:
        return dict(json.loads(answer.read()))


def counted(url: str) -> int:
    return sum(site["windows"]["day"]["requests"] for site in figures(url)["sites"].values())


def watch(pid: int, nginx: list[int], seconds: float) -> tuple[float, float, list[float]]:
    """(hostd CPU share, nginx CPU share, RSS samples) over `seconds`."""
    cpu0, ngx0, t0 = cpu_seconds(pid), sum(map(cpu_seconds, nginx)), time.perf_counter()
    rss = [rss_mib(pid)]
    while time.perf_counter() - t0 < seconds:
        time.sleep(1.0)
        rss.append(rss_mib(pid))
    elapsed = time.perf_counter() - t0
    cpu1, ngx1 = cpu_seconds(pid), sum(map(cpu_seconds, nginx))
    return (cpu1 - cpu0) / elapsed, (ngx1 - ngx0) / elapsed, rss


def to_figures(url: str, port: int, site: str) -> float:
    """Seconds from a 418 to `site` until /figures.json counts one more 4xx."""
    before = figures(url)["sites"][site]["windows"]["minute"]["4xx"]
    started = time.perf_counter()
    fetch(port, domain(site), "/status/418")
    while figures(url)["sites"][site]["windows"]["minute"]["4xx"] <= before:
        if time.perf_counter() - started > 30:
            raise BenchError("a request did not show in the figures within 30 s")
        time.sleep(0.01)
    return time.perf_counter() - started


def to_stats_command(home: Path, port: int, site: str) -> float:
    """The same, polling the `hostd stats SITE --json` command."""

    def fours() -> int:
        done = subprocess.run(
            [sys.executable, "-m", "hostd", "stats", site, "--json", "--home", str(home)],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return int(json.loads(done.stdout)["windows"]["minute"]["4xx"])

    before = fours()
    started = time.perf_counter()
    fetch(port, domain(site), "/status/418")
    while fours() <= before:
        if time.perf_counter() - started > 30:
            raise BenchError("a request did not show in hostd stats within 30 s")
    return time.perf_counter() - started


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--pause-ms", type=int, default=4)
    parser.add_argument("--connections", type=int, default=25)
    args = parser.parse_args()
    if WRK is None:
        raise BenchError("wrk is not installed (apt-get install wrk)")
    names = [f"s{n:02d}" for n in range(args.sites)]
    static = Path(tempfile.mkdtemp(prefix="hdb-static-", dir="/tmp"))
    try:
        (static / "hello.txt").write_text("hello from nginx\n" * 8)
        extra = f"static: {{/static/: {static}}}\n"
        sites = {name: site_yaml([domain(name)], extra=extra) for name in names}
        with instance(sites) as up:
            measure(up, names, args)
    finally:
        shutil.rmtree(static, ignore_errors=True)


def nginx_processes(up: HostdUp) -> list[int]:
    """nginx's master and its workers."""
    master = int((up.home / "run" / "nginx.pid").read_text().strip())
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                workers.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return [master, *workers]


def measure(up: HostdUp, names: list[str], args: argparse.Namespace) -> None:
    assert up.proc is not None
    pid = up.proc.pid
    url = json.loads((up.home / "run" / "metrics.json").read_text())["url"]
    nginx = nginx_processes(up)
    wait_settled(up, quiet=5.0)
    if fetch(up.port, domain(names[0]), "/static/hello.txt")[0] != 200:
        raise BenchError("the static file is not served")
    floor_cpu, _, idle_rss = watch(pid, nginx, args.seconds)

    script = up.root / "figures.lua"
    script.write_text(SCRIPT)
    before = counted(url)
    env = {**os.environ, "WRK_HOSTS": ",".join(map(domain, names)),
           "WRK_DELAY_MS": str(args.pause_ms)}  # fmt: skip
    wrk = subprocess.Popen(
        [WRK, "-t1", f"-c{args.connections}", f"-d{args.seconds + 12:g}s", "-s", str(script),
         f"http://127.0.0.1:{up.port}/"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        time.sleep(2.0)
        load_cpu, nginx_cpu, load_rss = watch(pid, nginx, args.seconds)
        direct = [to_figures(url, up.port, names[0]) for _ in range(10)]
        command = [to_stats_command(up.home, up.port, names[0]) for _ in range(5)]
    finally:
        output, _ = wrk.communicate(timeout=120)
    made = re.search(r"(\d+) requests in ([\d.]+)s", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if made is None or rate is None:
        raise BenchError(f"wrk said:\n{output}")
    time.sleep(2.0)  # the collector reads every 0.5 s
    seen = counted(url) - before - len(direct) - len(command)
    emit(
        f"figures_{args.sites}_sites",
        requests_per_s=f"{float(rate.group(1)):.0f}",
        hostd_cpu_pct=f"{100 * load_cpu:.1f}%",
        floor_cpu_pct=f"{100 * floor_cpu:.2f}%",
        nginx_cpu_pct=f"{100 * nginx_cpu:.1f}%",
        rss_idle_mib=f"{max(idle_rss):.1f}",
        rss_load_max_mib=f"{max(load_rss):.1f}",
        rss_load_end_mib=f"{load_rss[-1]:.1f}",
    )
    emit(
        "figures_counted",
        wrk_requests=made.group(1),
        counted=seen,
        missing=int(made.group(1)) - seen,
    )
    for name, values in (
        ("request_to_figures_json", direct),
        ("request_to_hostd_stats", command),
    ):
        emit(name, p50=f"{percentile(values, 50):.3f}s", max=f"{max(values):.3f}s")
        samples(name, values)
    note(f"wrk: {output.strip().splitlines()[-2]}")


if __name__ == "__main__":
    main(run)
