"""Certificates on disk: certbot's lineages (live/<site>/) and hostd's record of the
attempts for each site."""

from __future__ import annotations

from pathlib import Path

from hostd.core.certificate import Attempts, Certificate, parse_certificate
from hostd.core.layout import Layout
from hostd.edges.records import read_attempts, write_attempts
from hostd.errors import HostdError


def read_certificate(lineage: Path) -> Certificate | None:
    """The certificate certbot keeps in `lineage` (live/<name>/), or None if unusable."""
    fullchain, privkey = lineage / "fullchain.pem", lineage / "privkey.pem"
    try:
        if not privkey.is_file():
            return None
        return parse_certificate(fullchain.read_bytes(), fullchain, privkey)
    except (OSError, ValueError):
        return None


class CertFolder:
    """The real `hostd.apply.ports.CertStore`: certbot's folder and state/certs/."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def current(self, site: str) -> Certificate | None:
        return read_certificate(self.layout.certificate_dir(site))

    def attempts(self, site: str) -> Attempts:
        return read_attempts(self.layout.cert_state_dir, site)

    def record_attempts(self, site: str, attempts: Attempts) -> None:
        try:
            write_attempts(self.layout.cert_state_dir, site, attempts)
        except OSError as exc:
            raise HostdError(f"cannot record the certificate attempts of {site}: {exc}") from exc
