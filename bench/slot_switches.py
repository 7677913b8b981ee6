"""Two slots per site under load: every change to a loaded site, its time to serve as a
ratio to the app's own boot, and the warm rollback.

`alpha` (the changing site) and `beta` (its neighbour) are probe sites with one
worker, plus `--others` more live probe sites. For each mode (keep-alive, then
`Connection: close`) two wrk runs load alpha and beta through hostd's nginx while
alpha gets `--envs` env changes (its site file renamed into place; the watcher
applies), `--workers` worker-count changes (1 <-> 2) and `--deploys` code deploys
(new code, then `hostd reload alpha`, the command as installed). Each change is
timed from the rename (or the start of `hostd reload`) to the first answer of the
new version through nginx (a poll every 5 ms: of alpha's stable socket link until it
leads to the other slot, then through nginx for the new greeting, the new code's
text, or /info's new master).

The floor: the same gunicorn command line as alpha's program (its venv, its config),
started by hand on a socket of its own and in a session of its own (as hostd starts
each program: where the kernel schedules by session, each is one group), timed until
it answers HTTP, `--boots` times (30: one before each change made with alpha at one
worker) for each state, in the same mode under the same load. Under this load a boot
takes one of two times (the process has a core to itself, or shares one): with 15 a
floor's p50 moved by up to a third between runs of the same tree, and every ratio of
the run with it.
Each change is divided by the floor's p50 for the worker count it leaves alpha with
(one, but for the worker changes, which go to two and back), measured while alpha
serves with the count it has before the change (a change from two workers is made
while two of alpha's workers take wrk's load, which costs the box more CPU than one
does: its floor is measured so too), each floor spread over the changes made in that
state. The goal: p50 of those
ratios <= 1.3 for each kind of change; 0 non-2xx and 0 socket errors on both sites in
both modes.

Each change starts once the one before has settled: its apply done and the version it
retired gone (it stops right after the switch; the next change, or a floor measured
before it, would boot while it exits).

Then `--rollbacks` times `hostd rollback alpha` (each one back to the slot kept
warm by the one before): time to the other version served, and the command's own.
Last, where a switch's time goes: `--breakdown` code deploys of alpha run in this
process (the transaction `hostd reload alpha` runs, without a command's start; an
env change goes through the same steps after the watcher), each piece of it timed,
next to the floor measured right then.

    .venv/bin/python bench/slot_switches.py [--others 50] [--connections 8]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from common import (
    HOSTD,
    POLL,
    PROBE_APP,
    SITE_TIMEOUT,
    BenchError,
    HostdUp,
    bench_sites,
    deployed_code,
    domain,
    emit,
    fetch,
    hello,
    instance,
    load_average,
    main,
    note,
    percentile,
    probe_app_copy,
    ratio,
    secs,
    site_yaml,
    wait_for,
    wait_settled,
    write_site,
    yes,
)

from hostd.core.report import report_lines
from hostd.edges.inputs import running_instance
from hostd.edges.probe import unix_get
from hostd.edges.process import processes_mentioning
from hostd.edges.procfs import proc_stat
from hostd.runtime.wiring import make_reconciler
from tests.integration.stress import WRK, start_wrk, stop_wrk

GOAL_RATIO = 1.3  # change -> new version served, p50, over the app's own boot, p50
MODES = ("keepalive", "close")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--others", type=int, default=0, help="more live sites")
    parser.add_argument("--envs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--deploys", type=int, default=10)
    parser.add_argument("--boots", type=int, default=30)
    parser.add_argument("--rollbacks", type=int, default=6)
    parser.add_argument("--breakdown", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8, help="per wrk (two run)")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--warm-seconds", type=float, default=None,
                        help="[apply] warm_seconds (default: hostd's)")  # fmt: skip
    args = parser.parse_args()
    if WRK is None:
        raise BenchError("wrk is not installed (apt-get install wrk)")
    with probe_app_copy("hdb-slots-") as app:
        sites = bench_sites(args.others) if args.others else {}
        sites.update(alpha=site_yaml([domain("alpha")], root=app), beta=site_yaml([domain("beta")]))
        warm = "" if args.warm_seconds is None else f"warm_seconds = {args.warm_seconds}\n"
        with instance(sites, settings=warm) as up:
            wait_settled(up, quiet=2.0)
            modes = [mode for mode in args.modes.split(",") if mode]  # "": none
            missed = [mode for mode in modes if not mode_run(up, app, mode, args)]
            if args.warm_seconds != 0 and modes:  # a rollback needs a change before it
                rollbacks(up, args.rollbacks)
            breakdown(up, app, args)
        if missed:
            note(f"goal missed in: {', '.join(missed)}")


def mode_run(up: HostdUp, app: Path, mode: str, args: argparse.Namespace) -> bool:
    """One mode under two wrk runs; True if it met every goal."""
    note(f"{mode}: load {load_average()}")
    url = f"http://127.0.0.1:{up.port}/"
    close = mode == "close"
    loads = {}
    for site in ("alpha", "beta"):
        (up.root / site).mkdir(exist_ok=True)  # each wrk's script
        loads[site] = start_wrk(
            url, domain(site), up.root / site, connections=args.connections, seconds=3600,
            close=close,
        )  # fmt: skip
    times: dict[str, list[float]] = {"env": [], "workers": [], "deploy": []}
    floor_of: dict[str, list[Floor]] = {"env": [], "workers": [], "deploy": []}
    boots: dict[Floor, list[float]] = {}  # (its workers, alpha's meanwhile) -> boots
    try:
        time.sleep(2.0)  # the load first
        plan = ["env"] * args.envs + ["workers"] * args.workers + ["deploy"] * args.deploys
        floors_due = floor_plan(plan, alpha_workers(up), args.boots)
        for n, kind in enumerate(plan):
            for floor in floors_due[n]:
                boots.setdefault(floor, []).append(boot_time(up, app, floor[0]))
            serving = alpha_workers(up)
            floor_of[kind].append((3 - serving if kind == "workers" else serving, serving))
            times[kind].append(change(up, app, kind, f"{mode}{n}"))
            settled(up, 1 if args.warm_seconds == 0 else 2)
        time.sleep(1.0)
    finally:
        results = {site: stop_wrk(proc) for site, proc in loads.items()}
    floors = {floor: percentile(values, 50) for floor, values in boots.items()}
    ok = True
    for site, result in results.items():
        clean = result.non_2xx == 0 and result.errors == 0 and set(result.statuses) == {200}
        ok &= clean and result.requests > 0
        emit(
            f"slots_{args.others}_{mode}_{site}_load",
            requests=result.requests,
            rps=f"{result.requests_per_second:.0f}",
            non_2xx=result.non_2xx,
            socket_errors=result.errors,
            statuses=",".join(f"{s}x{c}" for s, c in sorted(result.statuses.items())),
            goal="0/0",
            met=yes(clean),
        )
    for (workers, serving), values in sorted(boots.items()):
        emit(f"slots_{args.others}_{mode}_boot_{workers}w_beside_{serving}w",
             p50=secs(floors[workers, serving]), max=secs(max(values)), n=len(values))  # fmt: skip
    for kind, values in times.items():
        if not values:
            continue
        # each change over the boot of the worker count it leaves alpha with, measured
        # while alpha served with the count it had before the change
        ratios = [v / floors[floor] for v, floor in zip(values, floor_of[kind], strict=True)]
        met = percentile(ratios, 50) <= GOAL_RATIO
        ok &= met
        emit(
            f"slots_{args.others}_{mode}_{kind}",
            n=len(values),
            p50=secs(percentile(values, 50)),
            p95=secs(percentile(values, 95)),
            p50_ratio=f"{percentile(ratios, 50):.2f}",
            p95_ratio=f"{percentile(ratios, 95):.2f}",
            goal=f"p50<={GOAL_RATIO}x",
            met=yes(met),
        )
    note(f"{mode} done: load {load_average()}")
    return ok


Floor = tuple[int, int]  # the floor's workers, and alpha's while it is measured


def floor_plan(plan: list[str], workers: int, count: int) -> list[list[Floor]]:
    """The floors to measure before each change of `plan` (alpha serving with
    `workers` at the start): `count` of each floor a change needs, the gunicorn with
    the worker count the change leaves alpha with, measured while alpha serves with
    the count it has before it; spread over the changes made in that state."""
    states = []  # alpha's worker count before each change
    for kind in plan:
        states.append(workers)
        workers = 3 - workers if kind == "workers" else workers
    needed = {(3 - s if kind == "workers" else s, s) for kind, s in zip(plan, states, strict=True)}
    due: list[list[Floor]] = [[] for _ in plan]
    for floor in sorted(needed):
        when = [n for n, s in enumerate(states) if s == floor[1]]
        for k in range(count):  # evenly over the changes made while alpha has floor[1]
            due[when[k * len(when) // count]].append(floor)
    return due


DEPLOYS = itertools.count(1)  # the n-th deploy's source (harness.deployed_code)


def change(up: HostdUp, app: Path, kind: str, value: str) -> float:
    """One change of `kind` to alpha; seconds from it to the new version serving."""
    source = app / "probe.py"
    original = (PROBE_APP / "probe.py").read_text()
    if kind == "deploy":
        source.write_text(deployed_code(original, value, next(DEPLOYS)))
        greeting = json.loads(fetch(up.port, domain("alpha"), "/info")[1])["greeting"]
        want = f"alpha says ({value}) {greeting}\n"
        moved = slot_moved(up, "alpha")
        start = time.perf_counter()
        reload = subprocess.Popen(
            [str(HOSTD), "reload", "alpha", "--home", str(up.home)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=up.environ(),
        )  # fmt: skip
        took = served(lambda: moved() and fetch(up.port, domain("alpha"))[1] == want, start, value)
        output, _ = reload.communicate(timeout=SITE_TIMEOUT)
        if reload.returncode != 0:
            raise BenchError(f"hostd reload alpha failed: {output}")
        return took
    source.write_text(original)
    info = json.loads(fetch(up.port, domain("alpha"), "/info")[1])
    master, greeting, workers = info["master_pid"], info["greeting"], alpha_workers(up)
    if kind == "workers":
        workers = 3 - workers  # 1 <-> 2
    else:
        greeting = value
    text = site_yaml([domain("alpha")], root=app, env={"GREETING": greeting})
    moved = slot_moved(up, "alpha")
    start = write_site(up, "alpha", text.replace("workers: 1", f"workers: {workers}"))
    if kind == "env":
        return served(
            lambda: moved() and fetch(up.port, domain("alpha")) == (200, hello("alpha", value)),
            start, value,
        )  # fmt: skip
    return served(lambda: moved() and new_master(up, master), start, value)


def slot_moved(up: HostdUp, site: str) -> Callable[[], bool]:
    """Whether `site`'s stable socket leads to another slot than now. Each change is
    polled so before it is asked through nginx: a request through nginx every 5 ms
    costs the box (the bench, nginx, the live app) ~17 % of a core while the new version
    boots, which the floor's poll (a connect to a socket not yet bound) does not."""
    link = up.home / "run" / f"{site}.sock"
    before = os.readlink(link)
    return lambda: os.readlink(link) != before


def settled(up: HostdUp, versions: int) -> None:
    """After a change: its apply done and what it stops gone (alpha runs `versions`
    gunicorns: its live one, and the one kept warm), so that the next change, or the
    floor measured before it, does not boot while the last one's retired version
    exits on the same cores."""
    wait_settled(up, quiet=0.2)
    wait_for(lambda: len(masters(up, "alpha")) <= versions, SITE_TIMEOUT,
             "alpha's retired version to stop", POLL)  # fmt: skip


def masters(up: HostdUp, site: str) -> list[int]:
    """The gunicorn masters bound to one of `site`'s slot sockets."""
    pids = set(processes_mentioning(f"unix:{up.home}/run/{site}."))
    return [pid for pid in pids if (stat := proc_stat(pid)) is not None and stat.ppid not in pids]


def alpha_workers(up: HostdUp) -> int:
    text = (up.sites / "alpha.yaml").read_text()
    found = re.search(r"workers: (\d+)", text)
    return int(found.group(1)) if found else 1


def new_master(up: HostdUp, old: int) -> bool:
    status, body = fetch(up.port, domain("alpha"), "/info")
    return status == 200 and json.loads(body)["master_pid"] != old


def served(check: Callable[[], bool], start: float, what: str) -> float:
    while True:
        try:
            if check():
                return time.perf_counter() - start
        except OSError:
            pass
        if time.perf_counter() - start > SITE_TIMEOUT:
            raise BenchError(f"{what} not served within {SITE_TIMEOUT:.0f}s")
        time.sleep(POLL)


def boot_time(up: HostdUp, app: Path, workers: int) -> float:
    """alpha's own gunicorn with `workers` workers, started by hand in a session of
    its own: seconds until it answers HTTP."""
    program = (up.home / "state" / "live" / "supervisor" / "programs" / "alpha.conf").read_text()
    line = next(line for line in program.splitlines() if line.startswith("command="))
    argv = shlex.split(line.removeprefix("command=").replace("%%", "%"))
    argv[argv.index("--workers") + 1] = str(workers)
    sock = up.root / "floor.sock"
    sock.unlink(missing_ok=True)
    for flag in ("--bind", "--control-socket"):
        if flag in argv:
            index = argv.index(flag)
            del argv[index : index + 2]
    argv[1:1] = ["--bind", f"unix:{sock}"]
    env = {**os.environ, "HOSTD_SITE": "alpha", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            cwd=app, start_new_session=True)  # fmt: skip
    try:
        return served(lambda: unix_get(sock, "/", domain("alpha"))[0] == 200, start, "the floor")
    finally:
        proc.terminate()
        proc.wait(30)
        sock.unlink(missing_ok=True)


def rollbacks(up: HostdUp, count: int) -> None:
    """`count` rollbacks of alpha, back and forth between warm slots: the transaction
    (`Reconciler.rollback`, what the command runs) and, for the last two, the command
    `hostd rollback alpha` with its Python start; each until the other version serves."""
    if count <= 0:
        return
    wait_settled(up, quiet=1.0)
    layout, settings = running_instance(up.home, Path("/"))
    kinds = ["transaction"] * max(0, count - 2) + ["command"] * min(2, count)
    times: dict[str, list[float]] = {"transaction": [], "command": []}
    returned: list[float] = []
    for kind in kinds:
        master = json.loads(fetch(up.port, domain("alpha"), "/info")[1])["master_pid"]
        start = time.perf_counter()
        if kind == "transaction":
            report = make_reconciler(layout, settings).rollback("alpha")
            returned.append(time.perf_counter() - start)
            output = "\n".join(line.text for line in report_lines(report))
            ok = report.ok
        else:
            done = subprocess.run(
                [str(HOSTD), "rollback", "alpha", "--home", str(up.home)],
                capture_output=True, text=True, env=up.environ(), timeout=SITE_TIMEOUT,
            )  # fmt: skip
            output, ok = done.stdout + done.stderr, done.returncode == 0
        times[kind].append(served(lambda m=master: new_master(up, m), start, "the rollback"))
        if not ok or "from its warm slot" not in output:
            raise BenchError(f"rollback of alpha: {output}")
        wait_settled(up, quiet=0.3)
    for kind, values in times.items():
        if not values:
            continue
        p50 = percentile(values, 50)
        emit(
            f"slots_{kind}_rollback_warm",
            n=len(values),
            served_p50=secs(p50),
            served_max=secs(max(values)),
            **({"returned_p50": secs(percentile(returned, 50))} if kind == "transaction" else {}),
            goal="served<1s",
            met=yes(p50 < 1.0),
        )


def breakdown(up: HostdUp, app: Path, args: argparse.Namespace) -> None:
    """Code deploys of alpha applied in this process, each piece timed (mean seconds
    per apply), with the floor measured between them."""
    if args.breakdown <= 0:
        return
    wait_settled(up, quiet=1.0)
    layout, settings = running_instance(up.home, Path("/"))
    pieces: dict[str, float] = {}
    applies: list[float] = []
    serving: list[float] = []  # apply start -> the socket link renamed
    boots: list[float] = []
    original = (PROBE_APP / "probe.py").read_text()
    # one transaction for every deploy, its renders at hand, as the daemon's own is
    reconciler = make_reconciler(layout, settings)
    reconciler.preview()
    ports = reconciler.ports
    timed = [
        (reconciler, "preview", "preview"),
        (reconciler.validator, "accepted", "validate"),
        (ports.releases, "run", "release"),
        (ports.generations, "write", "generation_writes"),
        (ports.supervisor, "retire", "supervisor_retires"),
        (ports.supervisor, "start_early", "supervisor_early_starts"),
        (ports.supervisor, "remove", "supervisor_removes"),
        (ports.supervisor, "reload_config", "supervisor_rereads"),
        (ports.supervisor, "add", "supervisor_adds"),
        (ports.apps, "failures", "gate"),
        (ports.sockets, "point", "switch"),
        (ports.journal, "record", "record"),
    ]
    for owner, method, label in timed:
        setattr(owner, method, clocked(getattr(owner, method), label, pieces))
    switched: list[float] = []
    ports.sockets.point = noting(ports.sockets.point, switched)  # type: ignore[method-assign]
    for n in range(args.breakdown):
        boots.append(boot_time(up, app, 1))
        switched.clear()
        (app / "probe.py").write_text(deployed_code(original, f"breakdown {n}", next(DEPLOYS)))
        start = time.perf_counter()
        report = reconciler.apply({"alpha"})
        applies.append(time.perf_counter() - start)
        serving.append((switched[0] if switched else math.nan) - start)
        if not report.ok:
            raise BenchError("; ".join(line.text for line in report_lines(report)))
        wait_settled(up, quiet=0.3)
    count = float(args.breakdown)
    emit(
        f"slots_{args.others}_breakdown",
        serving_p50=secs(percentile(serving, 50)),
        apply_p50=secs(percentile(applies, 50)),
        boot_p50=secs(percentile(boots, 50)),
        serving_ratio=ratio(percentile(serving, 50), percentile(boots, 50)),
        **{label: secs(total / count) for label, total in pieces.items()},
    )


def noting(point: Callable[..., None], into: list[float]) -> Callable[..., None]:
    """`point` (the socket link's rename: the new version serves) noting when it ran."""

    def noted(site: str, slot: str, *, settle: bool = True) -> None:
        into.append(time.perf_counter())
        point(site, slot, settle=settle)

    return noted


def clocked(
    call: Callable[..., object], label: str, into: dict[str, float]
) -> Callable[..., object]:
    def timed(*args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            into[label] = into.get(label, 0.0) + time.perf_counter() - start

    return timed


if __name__ == "__main__":
    main(run)
