"""Two slots per site, against the real nginx, supervisord and gunicorn.

A change that needs new processes (env, workers, code) starts the new version in
the site's other slot beside the live one; it goes live only once it answers its
health gate through its own socket, and the old slot then drains and stops. Tried
as a user would: changes under load, a gate that fails, code that does not
import, and hostd killed in the middle of a switch.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hostd.edges.supervisor import XmlRpcSupervisor

from .harness import APPS, HostdUp, serves, site_yaml, wait_until
from .stress import WRK, start_wrk, stop_wrk

# imports slowly when BOOT_DELAY is set: a new version still on trial for a while
SLOW_APP = """\
import os
import time

time.sleep(float(os.environ.get("BOOT_DELAY", "0")))


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"slow says {os.environ.get('GREETING', 'hello')}\\n".encode()]
"""


def web_programs(up: HostdUp, site: str) -> dict[str, str]:
    """The Supervisor programs running `site`'s gunicorn (either slot), by state."""
    programs = XmlRpcSupervisor(up.home / "run" / "supervisor.sock").all_info()
    return {name: info.state for name, info in programs.items() if name in (site, f"{site}.slot-b")}


def slot(up: HostdUp, site: str) -> str:
    value = up.status()["sites"][site]["slot"]
    assert isinstance(value, str)
    return value


@pytest.mark.skipif(WRK is None, reason="wrk is not installed (apt-get install wrk)")
def test_env_and_worker_changes_under_load_fail_no_request(instance: HostdUp) -> None:
    """wrk on the changing site while its env changes four times and its worker count
    once: every answer 200, the new value served after each change, one slot left."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    assert slot(instance, "alpha") == "a"
    url = f"http://127.0.0.1:{instance.port}/"
    wrk = start_wrk(url, "alpha.test", instance.root, connections=4, seconds=300, pause_ms=1)
    try:
        for n in range(4):
            instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": f"v{n}"}))
            done = instance.reload()
            assert "alpha: changed" in done.stdout, done.stdout + done.stderr
            assert instance.get("alpha.test").body == f"alpha says v{n}\n"
        text = site_yaml(["alpha.test"], env={"GREETING": "v3"}).replace("workers: 1", "workers: 2")
        instance.write_site("alpha", text)
        assert "alpha: changed" in instance.reload().stdout
    finally:
        result = stop_wrk(wrk)
    print(result.output)
    assert result.requests > 500, "wrk hardly ran: no load to speak of"
    assert result.statuses == {200: result.requests}
    assert (result.non_2xx, result.errors) == (0, 0), result.socket_errors
    assert slot(instance, "alpha") == "b"  # five changes: a, b, a, b, a, b
    assert web_programs(instance, "alpha").keys() == {"alpha.slot-b"}


def test_a_new_version_failing_its_health_gate_keeps_the_live_one(instance: HostdUp) -> None:
    """A change whose health path answers 500: the new version is stopped with the
    reason, and the live slot serves on untouched. (Code that does not import:
    test_programs.py::test_a_broken_deploy_leaves_the_old_workers_serving.)"""
    app = instance.root / "app"
    shutil.copytree(APPS / "probe", app)
    instance.home.mkdir(parents=True)
    (instance.home / "hostd.toml").write_text("[apply]\nstart_timeout = 4\n")
    instance.write_site("alpha", site_yaml(["alpha.test"], root=app))
    instance.start()
    live_pid = instance.pid("alpha")

    failing = site_yaml(["alpha.test"], root=app, env={"GREETING": "never"})
    instance.write_site(
        "alpha", failing.replace("  workers: 1\n", "  workers: 1\n  health: /status/500\n")
    )
    done = instance.reload()
    assert done.returncode != 0 and "alpha: failed" in done.stdout, done.stdout
    assert "health check /status/500 answered 500 until the start timeout" in done.stdout
    assert instance.get("alpha.test").body == "alpha says hello\n"
    assert (slot(instance, "alpha"), instance.pid("alpha")) == ("a", live_pid)
    assert web_programs(instance, "alpha").keys() == {"alpha"}


def test_hostd_killed_in_the_middle_of_a_switch_restarts_to_one_live_slot(
    instance: HostdUp,
) -> None:
    """`hostd reload` killed while the new version is on trial (both slots running,
    traffic still on the old one), then hostd killed and started again: the slot the
    live generation names serves, and the other one is gone."""
    app = instance.root / "slow"
    app.mkdir(parents=True)
    (app / "slow.py").write_text(SLOW_APP)
    instance.write_site("alpha", site_yaml(["alpha.test"], root=app, wsgi="slow:app"))
    instance.start()
    wait_until(serves(instance, "alpha.test", "slow says hello\n"), what="alpha")

    slow = site_yaml(["alpha.test"], root=app, wsgi="slow:app",
                     env={"GREETING": "new", "BOOT_DELAY": "3"})  # fmt: skip
    instance.write_site("alpha", slow)
    reload = subprocess.Popen(
        [sys.executable, "-m", "hostd", "reload", "--home", str(instance.home)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=instance.environ(),
    )  # fmt: skip
    try:
        wait_until(lambda: "alpha.slot-b" in web_programs(instance, "alpha"), what="slot b")
        assert os.readlink(instance.home / "run" / "alpha.sock") == "alpha.a.sock"
        assert instance.get("alpha.test").body == "slow says hello\n"  # the old one serves
    finally:
        reload.send_signal(signal.SIGKILL)
        reload.wait(10)
    assert instance.proc is not None
    instance.proc.send_signal(signal.SIGKILL)
    instance.proc.wait(10)

    (instance.home / "run" / "up.json").unlink(missing_ok=True)
    instance.start()
    wait_until(serves(instance, "alpha.test", "slow says new\n"), what="the new version")
    assert web_programs(instance, "alpha").keys() == {"alpha.slot-b"}
    assert os.readlink(instance.home / "run" / "alpha.sock") == "alpha.b.sock"
    assert slot(instance, "alpha") == "b"
    assert Path(instance.home / "run" / "alpha.b.sock").exists()


def test_a_release_runs_before_the_new_version_and_a_failing_one_holds_it(
    instance: HostdUp,
) -> None:
    """`release:` runs once per new version with the site's env, before it serves;
    a failing one leaves the live version serving, its output in the site's hostd.log."""
    marker = instance.root / "released"
    release = f'release: sh -c "echo migrated for $GREETING >> {marker}"\n'
    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "v1"}) + release)
    instance.start()
    assert marker.read_text() == "migrated for v1\n"
    assert instance.get("alpha.test").body == "alpha says v1\n"
    assert "alpha: unchanged" in instance.reload().stdout
    assert marker.read_text() == "migrated for v1\n"  # nothing new, no release

    failing = 'release: sh -c "echo cannot migrate, no such table; exit 3"\n'
    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "v2"}) + failing)
    done = instance.reload()
    assert done.returncode != 0 and "alpha: failed" in done.stdout, done.stdout
    assert "release command failed" in done.stdout and "no such table" in done.stdout
    assert instance.get("alpha.test").body == "alpha says v1\n"
    assert web_programs(instance, "alpha").keys() == {"alpha"}
    logged = (instance.home / "log" / "alpha" / "hostd.log").read_text()
    assert '"event": "release-failed"' in logged and "cannot migrate, no such table" in logged
