"""The checks of `hostd doctor` that weigh the live sites against the box: open files
of nginx and supervisord, and the gunicorn processes with their memory and the cap.
Pure, like every check (`hostd.core.doctor_checks`).
"""

from __future__ import annotations

from hostd.core.capacity import total_workers
from hostd.core.doctor import Box, Daemon, Finding, Level
from hostd.core.layout import Layout, Mode
from hostd.core.limits import nginx_master_open_files, nginx_open_files, supervisor_open_files

MIB = 1024 * 1024
WARN_SHARE = 0.8  # of a limit
MEMORY_WARN = 0.5  # of the box's memory taken by gunicorns
MEMORY_PROBLEM = 0.1  # of the box's memory still available


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
        hard = box.hard_open_files
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
