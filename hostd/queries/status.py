"""What `hostd status` reports: the live generation, each site's program and last
apply, whether nginx serves the live files. Read from the records and asked of the
daemons directly; nothing is built, nothing is started.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hostd.core.layout import Layout
from hostd.core.processes import program_name
from hostd.core.program import ProgramInfo
from hostd.core.render import served_fingerprint
from hostd.core.settings import Settings
from hostd.core.site import Site, Tls
from hostd.core.slots import (
    Version,
    sites_on_b,
    slot_of,
    versions_of,
    warm_sites,
    web_program,
)
from hostd.core.timing import local_time
from hostd.edges.certstore import read_certificate
from hostd.edges.daemon_state import daemon_state
from hostd.edges.generations import GenerationStore
from hostd.edges.host import tool
from hostd.edges.logfiles import last_error_event
from hostd.edges.nginx import served_fingerprint_at
from hostd.edges.records import (
    HEALED,
    crash_loops_path,
    read_crash_loops,
    read_healings,
    read_last_apply,
    read_state,
)
from hostd.edges.supervisor import XmlRpcSupervisor
from hostd.errors import InstanceError, SupervisorError


@dataclass(frozen=True)
class SiteStatus:
    name: str
    domains: list[str]
    file: str | None
    program: str  # Supervisor state, or "absent"
    pid: int | None
    since: float | None
    outcome: str | None
    held: bool
    error: str | None  # why the last apply refused or failed this site
    last_error: str | None
    last_error_at: float | None
    crash_loop: dict[str, Any] | None  # attempts, next_attempt (epoch), reason
    cert_expires: str | None = None  # tls: auto sites with a certificate: ISO time
    paused: str | None = None  # `hostd pause`: the maintenance message
    # worker processes by name: program (Supervisor state), pid, crash_loop
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    slot: str | None = None  # the slot (a or b) whose gunicorn serves the site
    version: int | None = None  # grows with each new version started in a slot
    # what `hostd rollback` returns to: {"version", "slot", "warm" (its program still
    # runs), "warm_until" (epoch, while warm)}; None before a second version
    previous: dict[str, Any] | None = None
    held_by_rollback: bool = False  # the site file's version waits until the file changes

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Status:
    generation: int | None
    nginx: str  # "serving live", "serving another configuration", "down", "not installed"
    supervisor: str  # "running" or the reason it is not
    sites: list[SiteStatus]
    # what the instance as a whole is not doing as asked: the last apply's error
    # (a sites folder that is missing, unreadable or empty), damaged state skipped
    warnings: list[str] = field(default_factory=list)
    # what damage to state/ was healed since the instance started: {"at", "detail"}
    healed: list[dict[str, Any]] = field(default_factory=list)
    daemon: str = "unknown"  # hostd's own: "running (pid N)" or "not running (...)"

    def to_json(self) -> dict[str, Any]:
        return {
            "daemon": self.daemon,
            "generation": self.generation,
            "nginx": self.nginx,
            "supervisor": self.supervisor,
            "sites": {site.name: site.to_json() for site in self.sites},
            "warnings": list(self.warnings),
            "healed": list(self.healed),
        }


def nginx_state(settings: Settings, live_files: dict[str, str] | None) -> str:
    """Whether nginx serves the live files, another configuration, or nothing."""
    served = served_fingerprint_at(settings.http.probe_host, settings.http.port)
    if served is None:
        try:
            tool("nginx")
        except InstanceError as exc:
            return f"not installed ({exc})"
        return "down"
    if live_files is not None and served == served_fingerprint(live_files):
        return "serving live"
    return "serving another configuration"


def collect_status(layout: Layout, settings: Settings) -> Status:
    live = GenerationStore(layout.state_dir).live()
    state = read_state(layout.state_file)
    loops = read_crash_loops(crash_loops_path(layout))
    programs: dict[str, ProgramInfo] = {}
    try:
        programs = XmlRpcSupervisor(layout.supervisor_socket).all_info()
        supervisor = "running"
    except SupervisorError as exc:
        supervisor = str(exc)
    nginx = nginx_state(settings, live.files if live else None)
    names = sorted(set(live.sites if live else {}) | set(state))
    on_b = sites_on_b(live.files, live.sites) if live else frozenset()
    versions = versions_of(live.files, live.sites) if live else {}
    warm = warm_sites(live.files) if live else frozenset()
    sites = []
    for name in names:
        site = live.sites.get(name) if live else None
        record = state.get(name, {})
        slot = slot_of(name, on_b) if site else None
        info = programs.get(web_program(name, slot or "a"))
        problem = record.get("outcome") in ("rejected", "failed")
        last = last_error(record, last_error_event(layout.site_log_dir(name) / "hostd.log"))
        loop = loops.get(name)
        sites.append(
            SiteStatus(
                name=name,
                domains=list(site.domains) if site else [],
                file=str(site.file) if site else None,
                program=info.state if info else "absent",
                pid=info.pid if info and info.pid else None,
                since=float(info.start) if info and info.start else None,
                outcome=record.get("outcome"),
                held=bool(record.get("held")),
                error=record.get("detail") if problem else None,
                last_error=last[0],
                last_error_at=last[1],
                crash_loop=(
                    {"attempts": loop.attempts, "next_attempt": loop.next_at, "reason": loop.reason}
                    if loop
                    else None
                ),
                cert_expires=_expiry(layout, site),
                paused=site.paused if site else None,
                processes=_processes(site, programs, loops),
                slot=slot,
                version=versions[name].number if name in versions else None,
                previous=_previous(name, versions.get(name), name in warm, programs),
                held_by_rollback=name in versions and versions[name].held_from is not None,
            )
        )
    warnings = [error] if (error := read_last_apply(layout.state_file).get("error")) else []
    healed = read_healings(layout.state_dir / HEALED)
    warnings += [f"state healed at {local_time(h['at'])}: {h['detail']}" for h in healed]
    return Status(
        live.id if live else None,
        nginx,
        supervisor,
        sites,
        warnings,
        healed,
        daemon_state(layout),
    )


def _previous(
    site: str, version: Version | None, kept: bool, programs: dict[str, ProgramInfo]
) -> dict[str, Any] | None:
    """The version a rollback returns to, and whether its slot is still warm."""
    if version is None or version.previous is None:
        return None
    back = version.previous
    info = programs.get(web_program(site, back.slot))
    warm = kept and info is not None and back.runs_in(info.state, float(info.start), time.time())
    return {
        "version": back.number,
        "slot": back.slot,
        "warm": warm,
        "warm_until": back.warm_until if warm else None,
    }


def _processes(
    site: Site | None, programs: dict[str, ProgramInfo], loops: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, _ in site.processes if site else ():
        program = program_name(site.name, name) if site else name
        info, loop = programs.get(program), loops.get(program)
        out[name] = {
            "program": info.state if info else "absent",
            "pid": info.pid if info and info.pid else None,
            "crash_loop": {"attempts": loop.attempts, "next_attempt": loop.next_at,
                           "reason": loop.reason} if loop else None,
        }  # fmt: skip
    return out


def last_error(
    record: dict[str, Any], logged: tuple[float, str] | None
) -> tuple[str | None, float | None]:
    """The newer of the last error state.json keeps and the last one hostd.log records."""
    at = record.get("last_error_at")
    if logged is not None and (at is None or logged[0] > at):
        return logged[1], logged[0]
    return record.get("last_error"), at


def _expiry(layout: Layout, site: Site | None) -> str | None:
    if site is None or site.tls is not Tls.AUTO:
        return None
    cert = read_certificate(layout.certificate_dir(site.name))
    return cert.not_after.isoformat() if cert else None
