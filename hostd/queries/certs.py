"""What `hostd certs` and `hostd status` say about each `tls: auto` site's certificate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hostd.apply.renewal import tls_sites
from hostd.core.layout import Layout
from hostd.core.site import Site
from hostd.edges.certstore import read_certificate
from hostd.edges.probe import served_certificate
from hostd.edges.records import read_attempts


@dataclass(frozen=True)
class CertStatus:
    site: str
    domains: list[str]
    issuer: str | None
    serial: str | None
    expires: str | None  # ISO time
    covers_domains: bool
    served_serial: str | None  # what nginx presents for the first domain
    last_attempt: float | None
    last_error: str | None
    next_attempt: float | None

    @property
    def mismatch(self) -> bool:
        return self.serial is not None and self.served_serial not in (None, self.serial)

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "mismatch": self.mismatch}


def served_serial(address: str, port: int, name: str) -> str | None:
    try:
        der = served_certificate(address, port, name)
    except OSError:
        return None
    from cryptography import x509  # as in core.certificate: only where certificates are

    return f"{x509.load_der_x509_certificate(der).serial_number:x}"


def cert_statuses(
    layout: Layout, sites: Mapping[str, Site], address: str, https_port: int
) -> list[CertStatus]:
    out = []
    for name, site in sorted(tls_sites(sites).items()):
        cert = read_certificate(layout.certificate_dir(name))
        attempts = read_attempts(layout.cert_state_dir, name)
        out.append(
            CertStatus(
                site=name,
                domains=list(site.domains),
                issuer=cert.issuer if cert else None,
                serial=cert.serial if cert else None,
                expires=cert.not_after.isoformat() if cert else None,
                covers_domains=bool(cert and cert.covers(site.domains)),
                served_serial=served_serial(address, https_port, site.domains[0]) if cert else None,
                last_attempt=attempts.last_attempt,
                last_error=attempts.last_error,
                next_attempt=attempts.next_attempt or None,
            )
        )
    return out
