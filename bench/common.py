"""Shared helpers of the benchmarks: statistics, printing, and driving a `hostd up`.

Every benchmark runs through `main()`: figures are printed as plain `name key=value`
lines; a harness failure (an instance that does not start, a site that never answers,
a timeout) exits 1; Ctrl-C and SIGTERM exit 130. Whatever happens, every process an
instance started is gone afterwards (`HostdUp.cleanup` kills anything mentioning its
folder).
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from hostd.edges.probe import unix_get  # noqa: E402
from hostd.edges.process import processes_mentioning  # noqa: E402
from tests.integration import harness  # noqa: E402
from tests.integration.harness import HostdUp, deployed_code, free_port, site_yaml  # noqa: E402

__all__ = ["HostdUp", "deployed_code", "free_port", "site_yaml", "unix_get"]

PROBE_APP = REPO / "tests" / "apps" / "probe"
GUNICORN = Path(sys.executable).parent / "gunicorn"
HOSTD = Path(sys.executable).parent / "hostd"  # the command as installed, as operators run it
# Measured as installed: with Python's bytecode cache. A shell that turns it off
# (PYTHONDONTWRITEBYTECODE) would have every command, daemon and floor the benchmarks
# start compile their modules anew at each start.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
BOOT_TIMEOUT = 300.0  # an instance with its sites already in place, all answering
SITE_TIMEOUT = 60.0  # one site added, changed or removed
POLL = 0.005  # the tight polling interval
NO_ANSWER = 444  # nginx closed the connection without an answer (the catch-all)

# `hostd up` writes run/up.json only after its first apply, which with 50 sites
# waits for 50 gunicorns to boot on 2 cores: give the harness more than its 60 s.
harness.START_TIMEOUT = BOOT_TIMEOUT


class BenchError(Exception):
    """The harness failed: not a missed goal, a benchmark that could not measure."""


# -- statistics and printing ------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def secs(value: float) -> str:
    return f"{value:.3f}s"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "nan"


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def emit(name: str, **figures: object) -> None:
    """One figure line: `name key=value ...` (floats with 3 decimals)."""
    parts = [name]
    for key, value in figures.items():
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={text}")
    print(" ".join(parts), flush=True)


def samples(name: str, values: Sequence[float]) -> None:
    emit(name, samples=",".join(f"{v:.3f}" for v in values))


def note(text: str) -> None:
    """Progress and context, marked so figure lines stay easy to grep."""
    print(f"# {text}", flush=True)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# -- waiting ----------------------------------------------------------------------


@contextmanager
def probe_app_copy(prefix: str) -> Iterator[Path]:
    """A copy of the probe app (without its bytecode) in a folder of its own under
    /tmp, named `prefix`…, for a benchmark that changes its code; gone afterwards."""
    code = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        app = code / "alpha"
        shutil.copytree(PROBE_APP, app, ignore=shutil.ignore_patterns("__pycache__"))
        yield app
    finally:
        shutil.rmtree(code, ignore_errors=True)


def wait_for(
    predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> float:
    """Poll `predicate` until true; seconds it took. BenchError after `timeout`."""
    start = time.perf_counter()
    deadline = start + timeout
    while True:
        try:
            if predicate():
                return time.perf_counter() - start
        except OSError:
            pass
        if time.perf_counter() > deadline:
            raise BenchError(f"not within {timeout:.0f}s: {what}")
        time.sleep(interval)


# -- talking to an instance --------------------------------------------------------


def fetch(port: int, host: str, path: str = "/", timeout: float = 5.0) -> tuple[int, str]:
    """Status and body of GET through nginx; (444, "") if nginx closes without answer.

    Raises OSError if nothing listens (nginx is down).
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return NO_ANSWER, ""
    except http.client.HTTPException as exc:
        raise OSError(f"bad answer for Host {host}: {exc}") from exc
    finally:
        conn.close()


def domain(site: str) -> str:
    return f"{site}.bench.test"


def hello(site: str, greeting: str = "hello") -> str:
    return f"{site} says {greeting}\n"


def write_site(up: HostdUp, name: str, text: str) -> float:
    """Write `name`'s site file atomically; the perf_counter() just before the rename."""
    up.sites.mkdir(parents=True, exist_ok=True)
    path = up.sites / f"{name}.yaml"
    tmp = up.sites / f".{name}.yaml.tmp"
    tmp.write_text(text)
    start = time.perf_counter()
    os.replace(tmp, path)
    return start


def generation(up: HostdUp) -> int:
    """The number of the live generation (the `state/live` symlink target)."""
    return int(os.readlink(up.home / "state" / "live").rsplit("/", 1)[-1])


def nginx_reloads(up: HostdUp) -> int:
    """How many reloads the nginx error log records (one SIGHUP line per reload)."""
    log = up.home / "log" / "nginx-error.log"
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return 0
    hup = sum("signal 1 (SIGHUP) received" in line for line in lines)
    return hup or sum(line.endswith(": reconfiguring") for line in lines)


def apply_running(up: HostdUp) -> bool:
    """True while an apply holds run/apply.lock, read from /proc/locks (no locking)."""
    try:
        inode = (up.home / "run" / "apply.lock").stat().st_ino
    except FileNotFoundError:
        return False
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "FLOCK" in fields and any(f.endswith(f":{inode}") for f in fields):
            return True
    return False


def wait_settled(up: HostdUp, quiet: float = 0.3, timeout: float = SITE_TIMEOUT) -> None:
    """Wait until no apply runs, then `quiet` seconds more (the apply's bookkeeping)."""
    wait_for(lambda: not apply_running(up), timeout, "the running apply to end", 0.01)
    time.sleep(quiet)


def program_running(up: HostdUp, site: str) -> bool:
    """True while a gunicorn bound to `site`'s socket is alive."""
    return bool(processes_mentioning(f"unix:{up.home}/run/{site}.sock"))


def wait_gone(up: HostdUp, site: str, timeout: float = SITE_TIMEOUT) -> None:
    """After its file is deleted: until nginx closes for the site and its program is gone."""
    wait_for(
        lambda: fetch(up.port, domain(site))[0] == NO_ANSWER,
        timeout,
        f"{site} answered 444",
        POLL,
    )
    wait_for(lambda: not program_running(up, site), timeout, f"{site}'s gunicorn gone")
    wait_settled(up)


def master_pids(up: HostdUp, sites: Sequence[str]) -> dict[str, int]:
    """Each site's gunicorn master pid as its app reports it (/info through nginx)."""
    pids: dict[str, int] = {}
    for site in sites:
        status, body = fetch(up.port, domain(site), "/info")
        if status != 200:
            raise BenchError(f"{site} /info answered {status}")
        pids[site] = int(json.loads(body)["master_pid"])
    return pids


def status_pids(up: HostdUp) -> dict[str, int | None]:
    return {name: entry["pid"] for name, entry in up.status()["sites"].items()}


def bench_sites(count: int, prefix: str = "s") -> dict[str, str]:
    """`count` probe sites with one worker each: name -> site file text."""
    width = max(2, len(str(count - 1)))
    return {
        f"{prefix}{n:0{width}d}": site_yaml([domain(f"{prefix}{n:0{width}d}")])
        for n in range(count)
    }


@contextmanager
def instance(
    sites: dict[str, str], start_timeout: float = BOOT_TIMEOUT, settings: str = ""
) -> Iterator[HostdUp]:
    """A started `hostd up` serving `sites` (files in place before it starts), all
    answering; everything it started is gone when the block ends, however it ends.

    hostd.toml raises apply.start_timeout (default 30 s) so that the first apply,
    which boots every site at once, does not give up on some of them on 2 cores;
    `settings` are more lines of its [apply] table.
    """
    up = HostdUp(root=Path(tempfile.mkdtemp(prefix="hdb-", dir="/tmp")), port=free_port())
    if "watch" in {f.name for f in dataclasses.fields(HostdUp)}:
        up.watch = True  # a harness that starts `hostd up --no-watch` unless told otherwise
    try:
        up.home.mkdir(parents=True)
        (up.home / "hostd.toml").write_text(
            f"[apply]\nstart_timeout = {start_timeout:.0f}\n{settings}"
        )
        for name, text in sites.items():
            write_site(up, name, text)
        started = time.perf_counter()
        try:
            up.start()
        except AssertionError as exc:
            raise BenchError(str(exc)) from None
        for name in sites:
            remaining = max(1.0, BOOT_TIMEOUT - (time.perf_counter() - started))
            wait_for(
                lambda name=name: fetch(up.port, domain(name)) == (200, hello(name)),
                remaining,
                f"{name} served after start",
            )
        note(
            f"instance {up.root} up with {len(sites)} site(s) in "
            f"{time.perf_counter() - started:.1f}s; load {load_average()}"
        )
        yield up
    except BenchError:
        tail = up.log()[-3000:]
        if tail:
            print(f"# hostd up output (tail):\n{tail}", file=sys.stderr)
        raise
    finally:
        strays = up.cleanup()
        if strays:
            note(f"cleanup killed {len(strays)} leftover process(es) of {up.root}: {strays}")


# -- running a benchmark -----------------------------------------------------------


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(run: Callable[[], None]) -> None:
    """Run one benchmark: exit 0 when it measured, 1 on a harness failure, 130 if stopped."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)  # SIGINT too: it may come in ignored (`cmd &`)
    note(f"{Path(sys.argv[0]).name}: start {time.strftime('%Y-%m-%d %H:%M:%S')}")
    note(f"load {load_average()} on {os.cpu_count()} cores")
    began = time.perf_counter()
    try:
        run()
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)
    except BenchError as exc:
        print(f"harness failure: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        print("harness failure: unexpected error", file=sys.stderr)
        sys.exit(1)
    note(f"done in {time.perf_counter() - began:.0f}s; load {load_average()}")


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of `pid` in clock ticks, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])
