"""The operator's commands against a running instance: status, logs, check."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from .harness import HostdUp, site_yaml


def test_status_reports_domains_program_and_last_apply(instance: HostdUp) -> None:
    """`hostd status` shows each site's domains, program state and pid, human and JSON."""
    instance.write_site("alpha", site_yaml(["alpha.test", "www.alpha.test"]))
    instance.start()

    status = instance.status()
    alpha = status["sites"]["alpha"]
    assert alpha["domains"] == ["alpha.test", "www.alpha.test"]
    assert alpha["program"] in ("RUNNING", "STARTING") and alpha["pid"] > 0
    assert alpha["outcome"] == "added" and alpha["error"] is None
    assert status["nginx"] == "serving live" and status["supervisor"] == "running"

    human = instance.hostd("status", check=True).stdout
    assert "alpha" in human and "alpha.test www.alpha.test" in human


def test_logs_show_the_access_log_and_what_the_app_printed(instance: HostdUp) -> None:
    """A request appears in access.log and its print in app.log, through `hostd logs`."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    marker = uuid.uuid4().hex
    instance.get("alpha.test", f"/info?{marker}", {"X-Test-Id": marker})

    deadline = time.monotonic() + 10
    while True:
        out = instance.hostd("logs", "alpha", "-n", "50", check=True).stdout
        if "access: " in out and marker in out and f"app: probe: info for {marker}" in out:
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.1)


def test_logs_follow_prints_new_lines(instance: HostdUp) -> None:
    """`hostd logs -f` keeps printing lines as requests arrive."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    follower = subprocess.Popen(
        [sys.executable, "-m", "hostd", "logs", "alpha", "-f", "-n", "0", "--source", "access",
         "--home", str(instance.home)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        marker = uuid.uuid4().hex
        instance.get("alpha.test", f"/{marker}")
        assert follower.stdout is not None
        line = follower.stdout.readline()
        assert line.startswith("access: ") and marker in line
    finally:
        follower.terminate()
        follower.communicate(timeout=10)


def test_logs_of_an_unknown_site_lists_the_known_ones(instance: HostdUp) -> None:
    """A typo in the site name gets a clear error naming the sites there are."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    done = instance.hostd("logs", "alpah")
    assert done.returncode == 2  # a usage mistake: an unknown site
    assert "alpah" in done.stderr and "alpha" in done.stderr


def test_check_validates_files_without_an_instance(instance: HostdUp) -> None:
    """`hostd check` says ok or names file, line and key; exit 1 on any invalid file."""
    good = instance.write_site("alpha", site_yaml(["alpha.test"]))
    bad = instance.write_site("beta", site_yaml(["beta.test"]) + "  workers: 99\n")

    ok = instance.hostd("check", str(good))
    assert ok.returncode == 0 and "ok: alpha (alpha.test)" in ok.stdout
    refused = instance.hostd("check", "--sites", str(instance.sites))
    assert refused.returncode == 1
    assert f"invalid: {bad}:" in refused.stdout and "app.workers" in refused.stdout


def test_reading_needs_no_nginx_and_runs_no_gunicorn(instance: HostdUp) -> None:
    """On a machine without nginx (hidden from this one by a private mount), `hostd status`
    says nginx is missing and `hostd plan` shows the pending site; neither runs gunicorn
    (it is replaced by a script that would leave a mark) nor builds anything."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    assert nginx is not None and gunicorn.exists()
    mark = instance.root / "gunicorn-ran"
    spy = instance.root / "gunicorn-spy"
    spy.write_text(f'#!/bin/sh\ntouch {mark}\nexec {sys.executable} -m gunicorn "$@"\n')
    spy.chmod(0o755)
    hostd = f"{sys.executable} -m hostd"
    home = f"--home {instance.home} --sites {instance.sites}"
    script = (
        f"mount --bind /dev/null {nginx} && mount --bind {spy} {gunicorn} && "
        f'{hostd} status --home {instance.home}; echo "status exit $?"; '
        f'{hostd} plan {home}; echo "plan exit $?"'
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True, text=True, env=instance.environ(), timeout=120,
    )  # fmt: skip
    assert "status exit 0" in done.stdout, done.stdout + done.stderr
    assert "nginx: not installed (nginx is not installed" in done.stdout
    assert "plan exit 0" in done.stdout and "alpha: added (nginx, program)" in done.stdout
    assert not mark.exists()
    assert not (instance.home / "state").exists()  # reading wrote nothing
