"""System mode: `hostd watch` plugged into a machine's own nginx and supervisord."""

from __future__ import annotations

import grp
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import APPS, START_TIMEOUT, HostdUp, can_connect_as, site_yaml, wait_until
from .machine import Machine

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="system mode runs programs as their user: needs root"
)
ROOT_USER = "  user: root\n"


class Watch:
    """`hostd watch --root ROOT` and the commands that address it."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.proc: subprocess.Popen[str] | None = None
        self.output = machine.root / "watch.out"

    def start(self) -> None:
        with self.output.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hostd", "watch", "--root", str(self.machine.root)],
                stdout=out, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        ready = self.machine.root / "run/hostd/up.json"
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():
            assert self.proc.poll() is None, self.output.read_text()
            assert time.monotonic() < deadline, self.output.read_text()
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(60) == 0

    def hostd(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hostd", *args, "--root", str(self.machine.root)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip


@pytest.fixture
def machine() -> Iterator[Machine]:
    box = Machine()
    try:
        box.boot()
        yield box
    finally:
        strays = box.cleanup()
        assert not strays, f"processes left behind: {strays}"


def get(machine: Machine, host: str) -> str:
    up = HostdUp(root=machine.root, port=machine.port)
    return up.get(host).body


def write_site(machine: Machine, name: str, text: str) -> None:
    tmp = machine.sites / f".{name}.tmp"
    tmp.write_text(text)
    tmp.replace(machine.sites / f"{name}.yaml")


def app_copy(machine: Machine) -> Path:
    """The probe app where any user can read it."""
    app = machine.root / "srv" / "probe"
    shutil.copytree(APPS / "probe", app)
    return app


def test_watch_serves_sites_through_the_machines_nginx_and_supervisor(machine: Machine) -> None:
    """Hooks go in once, Debian's default site steps aside, and sites are served."""
    app = app_copy(machine)
    write_site(machine, "alpha", site_yaml(["alpha.test"], root=app) + ROOT_USER)
    watch = Watch(machine)
    try:
        watch.start()
        assert get(machine, "alpha.test") == "alpha says hello\n"
        with pytest.raises(ConnectionError):
            get(machine, "unknown.test")  # hostd's catch-all, not Debian's welcome page

        hook = (machine.root / "etc/nginx/conf.d/hostd.conf").read_text()
        assert f"include {machine.root}/var/lib/hostd/live/nginx/hostd.conf;" in hook
        supervisor_conf = (machine.root / "etc/supervisor/supervisord.conf").read_text()
        assert f"{machine.root}/var/lib/hostd/live/supervisor/programs/*.conf" in supervisor_conf
        assert not (machine.root / "etc/nginx/sites-enabled/default").exists()
        assert (machine.root / "run/hostd/alpha/app.sock").is_socket()
        # nginx (www-data) reached the app above; another local user cannot
        run = machine.root / "run/hostd/alpha"
        assert run.stat().st_mode & 0o777 == 0o750
        assert run.stat().st_gid == grp.getgrnam("www-data").gr_gid
        assert not can_connect_as("nobody", run / "app.sock")
        assert (machine.root / "var/log/alpha/access.log").exists()
        rotation = (machine.root / "etc/logrotate.d/hostd").read_text()
        assert f"{machine.root}/var/log/alpha/access.log" in rotation

        write_site(machine, "alpha", site_yaml(["alpha.test"], root=app, env={"GREETING": "hi"})
                   + ROOT_USER)  # fmt: skip
        wait_until(lambda: get(machine, "alpha.test") == "alpha says hi\n", what="watched change")
        status = watch.hostd("status", "--json")
        assert status.returncode == 0 and '"alpha"' in status.stdout
        # `hostd reload alpha` is answered by the watching daemon
        taker = machine.root / "run/hostd/.reloads/taker"
        assert watch.proc is not None and taker.read_text() == f"{watch.proc.pid}\n"
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "hostd", "reload", "alpha",
             "--root", str(machine.root)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0 and "alpha: reloaded" in done.stdout, done.stdout
        assert "hostd.runtime.wiring" not in done.stderr  # the daemon did it
        assert get(machine, "alpha.test") == "alpha says hi\n"
    finally:
        watch.stop()


def test_stopping_watch_keeps_the_sites_serving_and_a_restart_converges(
    machine: Machine,
) -> None:
    """hostd down means no changes applied, not sites down; back up, it catches up."""
    app = app_copy(machine)
    write_site(machine, "alpha", site_yaml(["alpha.test"], root=app) + ROOT_USER)
    watch = Watch(machine)
    try:
        watch.start()
        watch.stop()
        assert get(machine, "alpha.test") == "alpha says hello\n"

        write_site(machine, "beta", site_yaml(["beta.test"], root=app) + ROOT_USER)
        watch.start()
        wait_until(lambda: get(machine, "beta.test") == "beta says hello\n", what="beta")
        assert get(machine, "alpha.test") == "alpha says hello\n"
        done = watch.hostd("reload")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "alpha: unchanged" in done.stdout and "beta: unchanged" in done.stdout
    finally:
        watch.stop()


def test_hostd_restart_execs_watch_in_place(machine: Machine) -> None:
    """`hostd restart` of `hostd watch`: the same process carries on, the site's
    gunicorn is untouched, and the new self applies what changed meanwhile."""
    app = app_copy(machine)
    write_site(machine, "alpha", site_yaml(["alpha.test"], root=app) + ROOT_USER)
    watch = Watch(machine)
    try:
        watch.start()
        assert watch.proc is not None
        before = watch.hostd("status", "--json").stdout
        done = watch.hostd("restart")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "restarted in place" in done.stdout
        assert watch.proc.poll() is None
        assert _alpha_pid(before) == _alpha_pid(watch.hostd("status", "--json").stdout)
        write_site(machine, "beta", site_yaml(["beta.test"], root=app) + ROOT_USER)
        wait_until(lambda: get(machine, "beta.test") == "beta says hello\n", what="beta")
        assert "restarting in place" in watch.output.read_text()
    finally:
        watch.stop()


def _alpha_pid(status_json: str) -> int:
    return int(json.loads(status_json)["sites"]["alpha"]["pid"])


def test_a_site_whose_user_does_not_exist_is_rejected(machine: Machine) -> None:
    """`user:` must name a user of this machine; the file, line and key say which."""
    app = app_copy(machine)
    write_site(machine, "alpha", site_yaml(["alpha.test"], root=app) + ROOT_USER)
    write_site(machine, "ghost", site_yaml(["ghost.test"], root=app) + "  user: no-such-user\n")
    watch = Watch(machine)
    try:
        watch.start()
        done = watch.hostd("reload")
        assert done.returncode == 1
        line = next(line for line in done.stdout.splitlines() if line.startswith("ghost:"))
        assert "app.user" in line and "'no-such-user' does not exist" in line
        assert get(machine, "alpha.test") == "alpha says hello\n"
    finally:
        watch.stop()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    """systemd-analyze finds nothing wrong with hostd.service."""
    unit = Path(__file__).resolve().parents[2] / "systemd" / "hostd.service"
    hostd = Path(sys.executable).parent / "hostd"
    copy = tmp_path / "hostd.service"
    copy.write_text(unit.read_text().replace("/usr/local/bin/hostd", str(hostd)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "hostd.service" in line
        and "nginx.service" not in line
        and "supervisor.service" not in line
    ]
    assert done.returncode == 0 or not problems, done.stdout + done.stderr
    assert not problems, problems
