"""`hostd restart`: the running `hostd up` exec's itself and its next self keeps nginx,
supervisord and every gunicorn running, under load, with hostd.toml read again."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .harness import HostdUp, site_yaml, wait_until
from .stress import WRK, start_wrk, stop_wrk


def daemons(up: HostdUp) -> dict[str, int]:
    """The pids of nginx's master, supervisord and each site's gunicorn master."""
    status = up.status()
    pids = {f"site {name}": entry["pid"] for name, entry in status["sites"].items()}
    for daemon in ("nginx", "supervisord"):
        pids[daemon] = int((up.home / "run" / f"{daemon}.pid").read_text())
    return pids


@pytest.mark.skipif(WRK is None, reason="wrk is not installed (apt-get install wrk)")
def test_a_restart_in_place_under_load_drops_no_request_and_keeps_every_process(
    instance: HostdUp,
) -> None:
    """wrk on alpha with a new connection per request while hostd restarts: no error,
    no non-2xx; nginx, supervisord and both gunicorns are the same processes after;
    the new self applies a site dropped after it and still stops everything."""
    instance.watch = True
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.start()
    assert instance.proc is not None
    before = daemons(instance)
    url = f"http://127.0.0.1:{instance.port}/"
    wrk = start_wrk(url, "alpha.test", instance.root, connections=4, seconds=120,
                    pause_ms=1, close=True)  # fmt: skip
    try:
        time.sleep(1.0)
        done = instance.hostd("restart")
        time.sleep(1.0)
    finally:
        result = stop_wrk(wrk)
    print(result.output)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restarted in place" in done.stdout
    assert result.requests > 500, "wrk hardly ran: no load to speak of"
    assert (result.non_2xx, result.errors) == (0, 0), result.socket_errors
    assert daemons(instance) == before
    assert instance.proc.poll() is None  # the same process, exec'd
    assert "kept nginx (pid" in instance.log()
    assert not (instance.home / "run" / "handover.json").exists()

    instance.write_site("gamma", site_yaml(["gamma.test"]))  # the new self watches
    wait_until(lambda: instance.get("gamma.test").body == "gamma says hello\n", 30, "gamma")
    assert instance.stop() == 0
    assert instance.leftovers() == []


def test_a_restart_reads_hostd_toml_again(instance: HostdUp) -> None:
    """The dashboard switched on in hostd.toml is served after a restart, by the
    same nginx (reloaded), while alpha's gunicorn runs on."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    before = daemons(instance)
    with pytest.raises(ConnectionError):  # an unknown Host: nginx closes (444)
        instance.get("dashboard.localhost", "/healthz")
    (instance.home / "hostd.toml").write_text("[dashboard]\nenabled = true\nworkers = 1\n")
    done = instance.hostd("restart")
    assert done.returncode == 0, done.stdout + done.stderr
    wait_until(lambda: instance.get("dashboard.localhost", "/healthz").body == "ok\n", 60,
               "the dashboard served")  # fmt: skip
    after = daemons(instance)
    assert {k: after[k] for k in before} == before


def test_a_reload_asked_during_a_restart_in_place_is_answered(instance: HostdUp) -> None:
    """`hostd reload alpha` sent while hostd restarts: answered by one self or the
    next (the request waits in run/.reloads/, the signal is held across the exec)."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    assert instance.proc is not None
    argv = [sys.executable, "-m", "hostd"]
    home = ["--home", str(instance.home)]
    env = instance.environ()
    for _ in range(3):
        restart = subprocess.Popen([*argv, "restart", *home], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
        time.sleep(0.2)
        reload = subprocess.run([*argv, "reload", "alpha", *home], capture_output=True,
                                text=True, env=env, timeout=120)  # fmt: skip
        said, _ = restart.communicate(timeout=120)
        assert restart.returncode == 0, said
        assert reload.returncode == 0, reload.stdout + reload.stderr
        assert "alpha: reloaded" in reload.stdout
    assert instance.proc.poll() is None
    assert instance.get("alpha.test").body == "alpha says hello\n"


def test_a_stale_handover_record_is_not_trusted(instance: HostdUp) -> None:
    """run/handover.json naming processes that are not this hostd's children (left by a
    restart that never came back, say): `hostd up` starts afresh and leaves them be."""
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        run = instance.home / "run"
        run.mkdir(parents=True)
        (run / "handover.json").write_text(
            json.dumps({"nginx": bystander.pid, "supervisord": bystander.pid})
        )
        instance.write_site("alpha", site_yaml(["alpha.test"]))
        instance.start()
        assert instance.get("alpha.test").body == "alpha says hello\n"
        assert "restarted in place" not in instance.log()
        assert bystander.poll() is None
        assert not (run / "handover.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_restart_without_a_running_hostd_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hostd", "restart", "--home", str(tmp_path / "h")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    assert "hostd" in done.stderr
