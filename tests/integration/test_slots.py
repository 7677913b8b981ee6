"""Two slots per site, against the real nginx, supervisord and gunicorn.

A change that needs new processes (env, workers, code) starts the new version in
the site's other slot beside the live one; it goes live only once it answers its
health gate through its own socket, and the old slot then drains and stops. Tried
as a user would: changes under load, a gate that fails, code that does not
import, and hostd killed in the middle of a switch.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hostd.edges.supervisor import XmlRpcSupervisor

from .harness import APPS, HostdUp, serves, site_yaml, wait_until
from .machine import Machine
from .stress import WRK, start_wrk, stop_wrk
from .test_system import ROOT_USER, Watch, app_copy, get, write_site
from .test_system import machine as machine  # the fixture

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
    alpha = instance.status()["sites"]["alpha"]
    assert alpha["version"] == 6
    assert alpha["previous"]["version"] == 5 and alpha["previous"]["slot"] == "a"
    assert alpha["previous"]["warm"]  # kept running for a rollback, serving nothing
    assert web_programs(instance, "alpha").keys() == {"alpha", "alpha.slot-b"}
    programs = XmlRpcSupervisor(instance.home / "run" / "supervisor.sock").all_info()
    for name, info in programs.items():
        # each version's gunicorn leads a session of its own, its workers in it
        children = Path(f"/proc/{info.pid}/task/{info.pid}/children").read_text().split()
        assert children and os.getsid(info.pid) == info.pid, name
        assert {os.getsid(int(child)) for child in children} == {info.pid}, name


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
    traffic still on the old one), then hostd killed and started again: the live
    generation still named the old version, so the restart serves it while the new
    one goes through its gate again, and one slot is left."""
    app = instance.root / "slow"
    app.mkdir(parents=True)
    (app / "slow.py").write_text(SLOW_APP)
    instance.home.mkdir(parents=True)
    (instance.home / "hostd.toml").write_text("[apply]\nwarm_seconds = 0\n")
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
    live_program = instance.home / "state" / "live" / "supervisor" / "programs" / "alpha.conf"
    try:
        wait_until(lambda: "alpha.slot-b" in web_programs(instance, "alpha"), what="slot b")
        assert os.readlink(instance.home / "run" / "alpha.sock") == "alpha.a.sock"
        assert instance.get("alpha.test").body == "slow says hello\n"  # the old one serves
        assert "[program:alpha]" in live_program.read_text()  # and the live generation's
    finally:
        reload.send_signal(signal.SIGKILL)
        reload.wait(10)
    assert instance.proc is not None
    instance.proc.send_signal(signal.SIGKILL)
    instance.proc.wait(10)
    assert "[program:alpha]" in live_program.read_text()
    assert "GREETING" not in live_program.read_text()

    (instance.home / "run" / "up.json").unlink(missing_ok=True)
    instance.start()  # the old version serves while the start applies the change
    started = instance.log()[instance.log().rindex("while starting") :]
    assert "alpha: changed" in started  # through the gate this time
    assert instance.get("alpha.test").body == "slow says new\n"
    assert web_programs(instance, "alpha").keys() == {"alpha.slot-b"}
    assert os.readlink(instance.home / "run" / "alpha.sock") == "alpha.b.sock"
    assert slot(instance, "alpha") == "b"


def test_rollback_to_the_warm_slot_then_to_a_cold_one(instance: HostdUp) -> None:
    """`hostd rollback` right after a change: the old slot, kept warm, serves again at
    once (same process); the site file's version waits until the file changes. Once
    the warm time is over, a rollback starts the previous version anew."""
    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "v1"}))
    instance.start()
    first = instance.pid("alpha")
    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "v2"}))
    assert "alpha: changed" in instance.reload().stdout
    assert instance.get("alpha.test").body == "alpha says v2\n"

    done = instance.hostd("rollback", "alpha")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "alpha: rolled back: version 1 serves again in slot a, from its warm slot" in done.stdout
    assert instance.get("alpha.test").body == "alpha says v1\n"
    alpha = instance.status()["sites"]["alpha"]
    assert (alpha["version"], alpha["slot"], alpha["pid"]) == (1, "a", first)
    assert alpha["previous"]["version"] == 2 and alpha["previous"]["warm"]
    assert alpha["held_by_rollback"]
    assert "alpha: unchanged" in instance.reload().stdout  # the file still says v2: held
    assert instance.get("alpha.test").body == "alpha says v1\n"

    # v3 with its old slot warm for one second only: after that, a cold rollback
    (instance.home / "hostd.toml").write_text("[apply]\nwarm_seconds = 1\n")
    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "v3"}))
    assert "alpha: changed" in instance.reload().stdout
    wait_until(lambda: web_programs(instance, "alpha").keys() == {"alpha.slot-b"},
               what="the warm slot to stop")  # fmt: skip
    assert not instance.status()["sites"]["alpha"]["previous"]["warm"]
    done = instance.hostd("rollback", "alpha", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "started anew" in json.loads(done.stdout)["sites"][0]["detail"]
    assert instance.get("alpha.test").body == "alpha says v1\n"
    assert instance.pid("alpha") not in (first, None)

    done = instance.hostd("rollback", "nosuch")
    assert done.returncode == 2 and "unknown site: nosuch" in done.stderr


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


@pytest.mark.skipif(os.geteuid() != 0, reason="system mode needs root")
def test_system_mode_keeps_the_old_slot_warm_and_rolls_back_to_it(
    machine: Machine,
) -> None:
    """Against the machine's own nginx and Supervisor (their include glob): a change
    goes live through its trial, the old slot stays warm, and a rollback returns to
    it at once."""
    app = app_copy(machine)
    write_site(machine, "alpha", site_yaml(["alpha.test"], root=app) + ROOT_USER)
    watch = Watch(machine)
    try:
        watch.start()
        assert get(machine, "alpha.test") == "alpha says hello\n"
        text = site_yaml(["alpha.test"], root=app, env={"GREETING": "hi"}) + ROOT_USER
        write_site(machine, "alpha", text)
        wait_until(lambda: get(machine, "alpha.test") == "alpha says hi\n", what="the change")
        done = watch.hostd("rollback", "alpha")
        assert done.returncode == 0 and "from its warm slot" in done.stdout, done.stdout
        assert get(machine, "alpha.test") == "alpha says hello\n"
        alpha = json.loads(watch.hostd("status", "--json").stdout)["sites"]["alpha"]
        assert (alpha["version"], alpha["slot"], alpha["previous"]["warm"]) == (1, "a", True)
    finally:
        watch.stop()
