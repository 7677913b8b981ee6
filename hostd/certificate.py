"""Certificates as facts: what a certificate on disk covers and until when.

`read_certificate` reads a certbot lineage (live/<site>/); the rest is pure:
whether a certificate may be served for a site, and whether it is due.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID


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
        """Servable for these domains now (DESIGN.md section 5, rule 5)."""
        return self.covers(domains) and self.not_before <= now < self.not_after

    def due(self, now: datetime.datetime) -> bool:
        """Renew once a third of its lifetime is left (at most 30 days before expiry)."""
        lifetime = self.not_after - self.not_before
        margin = min(lifetime / 3, datetime.timedelta(days=30))
        return now >= self.not_after - margin


def parse_certificate(pem: bytes, fullchain: Path, privkey: Path) -> Certificate:
    """The facts of the first certificate in `pem`; ValueError if it does not parse."""
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


def read_certificate(lineage: Path) -> Certificate | None:
    """The certificate certbot keeps in `lineage` (live/<name>/), or None if unusable."""
    fullchain, privkey = lineage / "fullchain.pem", lineage / "privkey.pem"
    try:
        if not privkey.is_file():
            return None
        return parse_certificate(fullchain.read_bytes(), fullchain, privkey)
    except (OSError, ValueError):
        return None


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
