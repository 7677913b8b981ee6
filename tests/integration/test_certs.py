"""tls: auto against a real CA on loopback: pebble validates HTTP-01 through hostd's nginx."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from cryptography import x509

from .acme import Pebble
from .harness import HostdUp, site_yaml, wait_until

TLS = "tls: auto\n"


@pytest.fixture
def pebble(instance: HostdUp) -> Iterator[Pebble]:
    ca = Pebble(http_port=instance.port)
    try:
        ca.start()
        yield ca
    finally:
        ca.stop()


def configure(instance: HostdUp, pebble: Pebble, *, preflight: bool = True) -> None:
    instance.home.mkdir(parents=True, exist_ok=True)
    (instance.home / "hostd.toml").write_text(
        "[acme]\n"
        f'server = "{pebble.directory}"\n'
        'email = "ops@example.test"\n'
        f'ca_bundle = "{pebble.ca_bundle}"\n'
        f'resolver = "127.0.0.1:{pebble.dns_port}"\n'
        f"preflight = {'true' if preflight else 'false'}\n"
    )


def certs(instance: HostdUp) -> dict[str, dict[str, object]]:
    done = instance.hostd("certs", "--json", check=True)
    return {entry["site"]: entry for entry in json.loads(done.stdout)}


def https_get(instance: HostdUp, name: str, cafile: Path, path: str = "/") -> tuple[int, str]:
    """GET over TLS with SNI `name`, verifying the chain against `cafile`."""
    context = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection(
        "127.0.0.1", instance.https_port, timeout=10, context=context
    )
    conn.sock = context.wrap_socket(
        socket.create_connection(("127.0.0.1", instance.https_port), timeout=10),
        server_hostname=name,
    )
    try:
        conn.request("GET", path, headers={"Host": name})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def served_serial(instance: HostdUp, name: str) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", instance.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return f"{x509.load_der_x509_certificate(der).serial_number:x}"


def certbot_runs(instance: HostdUp, site: str) -> int:
    log = instance.home / "log" / site / "hostd.log"
    if not log.exists():
        return 0
    return sum(
        json.loads(line)["event"] == "certbot-start" for line in log.read_text().splitlines()
    )


def test_a_tls_site_gets_its_certificate_and_serves_https(
    instance: HostdUp, pebble: Pebble, tmp_path: Path
) -> None:
    """HTTP-01 through hostd's nginx, then HTTPS with a chain to pebble's root; others unharmed."""
    configure(instance, pebble)
    pebble.point("fail.test", "127.0.0.2")  # nothing of ours answers there
    instance.write_site("secure", site_yaml(["secure.test", "www.secure.test"], extra=TLS))
    instance.write_site("plain", site_yaml(["plain.test"]))
    instance.write_site("broken", site_yaml(["fail.test"], extra=TLS))
    instance.start()

    wait_until(lambda: certs(instance)["secure"]["serial"], timeout=90, what="certificate")
    wait_until(lambda: certs(instance)["secure"]["served_serial"], timeout=30, what="served")
    root = tmp_path / "pebble-root.pem"
    chain = Path(str(instance.home / "letsencrypt/config/live/secure/chain.pem")).read_bytes()
    root.write_bytes(pebble.root_certificate() + chain)

    assert https_get(instance, "secure.test", root) == (200, "secure says hello\n")
    assert https_get(instance, "www.secure.test", root)[0] == 200
    redirect = instance.get("secure.test", "/some/page?x=1")
    assert redirect.status == 301
    challenge = instance.get("secure.test", "/.well-known/acme-challenge/nothing-here")
    assert challenge.status == 404  # answered from the webroot, never redirected
    assert instance.get("plain.test").body == "plain says hello\n"
    with pytest.raises(ssl.SSLError):
        https_get(instance, "unknown.test", root)

    broken = certs(instance)["broken"]
    assert broken["serial"] is None
    assert "preflight" in str(broken["last_error"]) and "fail.test" in str(broken["last_error"])
    assert float(broken["next_attempt"]) > time.time()  # type: ignore[arg-type]
    assert certbot_runs(instance, "broken") == 0  # the CA was never asked
    status = instance.status()["sites"]
    assert status["secure"]["cert_expires"] and status["plain"]["cert_expires"] is None

    # the figures: the certificate's days left (`hostd stats`) and expiry (/metrics)
    expires = datetime.fromisoformat(status["secure"]["cert_expires"]).timestamp()

    def figures(site: str) -> dict[str, object]:
        return dict(json.loads(instance.hostd("stats", site, "--json", check=True).stdout))

    wait_until(lambda: figures("secure")["cert_not_after"] == expires, 10, "days left shown")
    assert 0 < float(figures("secure")["cert_days_left"]) <= 398  # type: ignore[arg-type]
    assert figures("plain")["cert_days_left"] is None

    # a reload and a restart ask the CA for nothing: the certificate is valid
    runs = certbot_runs(instance, "secure")
    attempt = certs(instance)["broken"]["last_attempt"]
    assert "secure: unchanged" in instance.reload().stdout
    instance.stop()
    (instance.home / "run" / "up.json").unlink(missing_ok=True)
    instance.start()
    time.sleep(2)
    assert certbot_runs(instance, "secure") == runs
    assert certs(instance)["broken"]["last_attempt"] == attempt  # no early retry

    # renewal: the new certificate is what nginx serves after one reload
    old = served_serial(instance, "secure.test")
    done = instance.hostd("certs", "renew", "--force")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "secure: certificate obtained (renewal forced)" in done.stdout
    new = certs(instance)["secure"]["serial"]
    assert new != old
    assert served_serial(instance, "secure.test") == new
    assert https_get(instance, "secure.test", root) == (200, "secure says hello\n")


def test_a_failed_validation_is_reported_with_certbots_reason(
    instance: HostdUp, pebble: Pebble
) -> None:
    """Without the preflight, the CA's own failure is kept with a next attempt."""
    configure(instance, pebble, preflight=False)
    pebble.point("elsewhere.test", "127.0.0.2")
    instance.write_site("elsewhere", site_yaml(["elsewhere.test"], extra=TLS))
    instance.start()

    wait_until(lambda: certs(instance)["elsewhere"]["last_error"], timeout=90, what="failure")
    entry = certs(instance)["elsewhere"]
    assert "certbot failed" in str(entry["last_error"])
    assert "127.0.0.2" in str(entry["last_error"]) or "connection" in str(entry["last_error"])
    assert float(entry["next_attempt"]) > time.time()  # type: ignore[arg-type]
    assert instance.get("elsewhere.test").body == "elsewhere says hello\n"  # HTTP still serves
    human = instance.hostd("certs").stdout
    assert "certificate: none yet (served over HTTP)" in human and "next attempt:" in human
    log = (instance.home / "log" / "elsewhere" / "hostd.log").read_text()
    assert '"event": "certbot-output"' in log  # certbot's whole output is kept
