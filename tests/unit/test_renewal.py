"""Certificate renewal in memory: what is asked of the CA, when, and what is kept,
against the fakes of `hostd.testing` (the real run is tests/integration/test_certs.py)."""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from hostd.apply.renewal import CertManager
from hostd.core.certificate import Certificate, now_utc
from hostd.core.site import Site, parse_site
from hostd.testing import (
    MEMORY,
    FakeCertbot,
    FakeCertStore,
    FakeLock,
    FakePreflight,
    RecordingEvents,
)


def secure(name: str, *domains: str) -> Site:
    text = (
        f"domains: [{', '.join(domains)}]\napp: {{root: /srv/apps/{name}, wsgi: '{name}:app'}}\n"
        "tls: auto\n"
    )
    return parse_site(MEMORY / "sites.d" / f"{name}.yaml", text)


def issued(site: str, domains: Sequence[str], days: int = 90, age: int = 0) -> Certificate:
    start = now_utc() - datetime.timedelta(days=age)
    return Certificate(
        names=frozenset(domains),
        not_before=start,
        not_after=start + datetime.timedelta(days=days),
        serial=f"{abs(hash((site, age))):x}",
        issuer="Pebble Intermediate CA",
        fullchain=MEMORY / site / "fullchain.pem",
        privkey=MEMORY / site / "privkey.pem",
    )


@dataclass
class Renewal:
    """A CertManager over fakes, with the fakes at hand."""

    store: FakeCertStore = field(default_factory=FakeCertStore)
    preflight: FakePreflight = field(default_factory=FakePreflight)
    events: RecordingEvents = field(default_factory=RecordingEvents)

    def __post_init__(self) -> None:
        self.certbot = FakeCertbot(self.store, issued)
        self.certs = CertManager(self.store, self.certbot, self.preflight, self.events, FakeLock())


def test_a_missing_certificate_is_obtained_once() -> None:
    renewal = Renewal()
    sites = {"shop": secure("shop", "shop.test", "www.shop.test")}
    [result] = renewal.certs.run(sites)
    assert result.ok and result.detail == "certificate obtained (missing)"
    assert renewal.certs.run(sites) == []  # valid now: never asked again
    assert renewal.certbot.calls == ["shop"]
    assert renewal.events.named("certificate-issued")


def test_a_failure_backs_off_and_says_why() -> None:
    """certbot's reason is kept, the next attempt waits a minute, then doubles."""
    renewal = Renewal()
    certs, store = renewal.certs, renewal.store
    renewal.certbot.failing["shop"] = "Type: urn:ietf:params:acme:error:connection\nDetail: refused"
    sites = {"shop": secure("shop", "shop.test")}
    [first] = certs.run(sites)
    assert not first.ok and "Detail: refused" in first.detail
    attempts = store.attempts("shop")
    assert attempts.failures == 1 and 55 < attempts.next_attempt - time.time() <= 60
    assert certs.run(sites) == []  # still backing off
    attempts.next_attempt = 0.0
    certs.run(sites)
    assert store.attempts("shop").failures == 2
    assert 115 < store.attempts("shop").next_attempt - time.time() <= 120


def test_a_failed_preflight_costs_no_ca_request() -> None:
    renewal = Renewal()
    renewal.preflight.problems["shop.test"] = "shop.test does not resolve to an IPv4 address"
    [result] = renewal.certs.run({"shop": secure("shop", "shop.test")})
    assert not result.ok and result.detail.startswith("preflight: shop.test does not resolve")
    assert renewal.certbot.calls == []


def test_due_and_changed_domains_renew_while_valid_ones_wait() -> None:
    renewal = Renewal()
    certs, store, certbot = renewal.certs, renewal.store, renewal.certbot
    store.certificates["due"] = issued("due", ["due.test"], days=90, age=70)
    store.certificates["grown"] = issued("grown", ["grown.test"])
    store.certificates["fine"] = issued("fine", ["fine.test"])
    sites = {
        "due": secure("due", "due.test"),
        "grown": secure("grown", "grown.test", "www.grown.test"),
        "fine": secure("fine", "fine.test"),
    }
    details = {r.site: r.detail for r in certs.run(sites)}
    assert details == {"due": "certificate obtained (due)",
                       "grown": "certificate obtained (domains changed)"}  # fmt: skip
    assert sorted(certbot.calls) == ["due", "grown"]


def test_another_run_holding_the_lock_is_left_alone() -> None:
    store = FakeCertStore()
    certbot = FakeCertbot(store, issued)
    busy = CertManager(store, certbot, None, RecordingEvents(), FakeLock(busy=True))
    assert busy.run({"shop": secure("shop", "shop.test")}) == [] and certbot.calls == []
