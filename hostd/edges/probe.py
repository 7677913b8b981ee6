"""Small HTTP probes: over a site's unix socket, or to hostd's own nginx."""

from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path


class UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket; the Host header is whatever the request sets."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _get(
    conn: http.client.HTTPConnection, path: str, host: str, scheme: str | None = None
) -> tuple[int, bytes]:
    headers = {"Host": host, "User-Agent": "hostd-probe"}
    if scheme is not None:  # as nginx tells the app (site.conf.j2)
        headers["X-Forwarded-Proto"] = scheme
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def unix_get(
    sock: Path, path: str, host: str, timeout: float = 5.0, scheme: str | None = None
) -> tuple[int, bytes]:
    """Status and body of GET `path` on a unix socket (telling the app the request
    came over `scheme`); OSError if nothing answers."""
    try:
        return _get(UnixConnection(sock, timeout), path, host, scheme)
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP answer on {sock}: {exc}") from exc


def tcp_get(
    address: str, port: int, path: str, host: str, timeout: float = 5.0
) -> tuple[int, bytes]:
    """Status and body of GET `path` at address:port; OSError if nothing answers."""
    try:
        return _get(http.client.HTTPConnection(address, port, timeout=timeout), path, host)
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP answer from {address}:{port}: {exc}") from exc


def served_certificate(address: str, port: int, server_name: str, timeout: float = 5.0) -> bytes:
    """The DER certificate a TLS server presents for `server_name` (not verified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((address, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise OSError(f"{address}:{port} presented no certificate for {server_name}")
    return der
