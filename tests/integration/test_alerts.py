"""[notify]: one alert per event to a webhook (JSON) and by e-mail (SMTP), repeats held
back and recorded; tried against a real SMTP server (aiosmtpd) and an HTTP receiver."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from .harness import HostdUp, free_port, site_yaml, wait_until


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
