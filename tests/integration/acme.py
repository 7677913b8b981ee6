"""Let's Encrypt's test CA on loopback: pebble and its DNS stand-in, for real HTTP-01.

pebble-challtestsrv answers every A query with 127.0.0.1 (and no AAAA), so the
CA validates against hostd's nginx; per-name records can send a name elsewhere.
pebble's own HTTPS listener needs a certificate, made here with a throwaway CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .harness import free_port

START_TIMEOUT = 30.0


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_listener_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signs for localhost/127.0.0.1: (ca, cert, key) files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("hostd test CA"))
        .issuer_name(_name("hostd test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclass
class Pebble:
    """pebble validating HTTP-01 on `http_port` (hostd's nginx), with its own DNS."""

    http_port: int
    validity: int = 7776000  # seconds a certificate is valid (pebble's default: 5 years)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp")))
    acme_port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    dns_port: int = field(default_factory=free_port)
    dns_management_port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.acme_port}/dir"

    @property
    def ca_bundle(self) -> Path:
        """What certbot must trust to talk to pebble."""
        return self.root / "ca.pem"

    @property
    def log(self) -> Path:
        return self.root / "pebble.log"

    def start(self) -> None:
        ca, cert, key = make_listener_certificate(self.root)
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.acme_port}",
                "managementListenAddress": f"127.0.0.1:{self.management_port}",
                "certificate": str(cert),
                "privateKey": str(key),
                "httpPort": self.http_port,
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
                "certificateValidityPeriod": self.validity,
            }
        }
        (self.root / "pebble.json").write_text(json.dumps(config))
        with (self.root / "challtestsrv.log").open("wb") as out:
            self.processes.append(
                subprocess.Popen(
                    [
                        "pebble-challtestsrv",
                        "-http01",
                        "",
                        "-https01",
                        "",
                        "-tlsalpn01",
                        "",
                        "-dns01",
                        f"127.0.0.1:{self.dns_port}",
                        "-management",
                        f"127.0.0.1:{self.dns_management_port}",
                        "-defaultIPv6",
                        "",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0",
               "PATH": "/usr/bin:/bin"}  # fmt: skip
        with self.log.open("wb") as out:
            self.processes.append(
                subprocess.Popen(
                    [
                        "pebble",
                        "-config",
                        str(self.root / "pebble.json"),
                        "-dnsserver",
                        f"127.0.0.1:{self.dns_port}",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.root,
                )
            )
        context = ssl.create_default_context(cafile=str(ca))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(self.directory, context=context, timeout=2):
                    break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"pebble did not start:\n{self.log.read_text()}") from exc
                time.sleep(0.1)
        self.wait_dns()

    def wait_dns(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                urllib.request.urlopen(
                    f"http://127.0.0.1:{self.dns_management_port}/set-default-ipv6",
                    data=b'{"ip": ""}', timeout=2,
                ).close()  # fmt: skip
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def point(self, host: str, address: str) -> None:
        """Make `host` resolve to `address` (A record) in pebble's DNS."""
        body = json.dumps({"host": host, "addresses": [address]}).encode()
        urllib.request.urlopen(
            f"http://127.0.0.1:{self.dns_management_port}/add-a", data=body, timeout=5
        ).close()

    def root_certificate(self) -> bytes:
        """The root that issued (this run's) certificates, from pebble's management API."""
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            data: bytes = response.read()
            return data

    def orders_for(self, name: str) -> int:
        """How many certificate orders pebble saw naming `name`."""
        return sum(1 for line in self.log.read_text().splitlines()
                   if "order" in line.lower() and name in line)  # fmt: skip

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)
