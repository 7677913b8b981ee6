"""Stopping many sites, and a supervisord that dies: how long, and how many 502s.

stop     N probe sites (1 worker each) live; SIGTERM to `hostd up` and the time until
         it has exited with every process it started gone. Floors, in the same run:
         the same with 1 site, and N plain gunicorns (hostd's flags and gunicorn
         config, no hostd, supervisord or nginx) SIGTERMed at once. Every 0.5 s of
         the stop, the processes of the instance still alive are counted by kind.
         Goal: under 10 s for 300 sites.
restart  N sites live; SIGTERM to `hostd up`, and once it has exited a new `hostd up`
         on the same home and sites: the time until every site answers 200 again.
         Floor: N plain gunicorns started at once, until every one answers on its
         socket (gunicorn's own boot, on this machine). Goal: under 10 s for 300.
recover  N sites live; supervisord is killed with SIGKILL (its gunicorns live on as
         orphans) while `--sampled` sites are polled in a tight loop, one thread each.
         For each sampled site: the longest run of non-200 answers (its 502 window,
         from the first failed poll to the next 200) until hostd has started a new
         supervisord and every site answers 200 from a new gunicorn. Goal: every
         window under 0.3 s.

inplace  N sites live; `hostd restart` (hostd exec's itself and keeps nginx,
         supervisord and the gunicorns) while `--sampled` sites are polled: the time
         it reports, the longest window, and how many sites kept their gunicorn
         master. Goal: under 10 s, no failed poll.

  /tmp/v/bin/python bench/stop_and_recover.py [--sites 300] [--sampled 10]
                                  [--parts stop,restart,recover,inplace]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import (
    GUNICORN,
    PROBE_APP,
    BenchError,
    HostdUp,
    bench_sites,
    cpu_ticks,
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
    unix_get,
    wait_for,
    yes,
)

from hostd.core.render import templates_dir
from hostd.edges.process import kill_all, processes_mentioning
from hostd.edges.procfs import proc_cmdline, proc_pids

SAMPLE_EVERY = 0.5


def kind_of(cmdline: bytes) -> str:
    """hostd, nginx, supervisord, gunicorn (a master or a worker: same command line)."""
    words = b" ".join(Path(a.decode(errors="replace")).name.encode()
                      for a in cmdline.split(b"\0")[:3])  # fmt: skip
    for kind in ("gunicorn", "supervisord", "nginx", "hostd"):
        if kind.encode() in words:
            return kind
    return "other"


class Census(threading.Thread):
    """Every SAMPLE_EVERY s, how many processes mentioning `root` are alive, by kind,
    and the CPU each has used since first seen (up to its last sample: a lower bound)."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root, self.done = root.as_posix().encode(), threading.Event()
        self.started = time.perf_counter()
        self.rows: list[tuple[float, Counter[str]]] = []
        self.first: dict[int, tuple[str, int]] = {}
        self.last: dict[int, int] = {}

    def run(self) -> None:
        while not self.done.is_set():
            alive: Counter[str] = Counter()
            for pid in proc_pids():
                cmdline = proc_cmdline(pid)
                ticks = cpu_ticks(pid) if cmdline and self.root in cmdline else None
                if cmdline is None or ticks is None or pid == os.getpid():
                    continue
                kind = kind_of(cmdline)
                alive[kind] += 1
                self.first.setdefault(pid, (kind, ticks))
                self.last[pid] = ticks
            self.rows.append((time.perf_counter() - self.started, alive))
            self.done.wait(SAMPLE_EVERY)

    def last_seen(self, kind: str) -> float:
        """When `kind` was last seen alive (0 if never)."""
        return max((at for at, alive in self.rows if alive[kind]), default=0.0)

    def cpu(self, kind: str) -> float:
        """Seconds of CPU the processes of `kind` were seen to use during the census."""
        ticks = sum(self.last[pid] - first for pid, (k, first) in self.first.items() if k == kind)
        return ticks / os.sysconf("SC_CLK_TCK")

    def table(self) -> str:
        return " ".join(
            f"{at:.1f}s:" + ",".join(f"{k}={n}" for k, n in sorted(alive.items()))
            for at, alive in self.rows
        )

    def report(self) -> None:
        note(f"alive during the stop: {self.table()}")
        for kind in ("nginx", "gunicorn", "supervisord", "hostd"):
            note(f"{kind}: last seen alive at {self.last_seen(kind):.1f}s, "
                 f"CPU seen {self.cpu(kind):.2f}s")  # fmt: skip


def stopped(up: HostdUp, census: Census | None = None) -> float:
    """SIGTERM to `hostd up`: seconds until it has exited, every process of it gone."""
    started = time.perf_counter()
    if census is not None:
        census.start()
    code = up.stop(timeout=120)
    took = time.perf_counter() - started
    if census is not None:
        census.done.set()
        census.join(10)
    left = processes_mentioning(str(up.root))
    if code != 0 or left:
        raise BenchError(f"hostd up exited {code}, left {left}")
    return took


def stop_seconds(sites: int) -> float:
    """Seconds from SIGTERM to `hostd up` exiting, with `sites` live; with more than
    one site, a line of who was still alive every SAMPLE_EVERY s."""
    with instance(bench_sites(sites)) as up:
        census = Census(up.root) if sites > 1 else None
        took = stopped(up, census)
        if census is not None:
            census.report()
        return took


@contextmanager
def plain_gunicorns(
    count: int,
) -> Iterator[tuple[float, list[tuple[subprocess.Popen[bytes], Path]]]]:
    """`count` gunicorns of the probe app with hostd's flags and gunicorn config, no
    hostd, supervisord or nginx, spawned one after another as fast as `subprocess`
    can (vfork); the perf_counter() before the first spawn, and the processes. All
    gone when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="hdg-", dir="/tmp"))
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        spawning = time.perf_counter()
        for n in range(count):
            sock = folder / f"g{n}.sock"
            argv = [str(GUNICORN), "--config", str(templates_dir() / "gunicorn.conf.py"),
                    "--chdir", str(PROBE_APP), "--bind", f"unix:{sock}", "--workers", "1",
                    "--timeout", "30", "--graceful-timeout", "25",
                    "--error-logfile", str(folder / f"g{n}.log"),
                    "--control-socket", str(folder / f"g{n}.ctl"), "probe:app"]  # fmt: skip
            env = {**os.environ, "HOSTD_SITE": f"g{n}"}
            procs.append((subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL), sock))
        note(f"{count} plain gunicorns spawned in {time.perf_counter() - spawning:.2f}s")
        yield spawning, procs
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        kill_all(processes_mentioning(str(folder)))
        shutil.rmtree(folder, ignore_errors=True)


def answers(sock: Path) -> bool:
    try:
        return unix_get(sock, "/", "plain")[0] == 200
    except OSError:
        return False


def plain_boot_and_stop(count: int) -> tuple[float, float]:
    """`count` plain gunicorns started at once: seconds from the first spawn until
    every one answers on its socket (their spawning is part of it, as it is of a
    restart: the last ones are spawned while the first ones boot), then seconds from
    SIGTERM to all of them until every one has exited."""
    with plain_gunicorns(count) as (started, procs):
        pending = [sock for _, sock in procs]
        while pending:
            if any(proc.poll() is not None for proc, _ in procs):
                raise BenchError("a plain gunicorn exited while booting")
            pending = [sock for sock in pending if not answers(sock)]
            time.sleep(0.05)
        booted = time.perf_counter() - started
        time.sleep(1.0)
        census = Census(procs[0][1].parent)
        started = time.perf_counter()
        census.start()
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        codes = {proc.wait(120) for proc, _ in procs}
        took = time.perf_counter() - started
        census.done.set()
        census.join(10)
        census.report()
        if codes != {0}:
            raise BenchError(f"plain gunicorns exited with {codes}")
        return booted, took


def restart(sites: int, boot_floor: float) -> None:
    """SIGTERM to `hostd up`, then a new one: seconds until every site serves again."""
    names = bench_sites(sites)
    with instance(names) as up:
        started = time.perf_counter()
        stop_took = stopped(up)
        up.start()
        for name in names:
            wait_for(lambda name=name: fetch(up.port, domain(name)) == (200, hello(name)),
                     300, f"{name} served after the restart")  # fmt: skip
        took = time.perf_counter() - started
        emit(f"restart_{sites}", seconds=secs(took), stop=secs(stop_took),
             start_to_all_serving=secs(took - stop_took),
             floor_boot_plain=secs(boot_floor), ratio=ratio(took, boot_floor),
             goal="< 10 s", met=yes(took < 10.0))  # fmt: skip


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
        # the orphans serve meanwhile: at 300 sites on 2 cores the new supervisord
        # takes minutes to spawn every program
        wait_for(lambda: "old supervisord left" in up.log(), 900, "orphans retired")
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


def in_place(sites: int, sampled: int) -> None:
    """`hostd restart` while `sampled` sites are polled: its time, and their windows."""
    names = bench_sites(sites)
    with instance(names) as up:
        masters = {name: entry["pid"] for name, entry in up.status()["sites"].items()}
        pollers = [Poller(up.port, name) for name in list(names)[:: max(1, sites // sampled)]]
        for poller in pollers:
            poller.start()
        time.sleep(1.0)
        done = up.hostd("restart")
        if done.returncode != 0:
            raise BenchError(f"hostd restart failed: {done.stdout}{done.stderr}")
        took = float(re.search(r"in place in ([\d.]+)s", done.stdout).group(1))  # type: ignore[union-attr]
        time.sleep(1.0)
        for poller in pollers:
            poller.done.set()
        for poller in pollers:
            poller.join(15)
        after = up.status()["sites"]
        kept = sum(after[name]["pid"] == pid for name, pid in masters.items())
        windows = [poller.longest for poller in pollers]
        emit(f"restart_in_place_{sites}", seconds=secs(took), sampled=len(pollers),
             window_max=secs(max(windows)), failed_polls=sum(p.failed_polls for p in pollers),
             polls=sum(p.polls for p in pollers), masters_kept=f"{kept}/{sites}",
             goal="< 10 s, no failed poll", met=yes(took < 10.0 and max(windows) == 0))  # fmt: skip


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=300)
    parser.add_argument("--sampled", type=int, default=10)
    parser.add_argument("--parts", default="stop,restart,recover,inplace")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if parts & {"stop", "restart"}:
        boot_floor, stop_floor = plain_boot_and_stop(args.sites)
        emit(f"plain_gunicorns_{args.sites}", boot=secs(boot_floor), stop=secs(stop_floor))
    if "stop" in parts:
        floor = stop_seconds(1)
        many = stop_seconds(args.sites)
        emit(f"stop_{args.sites}", seconds=secs(many), floor_1_site=secs(floor),
             floor_plain=secs(stop_floor), ratio_plain=ratio(many, stop_floor),
             goal="< 10 s", met=yes(many < 10.0))  # fmt: skip
    if "restart" in parts:
        restart(args.sites, boot_floor)
    if "recover" in parts:
        recover(args.sites, args.sampled)
    if "inplace" in parts:
        in_place(args.sites, args.sampled)
    note("figures are wall times on this machine; see bench/README.md")


if __name__ == "__main__":
    main(run)
