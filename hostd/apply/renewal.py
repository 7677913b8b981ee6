"""Getting and renewing certificates for `tls: auto` sites, one certbot at a time.

For each such site: is there a certificate that covers its domains, is not
expired and not due? Then nothing happens, ever (no CA request on reload or
restart). Otherwise, unless the site is backing off after a failure: preflight,
certbot, and a record of the attempt (attempts, last error, next attempt), so a
restart never retries early. Delays double from a minute up to six hours. The
caller applies afterwards, which puts the new certificate in the site's HTTPS
block and reloads nginx once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from hostd.apply.ports import Certbot, CertStore, Events, Lock, Preflight
from hostd.core.certificate import (
    Attempts,
    certbot_reason,
    needs_certificate,
    now_utc,
    retry_delay,
)
from hostd.core.site import Site, Tls
from hostd.core.timing import iso_time
from hostd.errors import CommandError, LockError


@dataclass(frozen=True)
class CertResult:
    site: str
    ok: bool
    detail: str


def tls_sites(sites: Mapping[str, Site]) -> dict[str, Site]:
    return {name: site for name, site in sites.items() if site.tls is Tls.AUTO}


class CertManager:
    def __init__(
        self,
        certs: CertStore,
        certbot: Certbot,
        preflight: Preflight | None,
        events: Events,
        lock: Lock,
    ) -> None:
        """`preflight` None: ask the CA without trying the domains first."""
        self.certs = certs
        self.certbot = certbot
        self.preflight = preflight
        self.events = events
        self.lock = lock

    def needs(self, site: Site, *, force: bool = False) -> str | None:
        """Why `site` needs a certificate now ("missing", "domains changed", "due")."""
        return needs_certificate(self.certs.current(site.name), site.domains, now_utc(),
                                 force=force)  # fmt: skip

    def run(
        self, sites: Mapping[str, Site], *, force: bool = False, wait: bool = False
    ) -> list[CertResult]:
        """Get or renew what the `tls: auto` sites need; skip sites backing off."""
        results: list[CertResult] = []
        try:
            with self.lock.held(timeout=600.0 if wait else 0.0):
                for name, site in sorted(tls_sites(sites).items()):
                    reason = self.needs(site, force=force)
                    attempts = self.certs.attempts(name)
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
        if self.preflight is not None:
            problem = self.preflight.problem(site.domains)
            if problem:
                problem = f"preflight: {problem}; no request sent to the CA"
        if problem is None:
            self.events.emit("certbot-start", site=site.name, reason=reason,
                             domains=" ".join(site.domains))  # fmt: skip
            try:
                output = self.certbot.obtain(site.name, site.domains)
                self.events.emit("certbot-output", site=site.name, output=output)
            except CommandError as exc:
                self.events.emit("certbot-output", site=site.name, output=exc.output)
                problem = f"certbot failed: {certbot_reason(exc.output)}"
        if problem is None:
            success = Attempts(names=attempts.names, last_attempt=attempts.last_attempt)
            self.certs.record_attempts(site.name, success)
            self.events.emit("certificate-issued", site=site.name, reason=reason)
            return CertResult(site.name, True, f"certificate obtained ({reason})")
        attempts.failures += 1
        attempts.last_error = problem
        attempts.next_attempt = time.time() + retry_delay(attempts.failures)
        self.certs.record_attempts(site.name, attempts)
        self.events.emit("certificate-failed", site=site.name, error=problem,
                         next_attempt=iso_time(attempts.next_attempt))  # fmt: skip
        return CertResult(site.name, False, problem)
