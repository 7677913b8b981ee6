"""Certificate decisions: what may be served, what is due, how certbot is asked."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from hostd.apply.renewal import retry_delay
from hostd.core.certificate import Certificate
from hostd.core.layout import embedded_layout
from hostd.core.settings import LETS_ENCRYPT, AcmeSettings
from hostd.edges.certbot import certbot_argv, certbot_environment

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def cert(names: set[str], start: datetime.datetime, days: int) -> Certificate:
    return Certificate(
        names=frozenset(names),
        not_before=start,
        not_after=start + days * DAY,
        serial="ab",
        issuer="Test CA",
        fullchain=Path("/x/fullchain.pem"),
        privkey=Path("/x/privkey.pem"),
    )


def test_a_certificate_is_served_only_for_domains_it_covers_while_valid() -> None:
    """HTTPS appears only with a certificate that covers every domain and has not expired."""
    c = cert({"a.test", "www.a.test"}, NOW - 10 * DAY, 90)
    assert c.usable(("a.test", "www.a.test"), NOW)
    assert c.usable(("a.test",), NOW)
    assert not c.usable(("a.test", "new.a.test"), NOW)
    assert not c.usable(("a.test",), NOW + 81 * DAY)
    assert not c.usable(("a.test",), NOW - 11 * DAY)


@pytest.mark.parametrize(
    ("days_left", "lifetime", "due"),
    [(60, 90, False), (31, 90, False), (29, 90, True), (3, 10, True), (4, 10, False)],
)
def test_renewal_is_due_with_a_third_of_the_lifetime_left_at_most_30_days(
    days_left: int, lifetime: int, due: bool
) -> None:
    """90-day certificates renew 30 days before expiry; short ones at a third."""
    c = cert({"a.test"}, NOW - (lifetime - days_left) * DAY, lifetime)
    assert c.due(NOW) is due


def test_failed_attempts_back_off_from_a_minute_up_to_six_hours() -> None:
    """Delays double per failure and stop growing at six hours."""
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert retry_delay(20) == 6 * 3600


def test_certbot_is_asked_for_one_lineage_per_site_in_hostds_folders() -> None:
    """certonly --webroot --cert-name SITE, non-interactive, certbot's folders under home."""
    layout = embedded_layout(Path("/srv/h"))
    acme = AcmeSettings(server="https://127.0.0.1:14000/dir", email="ops@example.test")
    argv = certbot_argv("certbot", layout, acme, "blog", ["blog.test", "www.blog.test"])
    assert argv[:6] == ["certbot", "certonly", "--webroot", "-w", "/srv/h/acme", "--cert-name"]
    assert argv[6] == "blog"
    assert argv[7:11] == ["-d", "blog.test", "-d", "www.blog.test"]
    assert "--non-interactive" in argv and "--agree-tos" in argv
    assert argv[argv.index("--config-dir") + 1] == "/srv/h/letsencrypt/config"
    assert argv[argv.index("--server") + 1] == "https://127.0.0.1:14000/dir"
    assert argv[argv.index("-m") + 1] == "ops@example.test"


def test_staging_and_no_email_are_passed_the_way_certbot_wants() -> None:
    """--staging never together with --server; no email means registering without one."""
    layout = embedded_layout(Path("/srv/h"))
    argv = certbot_argv("certbot", layout, AcmeSettings(server=LETS_ENCRYPT, staging=True),
                        "blog", ["blog.test"])  # fmt: skip
    assert "--staging" in argv and "--server" not in argv
    assert "--register-unsafely-without-email" in argv


def test_only_the_configured_ca_bundle_reaches_certbot() -> None:
    """A machine-wide REQUESTS_CA_BUNDLE never leaks in; hostd.toml's does."""
    assert "REQUESTS_CA_BUNDLE" not in certbot_environment(AcmeSettings(), "/h")
    env = certbot_environment(AcmeSettings(ca_bundle="/etc/pebble.pem"), "/h")
    assert env["REQUESTS_CA_BUNDLE"] == "/etc/pebble.pem"
