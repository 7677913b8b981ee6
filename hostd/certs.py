"""Getting and renewing certificates for `tls: auto` sites, one certbot at a time.

For each such site: is there a certificate that covers its domains, is not
expired and not due? Then nothing happens, ever (no CA request on reload or
restart). Otherwise, unless the site is backing off after a failure: preflight,
certbot, and a record of the attempt on disk (attempts, last error, next
attempt), so a restart never retries early. Delays double from a minute up to
six hours. The caller applies afterwards, which puts the new certificate in the
site's HTTPS block and reloads nginx once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hostd.certbot import Certbot
from hostd.certificate import Certificate, now_utc, read_certificate
from hostd.errors import CommandError, LockError
from hostd.events import EventLog
from hostd.layout import Layout
from hostd.lock import held_lock
from hostd.model import Site, Tls
from hostd.preflight import preflight_problem
from hostd.settings import AcmeSettings
from hostd.store import write_atomic

FIRST_DELAY = 60.0
MAX_DELAY = 6 * 3600.0


def retry_delay(attempts: int) -> float:
    """Seconds to wait after `attempts` failures in a row."""
    return float(min(MAX_DELAY, FIRST_DELAY * 2 ** max(0, attempts - 1)))


@dataclass
class Attempts:
    """What hostd tried for one site's certificate; kept across restarts."""

    failures: int = 0
    last_attempt: float | None = None
    last_error: str | None = None
    next_attempt: float = 0.0
    names: list[str] = field(default_factory=list)


def read_attempts(folder: Path, site: str) -> Attempts:
    try:
        return Attempts(**json.loads((folder / f"{site}.json").read_text()))
    except (OSError, ValueError, TypeError):
        return Attempts()


def write_attempts(folder: Path, site: str, attempts: Attempts) -> None:
    write_atomic(folder / f"{site}.json", json.dumps(asdict(attempts), indent=2) + "\n", 0o644)


@dataclass(frozen=True)
class CertResult:
    site: str
    ok: bool
    detail: str


def tls_sites(sites: Mapping[str, Site]) -> dict[str, Site]:
    return {name: site for name, site in sites.items() if site.tls is Tls.AUTO}


def servable(layout: Layout, site: Site) -> Certificate | None:
    """The certificate nginx may serve for `site` now, if there is one."""
    cert = read_certificate(layout.certificate_dir(site.name))
    return cert if cert is not None and cert.usable(site.domains, now_utc()) else None


class CertManager:
    def __init__(
        self,
        layout: Layout,
        acme: AcmeSettings,
        certbot: Certbot,
        events: EventLog,
        http_port: int,
    ) -> None:
        self.layout = layout
        self.acme = acme
        self.certbot = certbot
        self.events = events
        self.http_port = http_port

    def needs(self, site: Site, *, force: bool = False) -> str | None:
        """Why `site` needs a certificate now ("missing", "domains changed", "due")."""
        cert = read_certificate(self.layout.certificate_dir(site.name))
        if cert is None:
            return "missing"
        if cert.names != frozenset(site.domains):
            return "domains changed"
        if force or cert.due(now_utc()) or not cert.usable(site.domains, now_utc()):
            return "due" if not force else "renewal forced"
        return None

    def run(
        self, sites: Mapping[str, Site], *, force: bool = False, wait: bool = False
    ) -> list[CertResult]:
        """Get or renew what the `tls: auto` sites need; skip sites backing off."""
        results: list[CertResult] = []
        try:
            with held_lock(self.layout.certbot_lock, timeout=600.0 if wait else 0.0):
                for name, site in sorted(tls_sites(sites).items()):
                    reason = self.needs(site, force=force)
                    attempts = read_attempts(self.layout.cert_state_dir, name)
                    if reason is None or time.time() < attempts.next_attempt:
                        continue
                    results.append(self._obtain(site, reason, attempts))
        except LockError:
            return results  # another certbot run is on it
        return results

    def _obtain(self, site: Site, reason: str, attempts: Attempts) -> CertResult:
        attempts.last_attempt = time.time()
        attempts.names = list(site.domains)
        problem = None
        if self.acme.preflight:
            problem = preflight_problem(
                site.domains, self.layout.acme_webroot, self.http_port, self.acme.resolver
            )
            if problem:
                problem = f"preflight: {problem}; no request sent to the CA"
        if problem is None:
            self.events.emit("certbot-start", site=site.name, reason=reason,
                             domains=" ".join(site.domains))  # fmt: skip
            try:
                done = self.certbot.obtain(site.name, site.domains)
                self.events.emit("certbot-output", site=site.name, output=done.output)
            except CommandError as exc:
                self.events.emit("certbot-output", site=site.name, output=exc.output)
                problem = f"certbot failed: {certbot_reason(exc.output)}"
        if problem is None:
            success = Attempts(names=attempts.names, last_attempt=attempts.last_attempt)
            write_attempts(self.layout.cert_state_dir, site.name, success)
            self.events.emit("certificate-issued", site=site.name, reason=reason)
            return CertResult(site.name, True, f"certificate obtained ({reason})")
        attempts.failures += 1
        attempts.last_error = problem
        attempts.next_attempt = time.time() + retry_delay(attempts.failures)
        write_attempts(self.layout.cert_state_dir, site.name, attempts)
        when = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(attempts.next_attempt))
        self.events.emit("certificate-failed", site=site.name, error=problem, next_attempt=when)
        return CertResult(site.name, False, problem)


def certbot_reason(output: str) -> str:
    """The lines of certbot's output that say why it failed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    keys = ("Detail:", "Type:", "Error", "error", "failed")
    found = [line for line in lines if line.startswith(keys) or any(k in line for k in keys[:2])]
    return " | ".join(found[-3:]) if found else (lines[-1] if lines else "no output")
