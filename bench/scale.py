"""Scale: 100 live sites, 1,000 site files, the parts of an apply, and requests per second.

Parts (--parts picks some):

  live100   100 probe sites (1 worker each), files in place before `hostd up` starts:
            the time until all 100 answer through nginx. Then one site's GREETING
            changes: the time until the new value is served, and whether the other 99
            kept their gunicorn masters (/info through nginx). RSS of the `hostd up`
            process (and, for context, of nginx, supervisord and all gunicorns); the
            wall time of a no-op `hostd reload` and of `hostd status --json`.
  files1000 `hostd check` and `hostd plan` over 1,000 site files, no instance running
            (plan then renders all 1,000 as new).
  parts     one apply's pieces at 100 and 1,000 sites, in-process and with hostd's
            own code: loading the files, rendering, planning (`preview`), the scratch
            copy the check writes, `nginx -t`, Supervisor's parser (`check_config`),
            writing a generation (fsynced) - so hostd's own share is visible next to
            nginx's and Supervisor's. Also whether `nginx -t` passes with 1,024 open
            files allowed (a common soft limit): nginx opens 2 logs per site.
  rps       requests per second of the hello app (2 workers) through hostd's nginx
            (wrk with the Host header) against the same gunicorn command bound to a
            TCP port, interleaved rounds. Goal: >= 0.9x. A third contender, a bare
            nginx in front of the same socket (no access log, no headers but Host),
            shows what the proxy hop itself costs on this machine.

    /tmp/v/bin/python bench/scale.py [--parts live100,files1000,parts,rps] [--sites 100]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from common import (
    REPO,
    BenchError,
    HostdUp,
    bench_sites,
    cpu_ticks,
    domain,
    emit,
    fetch,
    free_port,
    hello,
    instance,
    main,
    master_pids,
    note,
    secs,
    site_yaml,
    wait_for,
    wait_settled,
    write_site,
)

from hostd.apply.reconciler import Reconciler
from hostd.core.layout import embedded_layout
from hostd.core.render import gunicorn_argv, program_environment
from hostd.edges.fs import write_tree
from hostd.edges.generations import GenerationStore
from hostd.edges.host import prepare_site_folders
from hostd.edges.inputs import load_settings, running_instance
from hostd.edges.nginx import NginxProcess, children_of
from hostd.edges.process import processes_mentioning, raise_open_files_limit
from hostd.edges.runner import SubprocessRunner
from hostd.edges.supervisor import XmlRpcSupervisor, check_config
from hostd.runtime.wiring import make_reconciler, tool
from tests.integration.stress import WRK, finish_wrk, start_wrk

PARTS = ("live100", "files1000", "parts", "rps")
HOSTD = [sys.executable, "-m", "hostd"]


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def timed(action: Callable[[], object], runs: int = 5) -> list[float]:
    """Wall times of `runs` calls of `action`."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def median(values: list[float]) -> str:
    return secs(statistics.median(values))


# -- live100 -------------------------------------------------------------------------


def live_sites(count: int) -> None:
    sites = bench_sites(count)
    names = sorted(sites)
    started = time.perf_counter()
    with instance(sites) as up:
        boot = time.perf_counter() - started
        assert up.proc is not None
        wait_settled(up, quiet=2.0)
        emit(f"live{count}_boot", sites=count, all_serving_after=secs(boot))
        changed, others = names[0], names[1:]
        before = master_pids(up, others)
        start = write_site(up, changed, site_yaml([domain(changed)], env={"GREETING": "v2"}))
        wait_for(
            lambda: fetch(up.port, domain(changed)) == (200, hello(changed, "v2")),
            120,
            f"{changed} serves v2",
            interval=0.005,
        )
        served = time.perf_counter() - start
        wait_settled(up)
        after = master_pids(up, others)
        kept = sum(after[name] == before[name] for name in others)
        emit(
            f"live{count}_one_change",
            served_after=secs(served),
            others_kept_master=f"{kept}/{len(others)}",
        )
        gunicorns = processes_mentioning(f"unix:{up.home}/run/")
        supervisord = int((up.home / "run" / "supervisord.pid").read_text())
        nginx = [int((up.home / "run" / "nginx.pid").read_text())]
        nginx += [p for p in processes_mentioning("nginx: worker process") if _parent(p) in nginx]
        emit(
            f"live{count}_rss",
            hostd_mib=f"{rss_mib([up.proc.pid]):.1f}",
            supervisord_mib=f"{rss_mib([supervisord]):.1f}",
            nginx_mib=f"{rss_mib(nginx):.1f}",
            gunicorns=len(gunicorns),
            gunicorns_mib=f"{rss_mib(gunicorns):.0f}",
        )
        reload_times = timed(lambda: up.reload(), runs=5)
        status_times = timed(lambda: up.status(), runs=5)
        supervisor = XmlRpcSupervisor(up.home / "run" / "supervisor.sock")
        reread_times = timed(supervisor.reload_config, runs=5)
        emit(
            f"live{count}_commands",
            noop_reload_p50=median(reload_times),
            status_p50=median(status_times),
            supervisord_reread_p50=median(reread_times),
        )
        if kept != len(others):
            raise BenchError(f"{len(others) - kept} unchanged site(s) got a new master")


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


# -- files1000 and parts -------------------------------------------------------------


@contextmanager
def site_folder(count: int) -> Iterator[Path]:
    """A folder under /tmp with `count` probe site files and a home beside them."""
    root = Path(tempfile.mkdtemp(prefix="hdb-files-", dir="/tmp"))
    try:
        sites = root / "sites.d"
        sites.mkdir()
        for name, text in bench_sites(count).items():
            (sites / f"{name}.yaml").write_text(text)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_and_plan(count: int) -> None:
    with site_folder(count) as root:
        home, sites = root / "h", root / "sites.d"
        argv = ["--home", str(home), "--sites", str(sites)]

        def command(name: str) -> None:
            done = subprocess.run(
                [*HOSTD, name, *argv], capture_output=True, text=True, cwd=REPO, timeout=600
            )
            if done.returncode != 0 or str(count - 1) not in done.stdout:
                raise BenchError(f"hostd {name} exited {done.returncode}: {done.stderr[-500:]}")

        check = timed(lambda: command("check"), runs=3)
        plan = timed(lambda: command("plan"), runs=3)
        empty = timed(lambda: subprocess.run([*HOSTD, "--help"], capture_output=True), runs=3)
        emit(
            f"files{count}",
            check_p50=median(check),
            plan_p50=median(plan),
            python_and_imports=median(empty),
        )
        floor = statistics.median(empty)
        for name, values in (("check", check), ("plan", plan)):
            times = statistics.median(values) / floor
            emit(f"files{count}_{name}_goal", ratio=f"{times:.2f}", goal="2.00",
                 met="yes" if times <= 2.0 else "no")  # fmt: skip


def apply_parts(count: int) -> None:
    """One apply's pieces at `count` sites: hostd's own work next to nginx's and Supervisor's."""
    with site_folder(count) as root:
        layout = embedded_layout(root / "h", root / "sites.d")
        settings = load_settings(layout.config_file, layout.mode)
        for folder in (layout.state_dir, layout.log_root, layout.run_dir):
            folder.mkdir(parents=True, exist_ok=True)
        (layout.nginx_prefix / "tmp").mkdir(parents=True)
        reconciler = make_reconciler(layout, settings)
        preview = reconciler.preview()  # the first parses every file; later ones reuse
        sites = preview.selection.sites
        if len(sites) != count:
            raise BenchError(f"{len(preview.selection.rejected)} site(s) rejected")
        fresh = timed(lambda: make_reconciler(layout, settings).preview(), runs=3)
        again = timed(reconciler.preview, runs=3)
        prepare_site_folders(sites, reconciler.facts)  # nginx opens every site's logs
        scratch = layout.state_dir / "scratch"
        files = reconciler.renderer.files(sites, root=scratch)
        write = timed(lambda: write_tree(scratch, files), runs=3)
        nginx = NginxProcess(
            SubprocessRunner(), binary=tool("nginx"), prefix=layout.nginx_prefix,
            pid_file=layout.nginx_pid, error_log=layout.log_root / "e.log",
            address="127.0.0.1", port=free_port(),
        )  # fmt: skip
        conf = scratch / "nginx" / "nginx.conf"
        nginx_t = timed(lambda: nginx.check(conf), runs=3)
        parse_all = timed(lambda: check_config(scratch / "supervisor" / "supervisord.conf"), 3)
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        nginx_argv = [tool("nginx"), "-t", "-p", f"{layout.nginx_prefix}/", "-c", str(conf)]

        def soft_1024() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))

        def soft_1024_raised_by_hostd() -> None:
            soft_1024()
            raise_open_files_limit()  # what hostd does before its nginx -t and daemons

        limited = subprocess.run(nginx_argv, capture_output=True, text=True, preexec_fn=soft_1024)
        raised = subprocess.run(
            nginx_argv, capture_output=True, text=True, preexec_fn=soft_1024_raised_by_hostd
        )
        store = GenerationStore(layout.state_dir)
        first = timed(lambda: store.write(preview.files, sites), runs=1)
        store.switch(store.write(preview.files, sites))
        # one site changes: what an apply of that change checks and writes
        name = sorted(sites)[0]
        write_site_file(root / "sites.d", name, site_yaml([domain(name)], env={"GREETING": "x"}))
        changed = reconciler.preview()
        live = store.live()
        assert live is not None and changed.plan.touched == [name]
        check_one = timed(  # as an apply checks it: validator.accepted
            lambda: reconciler.validator.accepted(
                changed.selection.sites, live.sites, changed.plan.touched
            ),
            runs=3,
        )
        gen_one = timed(
            lambda: store.write(changed.files, changed.selection.sites, base=live), runs=3
        )
        emit(
            f"apply_parts_{count}",
            files=len(files),
            load_render_plan_first=median(fresh),
            load_render_plan_again=median(again),
            scratch_write=median(write),
            nginx_t=median(nginx_t),
            supervisor_parse_all=median(parse_all),
            generation_write_all=median(first),
        )
        emit(
            f"apply_parts_{count}_one_changed",
            check=median(check_one),
            generation_write=median(gen_one),
        )
        own = statistics.median(again) + statistics.median(check_one) + statistics.median(gen_one)
        emit(f"apply_parts_{count}_one_changed_own_work", load_render_plan_check_write=secs(own),
             goal="0.500s", met="yes" if own <= 0.5 else "no")  # fmt: skip
        error = [line for line in limited.stderr.splitlines() if "[emerg]" in line]
        emit(
            f"apply_parts_{count}_nofile_1024",
            hard_limit=hard,
            nginx_t_passes="yes" if limited.returncode == 0 else "no",
            reason=repr(error[0].split("] ", 1)[-1][-120:] if error else ""),
            with_hostd_raising_it="yes" if raised.returncode == 0 else "no",
        )


def write_site_file(folder: Path, name: str, text: str) -> None:
    path = folder / f"{name}.yaml"
    tmp = folder / f".{name}.yaml.tmp"
    tmp.write_text(text)
    tmp.replace(path)


# -- rps -----------------------------------------------------------------------------


def cpu_used(pids: list[int]) -> float:
    """Seconds of CPU `pids` have used so far (those still alive)."""
    ticks = [t for pid in pids if (t := cpu_ticks(pid)) is not None]
    return sum(ticks) / os.sysconf("SC_CLK_TCK")


BARE_NGINX = """\
daemon off;
worker_processes auto;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
{user}
events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    upstream app {{
        server unix:{socket};
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_set_header Host $host;
        }}
    }}
}}
"""


@contextmanager
def bare_nginx(folder: Path, socket: Path) -> Iterator[tuple[int, Callable[[], list[int]]]]:
    """nginx at its cheapest in front of the same socket: no access log, one header
    set, nothing else; its port and its processes."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""  # workers that reach the socket
    conf = folder / "nginx.conf"
    conf.write_text(BARE_NGINX.format(folder=folder, user=user, socket=socket, port=port))
    proc = subprocess.Popen(
        [tool("nginx"), "-p", str(folder), "-c", str(conf)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: fetch(port, domain("hello"))[0] == 200, 30, "the bare nginx")
        yield port, lambda: [proc.pid, *children_of(proc.pid)]
    finally:
        proc.terminate()
        proc.wait(30)


def requests_per_second(workers: int, seconds: float, rounds: int, connections: int) -> None:
    if WRK is None:
        raise BenchError("wrk is not installed")
    text = site_yaml([domain("hello")]).replace("workers: 1", f"workers: {workers}")
    with instance({"hello": text}) as up:
        wait_settled(up, quiet=2.0)
        layout, settings = running_instance(up.home)
        reconciler = make_reconciler(layout, settings)
        live = reconciler.live()
        assert live is not None
        site = live.sites["hello"]
        port = free_port()
        argv = gunicorn_argv(site, reconciler.facts)
        at = argv.index("--bind")
        argv[at + 1] = f"127.0.0.1:{port}"
        if "--control-socket" in argv:
            ctl = argv.index("--control-socket")
            argv[ctl + 1] = str(up.root / "direct.ctl")
        env = {"HOME": str(up.root), **program_environment(site)}
        direct = subprocess.Popen(
            argv,
            cwd=site.app.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for(lambda: fetch(port, domain("hello"))[0] == 200, 60, "direct gunicorn")
            note(f"direct: {' '.join(argv)}")
            with bare_nginx(up.root / "bare", layout.site_socket("hello")) as (bare, bare_pids):
                measure_rps(up, reconciler, port, bare, bare_pids, workers, seconds, rounds,
                            connections)  # fmt: skip
        finally:
            direct.terminate()
            direct.wait(30)


def measure_rps(
    up: HostdUp, reconciler: Reconciler, port: int, bare: int, bare_pids: Callable[[], list[int]],
    workers: int, seconds: float, rounds: int, connections: int,
) -> None:  # fmt: skip
    """Interleaved wrk rounds through hostd's nginx, through a bare nginx in front of the
    same socket, and to the same gunicorn command on a TCP port; the ratios, CPU per
    request and the p99 each adds."""
    master = int((up.home / "run" / "nginx.pid").read_text())
    site = reconciler.live().sites["hello"]  # type: ignore[union-attr]
    bound = gunicorn_argv(site, reconciler.facts)
    hostd_bind = bound[bound.index("--bind") + 1]
    kinds: dict[str, Callable[[], list[int]]] = {
        "nginx": lambda: [master, *children_of(master)],
        "bare": bare_pids,
        "gunicorn": lambda: processes_mentioning(hostd_bind),
        "direct": lambda: processes_mentioning(f"127.0.0.1:{port}"),
    }
    targets = {"nginx": up.port, "bare": bare, "direct": port}
    measured = {"nginx": ("nginx", "gunicorn"), "bare": ("bare", "gunicorn"), "direct": ("direct",)}
    rps: dict[str, list[float]] = {label: [] for label in targets}
    p99: dict[str, list[float]] = {label: [] for label in targets}
    # CPU per request, microseconds, by label, process kind and round
    per_request: dict[tuple[str, str], list[float]] = {
        (label, kind): [] for label, kinds_of in measured.items() for kind in kinds_of
    }
    for n in range(rounds):
        for label, target in targets.items():
            before = {kind: cpu_used(pids()) for kind, pids in kinds.items()}
            wrk = start_wrk(f"http://127.0.0.1:{target}/", domain("hello"), up.root,
                            threads=2, connections=connections, seconds=seconds)  # fmt: skip
            result = finish_wrk(wrk, timeout=seconds + 60)
            used = {k: cpu_used(pids()) - before[k] for k, pids in kinds.items()}
            for kind in measured[label]:
                per_request[label, kind].append(used[kind] / max(1, result.requests) * 1e6)
            if result.non_2xx or result.errors:
                note(f"{label} round {n}: {result.non_2xx} non-2xx, "
                     f"{result.socket_errors} socket errors")  # fmt: skip
            rps[label].append(result.requests_per_second)
            p99[label].append(result.latency.get(99, 0) * 1000)
            emit(
                f"rps_round_{label}",
                round=n,
                rps=f"{result.requests_per_second:.0f}",
                p50=f"{result.latency.get(50, 0) * 1000:.2f}ms",
                p99=f"{result.latency.get(99, 0) * 1000:.2f}ms",
            )
    median = {label: statistics.median(values) for label, values in rps.items()}
    ratio = median["nginx"] / median["direct"]
    emit(
        "rps",
        workers=workers,
        connections=connections,
        via_nginx=f"{median['nginx']:.0f}",
        direct=f"{median['direct']:.0f}",
        ratio=f"{ratio:.2f}",
        goal="0.90",
        met="yes" if ratio >= 0.9 else "no",
    )
    emit(
        "rps_bare_nginx",
        bare=f"{median['bare']:.0f}",
        bare_over_direct=f"{median['bare'] / median['direct']:.2f}",
        hostd_over_bare=f"{median['nginx'] / median['bare']:.2f}",
    )
    cpu = {key: f"{statistics.median(values):.0f}" for key, values in per_request.items()}
    emit(
        "rps_cpu_per_request",
        nginx_us=cpu["nginx", "nginx"],
        app_via_nginx_us=cpu["nginx", "gunicorn"],
        bare_nginx_us=cpu["bare", "bare"],
        app_via_bare_us=cpu["bare", "gunicorn"],
        app_direct_us=cpu["direct", "direct"],
    )
    p99_median = {label: statistics.median(values) for label, values in p99.items()}
    emit(
        "rps_p99",
        via_nginx=f"{p99_median['nginx']:.2f}ms",
        bare_nginx=f"{p99_median['bare']:.2f}ms",
        direct=f"{p99_median['direct']:.2f}ms",
        added_by_proxy=f"{p99_median['nginx'] - p99_median['direct']:.2f}ms",
    )


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="rps: the hello app's workers")
    parser.add_argument("--seconds", type=float, default=10.0, help="rps: per wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="rps: rounds of each")
    parser.add_argument("--connections", type=int, default=32, help="rps: wrk connections")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if "parts" in parts:
        for count in (args.sites, args.files):
            apply_parts(count)
    if "files1000" in parts:
        check_and_plan(args.files)
    if "rps" in parts:
        requests_per_second(args.workers, args.seconds, args.rounds, args.connections)
    if "live100" in parts:
        live_sites(args.sites)


if __name__ == "__main__":
    main(run)
