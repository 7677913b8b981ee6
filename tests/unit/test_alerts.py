"""Which events alert, what the message says, when a repeat is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hostd.core.alerts import (
    alert_of,
    body_text,
    daemon_changes,
    due,
    email_message,
    expiring,
    webhook_body,
)
from hostd.core.layout import Mode
from hostd.core.settings import NotifySettings, parse_settings


def test_only_events_that_need_a_person_alert() -> None:
    assert alert_of({"event": "nginx-reloaded"}) is None
    alert = alert_of({"ts": "t", "event": "certificate-failed", "site": "shop", "error": "x"})
    assert alert is not None and alert.key == "certificate-failed:shop"
    assert alert.fields == {"error": "x"}


def test_a_repeat_is_due_only_after_the_interval() -> None:
    assert due(None, 100.0, 60.0)
    assert not due(100.0, 159.0, 60.0)
    assert due(100.0, 160.0, 60.0)


def test_the_messages_name_the_host_the_site_and_what_was_held_back() -> None:
    alert = alert_of({"event": "crash-loop", "site": "shop", "reason": "exit 1"})
    assert alert is not None
    body = webhook_body(alert, "web1", 3)
    assert body["site"] == "shop" and body["suppressed"] == 3 and body["host"] == "web1"
    assert "3 more of the same" in body_text(alert, "web1", 3)
    message = email_message(alert, "web1", "hostd@web1", ["a@x.test", "b@x.test"], 0)
    assert message["Subject"] == "hostd on web1: shop crash-loop"
    assert message["To"] == "a@x.test, b@x.test"


def test_notify_settings_parse_and_default_to_off() -> None:
    assert not NotifySettings().enabled
    text = '[notify]\nwebhook = "https://hooks.example/x"\nrepeat_after = 3600\n'
    notify = parse_settings(text, Path("hostd.toml"), Mode.SYSTEM).notify
    assert notify.enabled and notify.repeat_after == 3600.0


def test_certificates_within_14_days_of_their_end_are_named_with_days_left() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ends = {"soon": now + timedelta(days=3, hours=2), "fine": now + timedelta(days=40),
            "gone": now - timedelta(days=1)}  # fmt: skip
    assert expiring(ends, now) == {"gone": 0, "soon": 3}


def test_leaving_a_crash_loop_alerts_too() -> None:
    assert alert_of({"event": "crash-loop-ended", "site": "shop"}) is not None


def test_a_daemon_seen_stopped_or_under_a_new_pid_is_an_event_the_first_look_is_not() -> None:
    assert daemon_changes({}, {"nginx": 10, "supervisord": None}) == []
    seen = {"nginx": 10, "supervisord": 20}
    assert daemon_changes(seen, {"nginx": 10, "supervisord": 20}) == []
    assert daemon_changes(seen, {"nginx": None, "supervisord": 21}) == [
        ("daemon-down", {"daemon": "nginx", "previous_pid": 10}),
        ("daemon-restarted", {"daemon": "supervisord", "pid": 21, "previous_pid": 20}),
    ]
    assert daemon_changes({"nginx": None}, {"nginx": 11}) == [
        ("daemon-restarted", {"daemon": "nginx", "pid": 11, "previous_pid": None})
    ]


def test_each_daemon_restarted_is_an_alert_of_its_own() -> None:
    nginx = alert_of({"event": "daemon-restarted", "daemon": "nginx", "pid": 3, "by": "hostd"})
    supervisord = alert_of({"event": "daemon-restarted", "daemon": "supervisord", "pid": 4})
    assert nginx is not None and supervisord is not None
    assert (nginx.key, supervisord.key) == (
        "daemon-restarted:nginx",
        "daemon-restarted:supervisord",
    )
    assert "had to be started again" in body_text(nginx, "web1", 0)
