"""What `hostd status` reports: the live generation, each site's program and last apply."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from hostd.certificate import read_certificate
from hostd.crashloop import CRASH_LOOPS, read_crash_loops
from hostd.errors import SupervisorError
from hostd.logs import last_error_event
from hostd.model import Site, Tls
from hostd.reconcile import Reconciler
from hostd.render import served_fingerprint
from hostd.state import read_state
from hostd.supervisor import ProgramInfo


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

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Status:
    generation: int | None
    nginx: str  # "serving live", "serving another configuration", "down"
    supervisor: str  # "running" or the reason it is not
    sites: list[SiteStatus]

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "nginx": self.nginx,
            "supervisor": self.supervisor,
            "sites": {site.name: site.to_json() for site in self.sites},
        }


def collect_status(reconciler: Reconciler) -> Status:
    live = reconciler.live()
    state = read_state(reconciler.layout.state_file)
    loops = read_crash_loops(reconciler.layout.state_dir / CRASH_LOOPS)
    programs: dict[str, ProgramInfo] = {}
    try:
        programs = reconciler.edges.supervisor.all_info()
        supervisor = "running"
    except SupervisorError as exc:
        supervisor = str(exc)
    served = reconciler.edges.nginx.served_fingerprint()
    if served is None:
        nginx = "down"
    elif live is not None and served == served_fingerprint(live.files):
        nginx = "serving live"
    else:
        nginx = "serving another configuration"
    names = sorted(set(live.sites if live else {}) | set(state))
    sites = []
    for name in names:
        site = live.sites.get(name) if live else None
        record = state.get(name, {})
        info = programs.get(name)
        problem = record.get("outcome") in ("rejected", "failed")
        last = last_error(
            record, last_error_event(reconciler.layout.site_log_dir(name) / "hostd.log")
        )
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
                crash_loop=loops.get(name),
                cert_expires=_expiry(reconciler, site),
            )
        )
    return Status(live.id if live else None, nginx, supervisor, sites)


def last_error(
    record: dict[str, Any], logged: tuple[float, str] | None
) -> tuple[str | None, float | None]:
    """The newer of the last error state.json keeps and the last one hostd.log records."""
    at = record.get("last_error_at")
    if logged is not None and (at is None or logged[0] > at):
        return logged[1], logged[0]
    return record.get("last_error"), at


def _expiry(reconciler: Reconciler, site: Site | None) -> str | None:
    if site is None or site.tls is not Tls.AUTO:
        return None
    cert = read_certificate(reconciler.layout.certificate_dir(site.name))
    return cert.not_after.isoformat() if cert else None


def uptime(since: float | None) -> str:
    if not since:
        return "-"
    seconds = int(time.time() - since)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
