"""[notify]: one alert per event to a webhook (JSON) and by e-mail (SMTP), repeats held
back and recorded; tried against a real SMTP server (aiosmtpd) and an HTTP receiver."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from hostd.edges.nginx import read_pid

from .acme import Pebble
from .harness import APPS, HostdUp, free_port, site_yaml, wait_until
from .machine import Machine
from .test_system import ROOT_USER, Watch, app_copy, get, write_site


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def receiver() -> Iterator[tuple[list[dict[str, Any]], int]]:
    posts: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            posts.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield posts, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_vanished_sites_folder_alerts_once_by_webhook_and_e_mail(
    instance: HostdUp, inbox: tuple[Inbox, int], receiver: tuple[list[dict[str, Any]], int]
) -> None:
    mail, smtp_port = inbox
    posts, http_port = receiver
    up = instance
    up.watch = True
    up.home.mkdir(parents=True, exist_ok=True)
    (up.home / "hostd.toml").write_text(
        "[notify]\n"
        f'webhook = "http://127.0.0.1:{http_port}/hook"\n'
        'email_to = "ops@example.test"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\n'
    )
    up.write_site("alpha", site_yaml(["alpha.test"]))
    up.start()
    away = up.root / "sites.away"

    os.rename(up.sites, away)
    wait_until(lambda: posts and mail.messages, what="the alert sent both ways")
    assert posts[0]["event"] == "apply-error" and "is missing" in posts[0]["fields"]["error"]
    recipients, message = mail.messages[0]
    assert recipients == ["ops@example.test"]
    assert "apply-error" in message["Subject"]
    assert "is missing" in message.get_payload()
    os.rename(away, up.sites)
    wait_until(lambda: not up.status()["warnings"], what="the folder back")

    os.rename(up.sites, away)  # the same again: recorded, not sent
    record = up.home / "state" / "alerts.json"
    wait_until(lambda: json.loads(record.read_text())["apply-error:-"]["suppressed"] >= 1,
               what="the repeat held back")  # fmt: skip
    os.rename(away, up.sites)
    assert len(posts) == 1 and len(mail.messages) == 1
    sent = json.loads(record.read_text())["apply-error:-"]
    assert sent["sent"] == 1 and sent["last_error"] is None
    assert up.get("alpha.test").body == "alpha says hello\n"


def test_a_crash_loop_alerts_when_it_starts_and_when_it_ends(
    instance: HostdUp, receiver: tuple[list[dict[str, Any]], int]
) -> None:
    """An app that keeps dying, then is fixed (no change to its site file): two alerts."""
    posts, http_port = receiver
    up = instance
    app = up.root / "flaky"
    shutil.copytree(APPS / "flaky", app, ignore=shutil.ignore_patterns("__pycache__"))
    source = app / "flaky.py"
    source.write_text(source.read_text().replace(
        "    os.kill(os.getppid(), signal.SIGTERM)",
        "    if not os.path.exists(os.path.join(os.path.dirname(__file__), 'fixed')):\n"
        "        os.kill(os.getppid(), signal.SIGTERM)",
    ))  # fmt: skip
    up.home.mkdir(parents=True, exist_ok=True)
    (up.home / "hostd.toml").write_text(
        "[crashloop]\nmax_starts = 3\nwindow = 10\nbase_delay = 2\nmax_delay = 10\n"
        f'[notify]\nwebhook = "http://127.0.0.1:{http_port}/hook"\n'
    )
    up.write_site("flaky", site_yaml(["flaky.test"], root=app, wsgi="flaky:app"))
    up.start()
    wait_until(lambda: any(p["event"] == "crash-loop" for p in posts), timeout=40,
               what="the crash loop alert")  # fmt: skip
    (app / "fixed").write_text("")
    wait_until(lambda: any(p["event"] == "crash-loop-ended" for p in posts), timeout=60,
               what="the end of the crash loop alerted")  # fmt: skip
    assert [p["site"] for p in posts] == ["flaky", "flaky"]
    assert up.get("flaky.test").body == "flaky is up for now\n"


def test_nginx_killed_under_hostd_up_is_started_again_and_alerted_once(
    instance: HostdUp, receiver: tuple[list[dict[str, Any]], int]
) -> None:
    posts, http_port = receiver
    up = instance
    up.home.mkdir(parents=True, exist_ok=True)
    (up.home / "hostd.toml").write_text(f'[notify]\nwebhook = "http://127.0.0.1:{http_port}/h"\n')
    up.write_site("alpha", site_yaml(["alpha.test"]))
    up.start()
    pid = read_pid(up.home / "run" / "nginx.pid")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: posts, what="the restart alerted")
    assert [(p["event"], p["fields"]["daemon"], p["fields"]["by"]) for p in posts] == [
        ("daemon-restarted", "nginx", "hostd")
    ]
    assert posts[0]["fields"]["exit_code"] == -signal.SIGKILL
    wait_until(lambda: up.get("alpha.test").body == "alpha says hello\n", what="served again")


@pytest.mark.skipif(os.geteuid() != 0, reason="system mode runs programs as their user")
def test_the_machines_supervisord_stopped_and_started_again_alerts_each(
    receiver: tuple[list[dict[str, Any]], int],
) -> None:
    """System mode: Supervisor is the service manager's to restart; hostd says so."""
    posts, http_port = receiver
    machine = Machine()
    watch = Watch(machine)
    try:
        machine.boot()
        toml = machine.root / "etc/hostd/hostd.toml"
        toml.write_text(
            toml.read_text() + f'[notify]\nwebhook = "http://127.0.0.1:{http_port}/h"\n'
        )
        write_site(machine, "alpha", site_yaml(["alpha.test"], root=app_copy(machine)) + ROOT_USER)
        watch.start()
        wait_until(lambda: get(machine, "alpha.test") == "alpha says hello\n", what="alpha")
        machine.stop_supervisord()
        wait_until(lambda: posts, what="supervisord down alerted")
        machine.start_supervisord()
        wait_until(lambda: len(posts) == 2, what="supervisord back alerted")
        assert [(p["event"], p["fields"]["daemon"]) for p in posts] == [
            ("daemon-down", "supervisord"),
            ("daemon-restarted", "supervisord"),
        ]
        assert posts[1]["fields"]["pid"] == machine.supervisord.pid  # type: ignore[union-attr]
        wait_until(lambda: get(machine, "alpha.test") == "alpha says hello\n", 30, "served again")
    finally:
        watch.stop()
        strays = machine.cleanup()
        assert not strays, f"processes left behind: {strays}"


def test_a_certificate_within_14_days_of_its_end_alerts_once_and_doctor_warns(
    instance: HostdUp, receiver: tuple[list[dict[str, Any]], int]
) -> None:
    """A real certificate from pebble, valid for 10 days: one alert, the next check
    holds it back; `hostd doctor` warns of it."""
    posts, http_port = receiver
    up = instance
    pebble = Pebble(http_port=up.port, validity=10 * 86400)
    try:
        pebble.start()
        up.home.mkdir(parents=True, exist_ok=True)
        (up.home / "hostd.toml").write_text(
            f'[acme]\nserver = "{pebble.directory}"\nemail = "ops@example.test"\n'
            f'ca_bundle = "{pebble.ca_bundle}"\nresolver = "127.0.0.1:{pebble.dns_port}"\n'
            f'[notify]\nwebhook = "http://127.0.0.1:{http_port}/h"\n'
        )
        up.write_site("secure", site_yaml(["secure.test"], extra="tls: auto\n"))
        up.start()
        wait_until(lambda: posts, timeout=90, what="the expiry alert")
        record = up.home / "state" / "alerts.json"
        wait_until(lambda: json.loads(record.read_text())["certificate-expiring:secure"]
                   ["suppressed"] >= 1, timeout=90, what="the next check held back")  # fmt: skip
        assert [(p["event"], p["site"]) for p in posts] == [("certificate-expiring", "secure")]
        assert posts[0]["fields"]["days_left"] < 14
        doctor = json.loads(up.hostd("doctor", "--json").stdout)
        line = next(c for c in doctor["checks"] if c["check"] == "certificate: secure")
        assert line["level"] == "warning" and "expires in" in line["summary"]
    finally:
        pebble.stop()
