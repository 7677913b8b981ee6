"""Logs per site against real nginx, supervisord, gunicorn and logrotate.

`hostd logs` shows and follows them, filtered by time, pattern and source;
`hostd logs --rotate` rotates them with the generated logrotate config while
requests keep coming, and nothing is lost or doubled.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from .harness import HostdUp, site_yaml, wait_until


class Tail:
    """A running `hostd logs -f`: its output lines, with when each arrived."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[tuple[float, str]] = []
        self.stderr = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def text(self) -> str:
        return "\n".join(line for _, line in list(self.lines))

    def arrival(self, needle: str) -> float | None:
        return next((at for at, line in list(self.lines) if needle in line), None)

    def wait_for(self, needle: str, timeout: float = 10.0) -> float:
        wait_until(lambda: self.arrival(needle) is not None, timeout, f"{needle!r} followed")
        found = self.arrival(needle)
        assert found is not None
        return found

    def settle(self, up: HostdUp, host: str) -> None:
        """Wait until the follower prints requests (it reads from its start position)."""
        deadline = time.monotonic() + 30
        while True:
            probe = f"/warmup-{uuid.uuid4().hex}"
            up.get(host, probe)
            try:
                self.wait_for(probe, 0.5)
                return
            except AssertionError:
                assert time.monotonic() < deadline, f"follower never printed:\n{self.text()}"

    def stop(self) -> None:
        """End the follower (if it still runs) and close its pipes."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()


@contextmanager
def following(up: HostdUp, *args: str) -> Iterator[Tail]:
    """`hostd logs -f ARGS` for the duration of the block; always ended and closed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hostd", "logs", *args, "-f", "--home", str(up.home)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=up.environ(),
    )  # fmt: skip
    tail = Tail(proc)
    try:
        yield tail
    finally:
        tail.stop()


def log_dir(up: HostdUp, site: str) -> Path:
    return up.home / "log" / site


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def logs(up: HostdUp, *args: str) -> list[str]:
    """The lines `hostd logs ARGS` prints."""
    return up.hostd("logs", *args, check=True).stdout.splitlines()


def started(up: HostdUp, site: str = "alpha") -> HostdUp:
    up.write_site(site, site_yaml([f"{site}.test"]))
    up.start()
    return up


def test_a_request_is_in_access_log_and_followed_within_a_second(instance: HostdUp) -> None:
    """A request's unique path reaches access.log and `hostd logs -f` in under a second."""
    started(instance)
    with following(instance, "alpha", "-n", "0") as tail:
        tail.settle(instance, "alpha.test")
        path = f"/unique-{uuid.uuid4().hex}"
        instance.get("alpha.test", path)
        answered = time.monotonic()
        arrived = tail.wait_for(path, timeout=5)
        assert arrived - answered < 1.0, f"followed after {arrived - answered:.2f}s"
        assert path in read(log_dir(instance, "alpha") / "access.log")
        line = next(line for _, line in tail.lines if path in line)
        assert line.startswith("access: ") and f"GET {path} HTTP/1.1" in line


def test_what_the_app_prints_is_in_app_log(instance: HostdUp) -> None:
    """A line the app prints lands in the site's app.log, beside gunicorn's own lines."""
    started(instance)
    marker = uuid.uuid4().hex
    instance.get("alpha.test", "/info", {"X-Test-Id": marker})
    app_log = log_dir(instance, "alpha") / "app.log"
    wait_until(lambda: f"probe: info for {marker}" in read(app_log), 5, "print in app.log")
    assert "[INFO] Booting worker" in read(app_log)


def test_a_rejected_site_file_is_in_hostd_log_naming_the_key(instance: HostdUp) -> None:
    """Breaking a site file writes a JSON line to its hostd.log naming file and key."""
    started(instance)
    path = instance.write_site("alpha", site_yaml(["alpha.test"]) + "  workers: 99\n")
    assert instance.reload().returncode == 1

    records = [
        json.loads(line) for line in read(log_dir(instance, "alpha") / "hostd.log").splitlines()
    ]
    rejected = [r for r in records if r["event"] == "site-rejected"]
    assert rejected, records
    assert str(path) in rejected[-1]["detail"] and "app.workers" in rejected[-1]["detail"]
    assert rejected[-1]["site"] == "alpha" and "ts" in rejected[-1]
    shown = logs(instance, "alpha", "--source", "hostd", "--grep", "site-rejected")
    assert shown and all(line.startswith("hostd: ") for line in shown)
    assert "app.workers" in shown[-1]


def test_status_shows_a_newer_error_from_hostd_log(instance: HostdUp) -> None:
    """`hostd status` shows the last error in the site's hostd.log when it is the newest."""
    started(instance)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    event = {"ts": stamp, "event": "crash-loop", "site": "alpha", "reason": "exited 3 times"}
    with (log_dir(instance, "alpha") / "hostd.log").open("a") as handle:
        handle.write(json.dumps(event) + "\n")

    alpha = instance.status()["sites"]["alpha"]
    assert alpha["last_error"] == "crash-loop: exited 3 times"
    assert "last error: crash-loop: exited 3 times" in instance.hostd("status", check=True).stdout


def test_rotation_under_load_loses_nothing_and_follow_goes_on(instance: HostdUp) -> None:
    """logrotate -f with the generated config while 200 requests arrive: each one is in
    exactly one of access.log.1 and access.log, and `hostd logs -f` follows across."""
    started(instance)
    folder = log_dir(instance, "alpha")
    run = uuid.uuid4().hex[:8]
    paths = [f"/load-{run}-{i:03d}" for i in range(200)]
    sent: list[str] = []
    failures: list[BaseException] = []

    def send() -> None:
        try:
            for path in paths:
                instance.get("alpha.test", path)
                sent.append(path)
                time.sleep(0.01)
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    with following(instance, "alpha", "-n", "0", "--source", "access") as tail:
        tail.settle(instance, "alpha.test")
        sender = threading.Thread(target=send)
        sender.start()
        try:
            wait_until(lambda: len(sent) >= 50, 30, "50 requests sent")
            rotated = instance.hostd("logs", "--rotate", "--force")
            during = len(sent)
        finally:
            sender.join(timeout=60)
        assert not failures, failures
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        assert during < len(paths), "the rotation ended after the last request: no overlap"

        old, new = folder / "access.log.1", folder / "access.log"
        wait_until(
            lambda: all(p + " " in read(old) + read(new) for p in paths), 10, "every request logged"
        )
        for path in paths:
            where = [read(old).count(f"GET {path} "), read(new).count(f"GET {path} ")]
            assert sorted(where) == [0, 1], f"{path}: {where} times in (old, new)"
        assert any(p in read(old) for p in paths) and any(p in read(new) for p in paths)
        assert sorted(f.name for f in folder.glob("access.log*")) == ["access.log", "access.log.1"]
        assert new.stat().st_mode & 0o777 == 0o640

        after = f"/after-rotation-{run}"
        instance.get("alpha.test", after)
        tail.wait_for(after, timeout=5)
        assert after in read(new) and after not in read(old)
        followed = tail.text()
        missing = [p for p in paths if f"GET {p} " not in followed]
        assert not missing, f"the follower lost {len(missing)} lines, first {missing[0]}"
        assert all(followed.count(f"GET {p} ") == 1 for p in paths)

    marker = uuid.uuid4().hex
    instance.get("alpha.test", "/info", {"X-Test-Id": marker})  # supervisord reopened app.log
    wait_until(lambda: marker in read(folder / "app.log"), 5, "print in the new app.log")
    assert marker not in read(folder / "app.log.1")
    assert "[INFO] Booting worker" in read(folder / "app.log.1")


def test_rotate_without_force_does_what_is_due_and_keeps_its_own_state(instance: HostdUp) -> None:
    """`hostd logs --rotate` runs logrotate with the instance's config and state file."""
    started(instance)
    instance.get("alpha.test", "/")
    done = instance.hostd("logs", "--rotate", check=True)
    assert "logrotate ran" in done.stdout
    state = instance.home / "state"
    conf = (state / "logrotate.conf").read_text()
    assert f"{log_dir(instance, 'alpha')}/access.log" in conf and "copytruncate" not in conf
    assert f'"{log_dir(instance, "alpha")}/access.log"' in (state / "logrotate.status").read_text()
    assert not (log_dir(instance, "alpha") / "access.log.1").exists()  # first run: not due


def test_logs_filters_since_grep_source_and_count(instance: HostdUp) -> None:
    """--since, --grep, --source and -n select lines as the README documents."""
    started(instance)
    first, second = f"first-{uuid.uuid4().hex}", f"second-{uuid.uuid4().hex}"
    instance.get("alpha.test", f"/info?{first}", {"X-Test-Id": first})
    time.sleep(1.2)
    between = datetime.now().isoformat(timespec="seconds")
    time.sleep(1.2)
    instance.get("alpha.test", f"/info?{second}", {"X-Test-Id": second})
    for i in range(25):
        instance.get("alpha.test", f"/many-{second}-{i}")
    access = log_dir(instance, "alpha") / "access.log"
    wait_until(lambda: f"/many-{second}-24" in read(access), 5, "requests logged")

    recent = "\n".join(logs(instance, "alpha", "--since", between, "--source", "access"))
    assert second in recent and first not in recent
    assert first in "\n".join(logs(instance, "alpha", "--since", "1h", "--source", "access"))
    assert logs(instance, "alpha", "--since", "2099-01-01T00:00") == []

    grepped = logs(instance, "alpha", "--grep", f"/many-{second}-2[0-4] ")
    assert len(grepped) == 5 and all(line.startswith("access: ") for line in grepped)
    prints = logs(instance, "alpha", "--grep", "probe: info for")
    assert prints == [f"app: probe: info for {first}", f"app: probe: info for {second}"]

    both = logs(instance, "alpha", "--source", "app", "--source", "access")
    assert {line.split(": ", 1)[0] for line in both} == {"app", "access"}
    assert all(line.startswith("hostd: ") for line in logs(instance, "alpha", "--source", "hostd"))

    assert len(logs(instance, "alpha", "--source", "access")) == 20  # -n defaults to 20
    last = logs(instance, "alpha", "-n", "1", "--source", "access")
    assert len(last) == 1 and f"/many-{second}-24 " in last[0]
    assert len(logs(instance, "alpha", "--grep", f"/many-{second}-")) == 25  # filters: all


def test_follow_ends_cleanly_on_ctrl_c(instance: HostdUp) -> None:
    """Ctrl-C ends `hostd logs -f` with exit 0 and no traceback."""
    started(instance)
    with following(instance, "alpha", "-n", "0") as tail:
        tail.settle(instance, "alpha.test")
        tail.proc.send_signal(signal.SIGINT)
        assert tail.proc.wait(timeout=10) == 0
    assert "Traceback" not in tail.stderr and tail.stderr == ""


def test_logs_usage_errors(instance: HostdUp) -> None:
    """No SITE, a SITE with --rotate, or --force alone are usage errors (exit 2)."""
    started(instance)
    for args in (["logs"], ["logs", "alpha", "--rotate"], ["logs", "alpha", "--force"]):
        done = instance.hostd(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "hostd logs: error:" in done.stderr
