"""What `hostd doctor` looks at, gathered once into a `Box` (`hostd.core.doctor`) for
the pure checks of `hostd.core.doctor_checks`: the live sites, the daemons and their
limits, the programs and their versions, hostd's hooks in the machine's configuration,
the ports, the app folders, each TLS domain's DNS and port 80, certbot's folders, the
clock, the disks, the certificates, the crash loops, and hostd's own daemon.
"""

from __future__ import annotations

import os
import pwd
import re
import resource
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from hostd.core.attachment import nginx_hook_text, supervisor_glob
from hostd.core.doctor import (
    Box,
    Daemon,
    Disk,
    DomainCheck,
    Finding,
    Gunicorn,
    Hooks,
    Port,
    Tool,
    run_checks,
)
from hostd.core.doctor_checks import CHECKS
from hostd.core.facts import HostFacts
from hostd.core.layout import Layout, Mode
from hostd.core.render import program_user
from hostd.core.settings import Settings
from hostd.core.site import Site, Tls
from hostd.edges.app_access import entry_refusal
from hostd.edges.box_probe import (
    answer_problem,
    clock_state,
    disk_of,
    is_local_address,
    listeners,
    machine_program,
    parent_of,
    socket_owners,
    tool_of,
    write_problem,
)
from hostd.edges.certstore import read_certificate
from hostd.edges.daemon_state import daemon_state
from hostd.edges.generations import GenerationStore
from hostd.edges.host import tool
from hostd.edges.inputs import folder_problem
from hostd.edges.nginx import read_pid
from hostd.edges.preflight import addresses
from hostd.edges.process import MAX_OPEN_FILES, pid_alive, processes_mentioning
from hostd.edges.records import crash_loops_path, read_crash_loops
from hostd.errors import HostdError

LISTEN = re.compile(r"^\s*listen\s+(?:\S*:)?(\d+)[\s;]", re.MULTILINE)
VERSION_FLAGS = {"nginx": ["-v"], "supervisord": ["--version"], "certbot": ["--version"]}


def diagnose(layout: Layout, settings: Settings) -> list[Finding]:
    """Every check's findings on this box now."""
    return run_checks(gather(layout, settings), CHECKS)


def gather(layout: Layout, settings: Settings) -> Box:
    """The box as it is now."""
    try:
        live = GenerationStore(layout.state_dir).live() if layout.state_dir.exists() else None
    except HostdError:
        live = None
    sites = live.sites if live else {}
    facts = HostFacts(
        layout=layout, cores=os.cpu_count() or 1, max_workers=settings.workers.max_total
    )
    total, available = _memory()
    nginx = _daemon("nginx", layout.nginx_pid, layout)
    served = live.files.get("nginx/hostd.conf") if live else None
    return Box(
        layout=layout,
        settings=settings,
        facts=facts,
        sites=sites,
        nginx=nginx,
        supervisord=_daemon("supervisord", layout.supervisord_pid, layout),
        gunicorns=[
            g
            for pid in processes_mentioning(f"unix:{layout.run_dir}/")
            if (g := _gunicorn(pid)) is not None
        ],
        memory_total=total,
        memory_available=available,
        hard_open_files=_hard_limit(),
        now=datetime.now(UTC),
        tools=_tools(layout),
        hooks=_hooks(layout, served),
        ports=tuple(
            _port(port, nginx.pid, _listened(live.files if live else {}))
            for port in _ports(settings)
        ),
        sites_folder_problem=folder_problem(layout.sites_dir),
        app_roots=app_root_refusals(sites, facts),
        domains=_domains(layout, settings, sites),
        certbot_folders={
            folder: write_problem(folder)
            for folder in (layout.certbot_dir, layout.certbot_work, layout.certbot_logs)
        },
        clock=clock_state(),
        disks=_disks(layout),
        certificates=_certificates(layout, sites),
        crash_loops=read_crash_loops(crash_loops_path(layout)),
        daemon=daemon_state(layout),
    )


def _tools(layout: Layout) -> dict[str, Tool]:
    found = {}
    for name, flags in VERSION_FLAGS.items():
        if layout.mode is Mode.SYSTEM and name != "certbot":
            path = machine_program(name)  # what the distribution's service runs
        else:
            try:
                path = tool(name)
            except HostdError:
                path = None
        found[name] = tool_of(name, path, flags)
    return found


def _hooks(layout: Layout, served: str | None) -> Hooks | None:
    machine = layout.machine
    if machine is None:
        return None
    others = {
        path: text
        for path in sorted(machine.nginx_hook.parent.glob("*.conf"))
        if path != machine.nginx_hook and (text := _text(path)) is not None
    }
    return Hooks(
        nginx_conf=machine.nginx_conf,
        nginx_conf_text=_text(machine.nginx_conf),
        hook=machine.nginx_hook,
        hook_text=_text(machine.nginx_hook),
        expected_hook=nginx_hook_text(layout),
        others=others,
        served_include=served,
        supervisor_conf=machine.supervisor_conf,
        supervisor_text=_text(machine.supervisor_conf),
        supervisor_glob=supervisor_glob(layout),
    )


def _text(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _ports(settings: Settings) -> list[int]:
    return sorted({settings.http.port, settings.http.https_port})


def _listened(files: Mapping[str, str]) -> set[int]:
    """The ports the nginx files of a generation listen on."""
    found = set()
    for rel, text in files.items():
        if rel.startswith("nginx/"):
            found |= {int(port) for port in LISTEN.findall(text)}
    return found


def _port(port: int, nginx: int | None, listened: set[int]) -> Port:
    holders = tuple(socket_owners(listeners(port)))
    ours = tuple(
        nginx is not None and pid is not None and (pid == nginx or parent_of(pid) == nginx)
        for pid, _ in holders
    )
    return Port(port, holders, ours, port in listened)


def app_root_refusals(sites: Mapping[str, Site], facts: HostFacts) -> dict[str, str | None]:
    """Each site's refusal of its user at its app folder; embedded sites run as the
    user running hostd, asked too."""
    found: dict[str, str | None] = {}
    for name, site in sites.items():
        user = program_user(site, facts) or _me()
        root = site.app.root
        if not root.is_dir():
            found[name] = f"{root} is missing; create it or fix app.root in the site file"
        else:
            found[name] = entry_refusal(root, user) if user else None
    return found


def _me() -> str | None:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


def _domains(
    layout: Layout, settings: Settings, sites: Mapping[str, Site]
) -> tuple[DomainCheck, ...]:
    found = []
    for name, site in sorted(sites.items()):
        if site.tls is not Tls.AUTO:
            continue
        for domain in site.domains:
            where = tuple(addresses(domain, settings.acme.resolver))
            local = tuple(a for a in where if is_local_address(a))
            problem = (
                answer_problem(
                    settings.http.probe_host, settings.http.port, domain, layout.acme_webroot
                )
                if local
                else None
            )
            found.append(DomainCheck(name, domain, where, local, problem))
    return tuple(found)


def _disks(layout: Layout) -> tuple[Disk, ...]:
    found: dict[object, Disk] = {}
    for folder in (layout.state_dir, layout.log_root):
        disk = disk_of(folder)
        found.setdefault(disk.device if disk.device is not None else folder, disk)
    return tuple(found.values())


def _certificates(layout: Layout, sites: Mapping[str, Site]) -> dict[str, datetime]:
    ends = {}
    for name, site in sites.items():
        if site.tls is Tls.AUTO:
            cert = read_certificate(layout.certificate_dir(name))
            if cert is not None:
                ends[name] = cert.not_after
    return ends


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
