"""Certificates as facts: what a certificate on disk covers and until when.

Pure: the facts of a PEM certificate, whether it may be served for a site, and
whether it is due. `hostd.edges.certstore` reads them from certbot's lineages.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from hostd.core.timing import backoff

FIRST_DELAY = 60.0  # after a failed attempt; doubles each time
MAX_DELAY = 6 * 3600.0


@dataclass(frozen=True)
class Certificate:
    names: frozenset[str]
    not_before: datetime.datetime
    not_after: datetime.datetime
    serial: str  # hex
    issuer: str
    fullchain: Path
    privkey: Path

    def covers(self, domains: tuple[str, ...]) -> bool:
        return set(domains) <= self.names

    def usable(self, domains: tuple[str, ...], now: datetime.datetime) -> bool:
        """Servable for these domains now (covers every domain, within its validity)."""
        return self.covers(domains) and self.not_before <= now < self.not_after

    def due(self, now: datetime.datetime) -> bool:
        """Renew once a third of its lifetime is left (at most 30 days before expiry)."""
        lifetime = self.not_after - self.not_before
        margin = min(lifetime / 3, datetime.timedelta(days=30))
        return now >= self.not_after - margin


def parse_certificate(pem: bytes, fullchain: Path, privkey: Path) -> Certificate:
    """The facts of the first certificate in `pem`; ValueError if it does not parse."""
    # imported here: the X.509 parser's libraries are ~8 MiB of the daemon's memory,
    # spent only on a box that has certificates
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificate(pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = frozenset(n.lower() for n in san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = frozenset()
    issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return Certificate(
        names=names,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=f"{cert.serial_number:x}",
        issuer=str(issuer[0].value) if issuer else cert.issuer.rfc4514_string(),
        fullchain=fullchain,
        privkey=privkey,
    )


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def needs_certificate(
    cert: Certificate | None, domains: tuple[str, ...], now: datetime.datetime, *, force: bool
) -> str | None:
    """Why a site with `domains` needs a new certificate now, or None if `cert` does."""
    if cert is None:
        return "missing"
    if cert.names != frozenset(domains):
        return "domains changed"
    if force or cert.due(now) or not cert.usable(domains, now):
        return "due" if not force else "renewal forced"
    return None


def retry_delay(attempts: int) -> float:
    """Seconds to wait after `attempts` failed certificate attempts in a row."""
    return backoff(attempts, FIRST_DELAY, MAX_DELAY)


@dataclass
class Attempts:
    """What hostd tried for one site's certificate; kept across restarts."""

    failures: int = 0
    last_attempt: float | None = None
    last_error: str | None = None
    next_attempt: float = 0.0
    names: list[str] = field(default_factory=list)


def certbot_reason(output: str) -> str:
    """The lines of certbot's output that say why it failed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    keys = ("Detail:", "Type:", "Error", "error", "failed")
    found = [line for line in lines if line.startswith(keys) or any(k in line for k in keys[:2])]
    return " | ".join(found[-3:]) if found else (lines[-1] if lines else "no output")
