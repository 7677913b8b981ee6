"""What an idle `hostd up` costs with 50 live sites: CPU time and RSS of the daemon.

50 probe sites (1 worker each) are live and nothing changes. After the start has
settled, the `hostd up` Python process (only it: not nginx, supervisord or the
apps) is watched for 60 s: CPU = utime+stime from /proc/PID/stat, RSS = VmRSS from
/proc/PID/status, sampled every second. supervisord's CPU over the same window is
printed for context (it is the other daemon hostd talks to).

    /tmp/v/bin/python bench/idle_50_sites.py [--sites 50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import (
    BenchError,
    bench_sites,
    emit,
    generation,
    instance,
    main,
    note,
    wait_settled,
)

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid`, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of stat(5)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before watching")
    args = parser.parse_args()
    with instance(bench_sites(args.sites)) as up:
        assert up.proc is not None
        pid = up.proc.pid
        supervisord = int((up.home / "run" / "supervisord.pid").read_text().strip())
        wait_settled(up, quiet=args.settle)
        note(f"watching hostd up pid {pid} for {args.seconds:.0f}s")
        gen_before = generation(up)
        cpu0, sup0, t0 = cpu_seconds(pid), cpu_seconds(supervisord), time.perf_counter()
        rss = [rss_mib(pid)]
        deadline = t0 + args.seconds
        while (left := deadline - time.perf_counter()) > 0:
            time.sleep(min(1.0, left))
            if up.proc.poll() is not None:
                raise BenchError(f"hostd up exited {up.proc.returncode} while idle")
            rss.append(rss_mib(pid))
        cpu1, sup1, t1 = cpu_seconds(pid), cpu_seconds(supervisord), time.perf_counter()
        elapsed = t1 - t0
        emit(
            f"idle_{args.sites}_sites",
            seconds=f"{elapsed:.1f}",
            hostd_cpu_s=f"{cpu1 - cpu0:.2f}",
            hostd_cpu_pct=f"{100 * (cpu1 - cpu0) / elapsed:.2f}%",
            rss_start_mib=f"{rss[0]:.1f}",
            rss_end_mib=f"{rss[-1]:.1f}",
            rss_max_mib=f"{max(rss):.1f}",
            threads=threads(pid),
            generations_made=generation(up) - gen_before,
        )
        emit(
            f"idle_{args.sites}_sites_context",
            supervisord_cpu_pct=f"{100 * (sup1 - sup0) / elapsed:.2f}%",
        )


if __name__ == "__main__":
    main(run)
