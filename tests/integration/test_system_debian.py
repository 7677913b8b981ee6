"""System mode on Debian's terms, below a temporary root: log folders that survive a
real logrotate run, names of the distribution's folders refused, an app folder its
user cannot enter refused at once, the hash sizes of the machine's nginx.conf
respected, IPv6 kept, run folders made at boot by systemd-tmpfiles, and removed or
refused sites leaving no folders behind."""

from __future__ import annotations

import grp
import http.client
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator

import pytest

from .harness import HostdUp, site_yaml, wait_until
from .machine import Machine
from .test_system import ROOT_USER, Watch, app_copy, get, write_site

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="system mode runs programs as their user: needs root"
)


@pytest.fixture
def debian() -> Iterator[Machine]:
    """A stand-in machine listening on every address, whose admin set a hash size."""
    box = Machine(listen="0.0.0.0")
    try:
        box.boot()
        conf = box.root / "etc/nginx/nginx.conf"
        conf.write_text(
            conf.read_text().replace("http {\n", "http {\n    server_names_hash_bucket_size 128;\n")
        )
        yield box
    finally:
        strays = box.cleanup()
        assert not strays, f"processes left behind: {strays}"


def get_v6(machine: Machine, host: str) -> str:
    conn = http.client.HTTPConnection("::1", machine.port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": host})
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def access_lines(watch: Watch, site: str) -> list[str]:
    done = watch.hostd("logs", site, "--source", "access", "-n", "100")
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "GET /" in line]


def test_a_debian_machine_keeps_its_folders_logs_and_ipv6(debian: Machine) -> None:
    root = debian.root
    app = app_copy(debian)
    closed = root / "home/bob"
    shutil.copytree(app, closed / "app")
    closed.chmod(0o700)
    (root / "var/log/legacy").mkdir(parents=True)  # another program's folder
    # as root: this Python lives below /root, which www-data cannot enter
    write_site(debian, "alpha", site_yaml(["alpha.test"], root=app) + ROOT_USER)
    write_site(debian, "beta", site_yaml(["beta.test"], root=app) + ROOT_USER)
    for name in ("nginx", "legacy"):
        write_site(debian, name, site_yaml([f"{name}.test"], root=app))
    write_site(debian, "bob", site_yaml(["bob.test"], root=closed / "app"))  # as www-data
    watch = Watch(debian)
    try:
        watch.start()
        served = watch.hostd("reload")
        assert get(debian, "alpha.test") == "alpha says hello\n", served.stdout
        assert get_v6(debian, "alpha.test") == "alpha says hello\n"  # Debian's [::]:80 kept
        lines = {line.split(":", 1)[0]: line for line in served.stdout.splitlines()}
        assert "/var/log/nginx belongs to the distribution" in lines["nginx"]
        assert f"{root}/var/log/legacy exists and is not hostd's" in lines["legacy"]
        assert "app.root" in lines["bob"] and "Permission denied (EACCES)" in lines["bob"]
        assert f"cannot enter {closed} (drwx------" in lines["bob"]
        assert not (root / "var/log/nginx/hostd.log").exists()
        assert not (root / "var/log/legacy/hostd.log").exists()
        for gone in ("bob", "nginx", "legacy"):
            assert not (root / "run/hostd" / gone).exists()
        assert not (root / "var/log/bob").exists()
        assert not (root / "var/log/nginx-error.log").exists()
        hook = (root / "var/lib/hostd/live/nginx/hostd.conf").read_text()
        assert "server_names_hash_bucket_size" not in hook  # the machine's nginx.conf has it

        adm = grp.getgrnam("adm").gr_gid
        folder = (root / "var/log/alpha").stat()
        assert (stat.S_IMODE(folder.st_mode), folder.st_uid, folder.st_gid) == (0o755, 0, adm)
        own = (root / "var/log/alpha/hostd.log").stat()
        assert (stat.S_IMODE(own.st_mode), own.st_gid) == (0o640, adm)
        tmpfiles = (root / "etc/tmpfiles.d/hostd.conf").read_text()
        assert f"d {root}/run/hostd/alpha 0750 root www-data -" in tmpfiles
        status = watch.hostd("status")
        assert "hostd: running (pid" in status.stdout, status.stdout
        logs = watch.hostd("logs", "nginx")
        assert logs.returncode == 2 and "no logs for site 'nginx'" in logs.stderr

        # Debian's daily logrotate, for real: nginx's workers reopen access.log
        get(debian, "alpha.test")
        rotate = subprocess.run(
            ["logrotate", "-f", "-s", str(root / "logrotate.status"),
             str(root / "etc/logrotate.d/hostd")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert rotate.returncode == 0, rotate.stderr
        assert (root / "var/log/alpha/access.log.1").exists()
        up = HostdUp(root=root, port=debian.port)
        wait_until(
            lambda: (
                up.get("alpha.test", "/?after").status == 200
                and any("?after" in line for line in access_lines(watch, "alpha"))
            ),
            what="reopened log",
        )
        error_log = (root / "var/log/nginx/error.log").read_text()
        assert "Permission denied" not in error_log, error_log

        (debian.sites / "beta.yaml").unlink()  # never requested: nothing to keep
        wait_until(lambda: not (root / "var/log/beta").exists(), what="beta's folders gone")
        assert not (root / "run/hostd/beta").exists()
    finally:
        watch.stop()
    assert "hostd: not running" in watch.hostd("status").stdout


def test_after_a_reboot_the_sites_serve_before_hostd_runs(debian: Machine) -> None:
    machine = debian
    """/run emptied, systemd-tmpfiles makes the run folders, supervisord starts the apps."""
    tmpfiles = shutil.which("systemd-tmpfiles")
    if tmpfiles is None:
        pytest.skip("no systemd-tmpfiles here")
    app = app_copy(machine)
    write_site(machine, "alpha", site_yaml(["alpha.test"], root=app) + ROOT_USER)
    watch = Watch(machine)
    try:
        watch.start()
        assert get(machine, "alpha.test") == "alpha says hello\n"
    finally:
        watch.stop()
    machine.stop_supervisord()
    shutil.rmtree(machine.root / "run/hostd")
    done = subprocess.run(
        [tmpfiles, "--create", str(machine.root / "etc/tmpfiles.d/hostd.conf")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (machine.root / "run/hostd/alpha").is_dir()
    machine.start_supervisord()
    wait_until(lambda: get(machine, "alpha.test") == "alpha says hello\n", what="served at boot")
