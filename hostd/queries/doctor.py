"""What `hostd doctor` reports: whether this box can carry its live sites, one line per
check, each ok, warning or problem, with the fix.

A check is a function from the `Box` (gathered once, read-only) to its findings;
`CHECKS` lists them in the order they are shown. A new check is a function added
to that list.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from hostd.core.capacity import total_workers
from hostd.core.facts import HostFacts
from hostd.core.layout import Layout, Mode
from hostd.core.limits import (
    nginx_master_open_files,
    nginx_open_files,
    supervisor_open_files,
)
from hostd.core.settings import Settings
from hostd.core.site import Site
from hostd.edges.generations import GenerationStore
from hostd.edges.nginx import read_pid
from hostd.edges.process import MAX_OPEN_FILES, pid_alive, processes_mentioning
from hostd.errors import HostdError

MIB = 1024 * 1024
WARN_SHARE = 0.8  # of a limit
MEMORY_WARN = 0.5  # of the box's memory taken by gunicorns
MEMORY_PROBLEM = 0.1  # of the box's memory still available


class Level(Enum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    summary: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "level": self.level.value,
            "summary": self.summary,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Daemon:
    """A daemon hostd relies on: its pid if it runs, and the soft limit of open files it
    has (read from /proc) or would get from hostd (None: cannot tell)."""

    name: str
    pid: int | None
    open_files: int | None


@dataclass(frozen=True)
class Gunicorn:
    pid: int
    memory: int  # bytes: proportional set size where the kernel tells it, else resident


@dataclass(frozen=True)
class Box:
    layout: Layout
    settings: Settings
    facts: HostFacts
    sites: Mapping[str, Site]  # the live ones
    nginx: Daemon
    supervisord: Daemon
    gunicorns: list[Gunicorn] = field(default_factory=list)
    memory_total: int = 0  # bytes
    memory_available: int = 0


Check = Callable[[Box], list[Finding]]


# -- the checks --------------------------------------------------------------------


def open_files_of(daemon: Daemon, need: int, layout: Layout, why: str) -> Finding:
    """One daemon's limit of open files against what the live sites need of it."""
    check = f"open files: {daemon.name}"
    if daemon.open_files is None:
        return Finding(
            check,
            Level.WARNING,
            f"cannot read the limit of {daemon.name}; {why}",
            f"run hostd doctor as the user {daemon.name} runs as",
        )
    text = f"{daemon.name} may open {daemon.open_files} files; {why}"
    if daemon.open_files >= need / WARN_SHARE:
        return Finding(check, Level.OK, text)
    level = Level.PROBLEM if daemon.open_files < need else Level.WARNING
    if layout.mode is Mode.SYSTEM:
        fix = (
            f"raise LimitNOFILE= to at least {need * 2} for {daemon.name} "
            f"(systemctl edit {daemon.name}) and restart it"
        )
    else:
        fix = (
            f"raise the hard limit of open files of the user running hostd up to at "
            f"least {need * 2} (ulimit -Hn, /etc/security/limits.conf, or LimitNOFILE= "
            "in its systemd unit), then restart hostd up"
        )
    return Finding(check, level, text, fix)


def nginx_limits(box: Box) -> list[Finding]:
    count = len(box.sites)
    need = nginx_master_open_files(count)
    found = [
        open_files_of(
            box.nginx, need, box.layout, f"{count} site(s) need {need} (two log files each)"
        )
    ]
    if box.layout.mode is Mode.EMBEDDED:
        hard = _hard_limit()
        workers = nginx_open_files(count)
        if hard is not None and hard < workers:
            found.append(
                Finding(
                    "open files: nginx workers",
                    Level.WARNING,
                    f"worker_rlimit_nofile is {workers} but the hard limit is {hard}; each worker "
                    f"holds {count * 2} log files and two descriptors per connection",
                    f"raise the hard limit of open files to at least {workers}",
                )
            )
    return found


def supervisor_limits(box: Box) -> list[Finding]:
    count = len(box.sites)
    need = supervisor_open_files(count)
    why = f"{count} program(s) need {need} (a log file and pipes each)"
    return [open_files_of(box.supervisord, need, box.layout, why)]


def gunicorn_cost(box: Box) -> list[Finding]:
    """The gunicorn processes the live sites run, their memory, and the cap."""
    check = "gunicorn processes"
    facts = box.facts
    workers = total_workers(box.sites, facts)
    auto = sum(1 for site in box.sites.values() if site.app.workers is None)
    expected = workers + len(box.sites)  # and a master each
    running = len(box.gunicorns)
    memory = sum(g.memory for g in box.gunicorns)
    text = (
        f"{len(box.sites)} site(s) run {workers} worker(s) and {len(box.sites)} master(s): "
        f"{expected} processes ({running} running, {memory / MIB:.0f} MiB)"
    )
    if auto:
        text += f"; {auto} use workers: auto, {facts.auto_workers} each on {facts.cores} core(s)"
    found: list[Finding] = []
    fix = (
        "give sites fewer workers (workers: 1 or 2 is enough for a small site), or cap "
        "the box in hostd.toml: [workers] max_total = N"
    )
    share = memory / box.memory_total if box.memory_total else 0.0
    if box.memory_total and box.memory_available < MEMORY_PROBLEM * box.memory_total:
        available = box.memory_available / MIB
        found.append(
            Finding(
                check,
                Level.PROBLEM,
                f"{text}; only {available:.0f} MiB of "
                f"{box.memory_total / MIB:.0f} MiB left on this box",
                fix,
            )
        )
    elif share > MEMORY_WARN:
        found.append(
            Finding(check, Level.WARNING, f"{text}, {share:.0%} of this box's memory", fix)
        )
    else:
        tail = f", {share:.0%} of this box's memory" if box.memory_total else ""
        found.append(Finding(check, Level.OK, text + tail))
    cap = facts.max_workers
    if cap and workers > cap:
        found.append(
            Finding(
                "gunicorn worker cap",
                Level.WARNING,
                f"the live sites run {workers} workers, above the cap of {cap} (they went live "
                "before it was set; new and changed sites are held to it)",
                "lower some sites' workers, or raise [workers] max_total in hostd.toml",
            )
        )
    elif cap:
        found.append(Finding("gunicorn worker cap", Level.OK, f"{workers} of {cap} workers used"))
    return found


CHECKS: list[Check] = [nginx_limits, supervisor_limits, gunicorn_cost]


def run_checks(box: Box, checks: list[Check] | None = None) -> list[Finding]:
    return [finding for check in (checks or CHECKS) for finding in check(box)]


def worst(findings: list[Finding]) -> Level:
    levels = {finding.level for finding in findings}
    for level in (Level.PROBLEM, Level.WARNING):
        if level in levels:
            return level
    return Level.OK


# -- gathering ---------------------------------------------------------------------


def gather(layout: Layout, settings: Settings) -> Box:
    """The box as it is now: its live sites, daemons, gunicorns and memory."""
    try:
        live = GenerationStore(layout.state_dir).live() if layout.state_dir.exists() else None
    except HostdError:
        live = None
    facts = HostFacts(
        layout=layout, cores=os.cpu_count() or 1, max_workers=settings.workers.max_total
    )
    total, available = _memory()
    return Box(
        layout=layout,
        settings=settings,
        facts=facts,
        sites=live.sites if live else {},
        nginx=_daemon("nginx", layout.nginx_pid, layout),
        supervisord=_daemon("supervisord", layout.supervisord_pid, layout),
        gunicorns=[
            g
            for pid in processes_mentioning(f"unix:{layout.run_dir}/")
            if (g := _gunicorn(pid)) is not None
        ],
        memory_total=total,
        memory_available=available,
    )


def _daemon(name: str, pid_file: Path, layout: Layout) -> Daemon:
    pid = read_pid(pid_file)
    if pid is not None and pid_alive(pid):
        return Daemon(name, pid, open_files_limit(pid))
    # not running: embedded, it gets what `hostd up` raises its own soft limit to
    return Daemon(name, None, _raised_limit() if layout.mode is Mode.EMBEDDED else None)


def open_files_limit(pid: int) -> int | None:
    """The soft limit of open files of process `pid`, from /proc/PID/limits."""
    try:
        text = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return MAX_OPEN_FILES * 16 if soft == "unlimited" else int(soft)
    return None


def _hard_limit() -> int | None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if hard == resource.RLIM_INFINITY else hard


def _raised_limit() -> int:
    """The soft limit `hostd up` starts nginx and supervisord with."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = _hard_limit()
    return max(soft, MAX_OPEN_FILES if hard is None else min(hard, MAX_OPEN_FILES))


def _gunicorn(pid: int) -> Gunicorn | None:
    for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(key):
                return Gunicorn(pid, int(line.split()[1]) * 1024)
    return None


def _memory() -> tuple[int, int]:
    """MemTotal and MemAvailable of this box, in bytes (0, 0 if unknown)."""
    values: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            values[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return 0, 0
    return values.get("MemTotal", 0), values.get("MemAvailable", 0)
