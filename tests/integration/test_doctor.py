"""`hostd doctor` against a real instance, as an operator watching a box would run it."""

from __future__ import annotations

import json
import subprocess

from hostd.edges.nginx import read_pid
from tests.integration.harness import HostdUp, serves, site_yaml, wait_until


def test_doctor_reports_the_live_sites_costs_and_a_daemon_short_of_open_files(
    instance: HostdUp,
) -> None:
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.write_site("beta", site_yaml(["beta.test"]))
    (instance.home).mkdir(parents=True, exist_ok=True)
    (instance.home / "hostd.toml").write_text("[workers]\nmax_total = 4\n")
    instance.start()
    wait_until(serves(instance, "alpha.test", "alpha says hello\n"), what="alpha")
    wait_until(serves(instance, "beta.test", "beta says hello\n"), what="beta")

    done = instance.hostd("doctor", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["level"] == "ok"
    checks = {c["check"]: c for c in report["checks"]}
    assert {c["level"] for c in checks.values()} == {"ok"}
    # two sites of one worker each: 2 workers and 2 masters, all four running
    assert (
        "2 site(s) run 2 worker(s) and 2 master(s): 4 processes (4 running"
        in (checks["gunicorn processes"]["summary"])
    )
    assert checks["gunicorn worker cap"]["summary"] == "2 of 4 workers used"

    # the running nginx is left with 16 open files: too few for 2 sites' logs
    pid = read_pid(instance.home / "run" / "nginx.pid")
    assert pid is not None
    subprocess.run(["prlimit", f"--pid={pid}", "--nofile=16:16"], check=True)
    done = instance.hostd("doctor")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "problem: open files: nginx: nginx may open 16 files; 2 site(s) need 68" in done.stdout
    assert "fix: raise the hard limit of open files" in done.stdout
    assert "ok: open files: supervisord" in done.stdout
