"""Alerts: which of hostd's events a person must hear about, the message for each, and
when a repeat of the same alert is due. Pure: the notifier (`hostd.edges.notifier`)
sends them and records what it sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

# event -> what the alert says happened
ALERTED = {
    "certificate-failed": "a certificate could not be obtained or renewed",
    "crash-loop": "a site's program keeps crashing: hostd holds it back before it starts it again",
    "crash-loop-ended": "a site's program runs steadily again after a crash loop",
    "certificate-expiring": "a certificate expires within 14 days and was not renewed",
    "rollback": "an apply was rolled back: the previous generation serves",
    "apply-error": "an apply could not run (the sites folder missing or unreadable, a daemon down)",
    "daemon-restarted": "nginx or Supervisor had to be started again",
    "daemon-down": "nginx or Supervisor is not running: the sites it carries are not served",
}


@dataclass(frozen=True)
class Alert:
    event: str
    site: str | None
    summary: str
    fields: Mapping[str, Any]

    @property
    def key(self) -> str:
        """What counts as the same alert again: one event of one site (or daemon)."""
        return f"{self.event}:{self.site or self.fields.get('daemon') or '-'}"


def alert_of(record: Mapping[str, Any]) -> Alert | None:
    """The alert a hostd.log record raises, or None."""
    event = str(record.get("event", ""))
    if event not in ALERTED:
        return None
    site = record.get("site")
    fields = {k: v for k, v in record.items() if k not in ("event", "site", "ts")}
    return Alert(event, str(site) if site else None, ALERTED[event], fields)


def due(last_sent: float | None, now: float, repeat_after: float) -> bool:
    """True if an alert last sent at `last_sent` may be sent again at `now`."""
    return last_sent is None or now - last_sent >= repeat_after


def subject(alert: Alert, host: str) -> str:
    where = f" {alert.site}" if alert.site else ""
    return f"hostd on {host}:{where} {alert.event}"


def body_text(alert: Alert, host: str, suppressed: int) -> str:
    lines = [f"{alert.summary}.", ""]
    if alert.site:
        lines.append(f"site: {alert.site}")
    lines += [f"{key}: {value}" for key, value in alert.fields.items()]
    if suppressed:
        lines += ["", f"({suppressed} more of the same since the last message were not sent)"]
    lines += ["", f"hostd status / hostd logs {alert.site or 'SITE'} on {host} say more."]
    return "\n".join(lines) + "\n"


def webhook_body(alert: Alert, host: str, suppressed: int) -> dict[str, Any]:
    return {
        "host": host,
        "event": alert.event,
        "site": alert.site,
        "summary": alert.summary,
        "fields": dict(alert.fields),
        "suppressed": suppressed,
        "text": subject(alert, host),
    }


def email_message(
    alert: Alert, host: str, sender: str, recipients: list[str], suppressed: int
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject(alert, host)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content(body_text(alert, host, suppressed))
    return message


EXPIRY_WARNING = timedelta(days=14)


def expiring(not_after: Mapping[str, datetime], now: datetime) -> dict[str, int]:
    """The sites whose certificate ends within EXPIRY_WARNING of `now`: days left."""
    return {
        site: max(0, (end - now).days)
        for site, end in sorted(not_after.items())
        if end - now < EXPIRY_WARNING
    }


def daemon_changes(
    before: Mapping[str, int | None], now: Mapping[str, int | None]
) -> list[tuple[str, dict[str, Any]]]:
    """The events of daemons seen twice (name -> master pid, None: not running): one
    that stopped is down; one running under a new pid, or again, was restarted."""
    events: list[tuple[str, dict[str, Any]]] = []
    for name, pid in now.items():
        if name not in before or before[name] == pid:
            continue
        old = before[name]
        if pid is None:
            events.append(("daemon-down", {"daemon": name, "previous_pid": old}))
        else:
            events.append(("daemon-restarted", {"daemon": name, "pid": pid, "previous_pid": old}))
    return events
