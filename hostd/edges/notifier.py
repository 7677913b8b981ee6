"""Sends alerts (`hostd.core.alerts`) to the webhook and the mail server of [notify],
one message per alert, the same one again only after `repeat_after`; every decision is
recorded in /var/lib/hostd/alerts.json (HOME/state/alerts.json): when each alert was
last sent, how many repeats were held back, the last error in sending.

Sending runs in a thread of its own, so a slow receiver never holds up an apply.
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hostd.core.alerts import Alert, alert_of, due, email_message, webhook_body
from hostd.core.settings import NotifySettings
from hostd.edges.fs import write_atomic

logger = logging.getLogger("hostd")
TIMEOUT = 10.0  # seconds for one webhook call or one SMTP conversation


class Notifier:
    def __init__(self, settings: NotifySettings, record: Path, host: str) -> None:
        self.settings = settings
        self.record = record
        self.host = host
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def on_event(self, record: Mapping[str, Any]) -> None:
        """An EventLog listener: alert on the events that need a person."""
        alert = alert_of(record)
        if alert is None:
            return
        with self.lock:
            sent = self._read()
            entry = sent.get(alert.key, {})
            now = time.time()
            if not due(entry.get("last_sent"), now, self.settings.repeat_after):
                entry["suppressed"] = int(entry.get("suppressed", 0)) + 1
                sent[alert.key] = entry
                self._write(sent)
                return
            suppressed = int(entry.get("suppressed", 0))
            sent[alert.key] = {"last_sent": now, "suppressed": 0, "sent": entry.get("sent", 0) + 1}
            self._write(sent)
        thread = threading.Thread(target=self._send, args=(alert, suppressed), daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def wait(self, timeout: float = 2 * TIMEOUT) -> None:
        """Let messages on their way arrive (on the way out)."""
        for thread in list(self.threads):
            thread.join(timeout)

    def _send(self, alert: Alert, suppressed: int) -> None:
        errors = []
        if self.settings.webhook:
            try:
                self._post(webhook_body(alert, self.host, suppressed))
            except (OSError, ValueError) as exc:
                errors.append(f"webhook {self.settings.webhook}: {exc}")
        if self.settings.email_to:
            try:
                self._mail(alert, suppressed)
            except (OSError, smtplib.SMTPException) as exc:
                errors.append(f"e-mail via {self.settings.smtp_host}: {exc}")
        with self.lock:
            sent = self._read()
            entry = sent.setdefault(alert.key, {})
            entry["last_error"] = "; ".join(errors) or None
            self._write(sent)
        for error in errors:
            logger.warning("alert %s not sent: %s", alert.key, error)

    def _post(self, body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            self.settings.webhook,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "hostd"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()

    def _mail(self, alert: Alert, suppressed: int) -> None:
        recipients = [a.strip() for a in self.settings.email_to.split(",") if a.strip()]
        sender = self.settings.email_from or f"hostd@{self.host}"
        message = email_message(alert, self.host, sender, recipients, suppressed)
        with smtplib.SMTP(
            self.settings.smtp_host, self.settings.smtp_port, timeout=TIMEOUT
        ) as smtp:
            smtp.send_message(message)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, dict[str, Any]]) -> None:
        try:
            write_atomic(self.record, json.dumps(data, indent=2, sort_keys=True) + "\n", 0o644)
        except OSError as exc:
            logger.warning("cannot record alerts in %s: %s", self.record, exc)
