"""Before asking the CA: does each domain reach this nginx on the HTTP port?

hostd puts a token in its ACME webroot and fetches it the way the CA will: the
domain's A record, the HTTP port, Host set to the domain. A site whose DNS or
port is wrong costs no CA attempt (and no failed-validation rate limit).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Sequence
from pathlib import Path

from hostd.edges.probe import tcp_get

TOKEN_PREFIX = "hostd-preflight-"


def addresses(domain: str, resolver: str) -> list[str]:
    """IPv4 addresses of `domain`: from the system, or from a DNS server "host:port"."""
    if not resolver:
        try:
            infos = socket.getaddrinfo(domain, None, socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror:
            return []
        return sorted({str(info[4][0]) for info in infos})
    # dnspython costs every command ~30 ms to import; only a set resolver needs it
    import dns.exception
    import dns.resolver

    host, _, port = resolver.rpartition(":")
    client = dns.resolver.Resolver(configure=False)
    client.nameservers = [host]
    client.port = int(port)
    try:
        answer = client.resolve(domain, "A", lifetime=5)
    except dns.exception.DNSException:
        return []
    return sorted(record.to_text() for record in answer)


def preflight_problem(
    domains: Sequence[str], webroot: Path, port: int, resolver: str
) -> str | None:
    """Why the CA could not reach this nginx for one of `domains`, or None."""
    token = secrets.token_urlsafe(24)
    name = TOKEN_PREFIX + secrets.token_hex(8)
    folder = webroot / ".well-known" / "acme-challenge"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(token)
    try:
        for domain in domains:
            found = addresses(domain, resolver)
            if not found:
                return f"{domain} does not resolve to an IPv4 address"
            url = f"http://{domain}:{port}/.well-known/acme-challenge/{name}"
            try:
                status, body = tcp_get(found[0], port, f"/.well-known/acme-challenge/{name}",
                                       domain, timeout=5)  # fmt: skip
            except OSError as exc:
                return f"{url} ({found[0]}) does not answer: {exc}"
            if status != 200 or body.decode(errors="replace").strip() != token:
                return f"{url} ({found[0]}) answered {status} without hostd's token"
    finally:
        path.unlink(missing_ok=True)
    return None


class HttpPreflight:
    """The real `hostd.apply.ports.Preflight`: through this nginx's HTTP port."""

    def __init__(self, webroot: Path, port: int, resolver: str) -> None:
        self.webroot = webroot
        self.port = port
        self.resolver = resolver

    def problem(self, domains: Sequence[str]) -> str | None:
        try:
            return preflight_problem(domains, self.webroot, self.port, self.resolver)
        except OSError as exc:  # the webroot cannot take the token
            return f"cannot put a token in {self.webroot}: {exc}"
