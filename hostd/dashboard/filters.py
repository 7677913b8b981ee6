"""Template filters: times and states as an operator reads them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask

from hostd.core.figures_text import seconds
from hostd.core.timing import ago, uptime

PROGRAM_CLASS = {
    "RUNNING": "success",
    "STARTING": "info",
    "BACKOFF": "warning",
    "STOPPING": "warning",
    "STOPPED": "secondary",
    "EXITED": "danger",
    "FATAL": "danger",
}
OUTCOME_CLASS = {
    "added": "success",
    "changed": "success",
    "reloaded": "success",
    "unchanged": "secondary",
    "removed": "secondary",
    "rejected": "danger",
    "failed": "danger",
}


def expiry(iso: str | None, now: datetime | None = None) -> str:
    """A certificate's expiry as "2026-12-01 (in 30 days)"; "-" if none."""
    if not iso:
        return "-"
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    days = (when - (now or datetime.now(UTC))).days
    left = f"in {days} days" if days >= 0 else f"expired {-days} days ago"
    return f"{when.date().isoformat()} ({left})"


def expiry_class(iso: str | None, now: datetime | None = None) -> str:
    """Bootstrap text colour for an expiry: red under a week, amber under a month."""
    if not iso:
        return "body-secondary"
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return "body-secondary"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    days = (when - (now or datetime.now(UTC))).days
    return "danger" if days < 7 else "warning" if days < 30 else "success"


_SITE_FILE = re.compile(r"/[^\s:'\"]*/([^/\s:'\"]+\.ya?ml)\b")


def short_paths(text: str) -> str:
    """`text` with site file paths cut to their names, for narrow cells."""
    return _SITE_FILE.sub(r"\1", text)


def clock(epoch: float, form: str = "%H:%M") -> str:
    """A moment of the figures' series in the dashboard's local time."""
    return datetime.fromtimestamp(epoch).strftime(form)


def register_filters(app: Flask) -> None:
    app.add_template_filter(uptime, "uptime")
    app.add_template_filter(ago, "ago")
    app.add_template_filter(short_paths, "short_paths")
    app.add_template_filter(expiry, "expiry")
    app.add_template_filter(expiry_class, "expiry_class")
    app.add_template_filter(seconds, "latency")
    app.add_template_filter(clock, "clock")
    app.add_template_filter(lambda state: PROGRAM_CLASS.get(state, "secondary"), "program_class")
    app.add_template_filter(
        lambda outcome: OUTCOME_CLASS.get(outcome, "secondary"), "outcome_class"
    )
