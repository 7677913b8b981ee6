"""System mode on this machine's real Debian packages, tried as a new operator would:
Debian's nginx and Supervisor started by their own service scripts, hostd installed
in a venv under /opt, `hostd init`, `hostd watch` on loopback ports 80/443, sites as
www-data and as a user of their own, a certificate from pebble through port 80, status
and logs as a member of adm, Debian's logrotate, the daemons restarted behind hostd's
back, a signal burst, a simulated reboot, then `hostd init --undo`.

Needs root, pebble, and a Debian machine whose nginx is not running and ports 80/443 free. Installs
Supervisor with apt when it is missing and purges it again; leaves packages, files,
users and processes as it found them, also on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .acme import Pebble
from .harness import APPS, START_TIMEOUT, HostdUp, site_yaml, wait_until

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "hostd-e2e"
VENV = Path(f"/opt/{PREFIX}")
APP = Path(f"/srv/{PREFIX}/probe")
APP_USER = f"{PREFIX}-app"  # the per-site user
ADM_USER = f"{PREFIX}-adm"  # a member of adm who reads status and logs
SITES = ("hello", "percy")
CERTBOT = [Path(p) for p in ("/etc/letsencrypt", "/var/lib/letsencrypt", "/var/log/letsencrypt")]
DEBIAN_DAEMONS = (
    "nginx: master process /usr/sbin/nginx",
    "/usr/bin/python3 /usr/bin/supervisord -c /etc/supervisor/supervisord.conf",
)

WATCHED = [Path(p) for p in ("/etc/nginx", "/etc/supervisor", "/etc/hostd", "/etc/logrotate.d",
                             "/etc/letsencrypt",
                             "/etc/tmpfiles.d", "/etc/systemd/system")]  # fmt: skip


def _port_free(port: int) -> bool:
    return not any(f":{port:04X} " in line for line in Path("/proc/net/tcp").read_text()
                   .splitlines() if line.split()[3:4] == ["0A"])  # fmt: skip


pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(400),
    pytest.mark.skipif(os.geteuid() != 0, reason="installs packages and runs as root"),
    pytest.mark.skipif(not Path("/etc/init.d/nginx").exists(), reason="no Debian nginx here"),
    pytest.mark.skipif(not (_port_free(80) and _port_free(443)), reason="port 80 or 443 is taken"),
    pytest.mark.skipif(shutil.which("pebble") is None, reason="no pebble here"),
]


def run(
    *argv: str, check: bool = True, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = ["runuser", "-u", user, "--", *argv] if user else list(argv)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    assert not check or done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
    return done


def hostd(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    return run(str(VENV / "bin/hostd"), *args, check=False, user=user)


def packages() -> set[str]:
    done = run("dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n")
    return {line.split()[0] for line in done.stdout.splitlines() if line.split()[1:2] == ["ii"]}


def snapshot() -> dict[str, object]:
    """What the test must leave as it found: configuration, users, packages, daemons."""
    files: dict[str, object] = {}
    for top in WATCHED:
        for path in [top, *sorted(top.rglob("*"))] if top.exists() else []:
            if path.is_symlink():
                files[str(path)] = os.readlink(path)
            elif path.is_file():
                files[str(path)] = (path.stat().st_mode, path.read_bytes())
            else:
                files[str(path)] = path.stat().st_mode
    return {
        "files": files,
        "passwd": Path("/etc/passwd").read_text(),
        "group": Path("/etc/group").read_text(),
        "packages": packages(),
        "var/log": sorted(p.name for p in Path("/var/log").iterdir()),
        "var/lib/hostd": Path("/var/lib/hostd").exists(),
        "run": sorted(
            p.name
            for p in Path("/run").iterdir()
            if p.name.startswith(("hostd", "nginx", "supervisor"))
        ),
        "daemons": daemons(),
    }


def daemons() -> list[str]:
    """Debian's nginx and supervisord, as their service scripts start them (the private
    ones other tests start have other command lines)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cmd.strip() in DEBIAN_DAEMONS:
            found.append(cmd.strip())
    return sorted(found)


@dataclass
class Box:
    """This machine, with hostd installed and a watch that can be started and stopped."""

    installed: set[str] = field(default_factory=set)
    pebble: Pebble | None = None
    watch: subprocess.Popen[str] | None = None
    output: Path = Path(f"/tmp/{PREFIX}-watch.out")

    def start_watch(self) -> None:
        with self.output.open("a") as out:
            self.watch = subprocess.Popen(
                [str(VENV / "bin/hostd"), "watch"], stdout=out, stderr=subprocess.STDOUT,
                text=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while not Path("/run/hostd/up.json").exists():
            assert self.watch.poll() is None, self.output.read_text()
            assert time.monotonic() < deadline, self.output.read_text()
            time.sleep(0.05)

    def stop_watch(self) -> None:
        if self.watch is not None and self.watch.poll() is None:
            self.watch.send_signal(signal.SIGTERM)
            assert self.watch.wait(60) == 0, self.output.read_text()


def _try(*argv: str) -> None:
    try:
        run(*argv, check=False)
    except Exception as exc:  # every step of the clean-up runs
        print(f"clean-up step {argv}: {exc!r}")


def _clean_up(box: Box, nginx_was_running: bool, had_hostd_config: bool,
              certbot_before: set[Path]) -> None:  # fmt: skip
    if box.watch is not None and box.watch.poll() is None:
        box.watch.kill()
        box.watch.wait(30)
    if box.pebble is not None:
        box.pebble.stop()
    if Path("/var/lib/hostd/init.json").exists():
        _try(str(VENV / "bin/hostd"), "init", "--undo")
    if box.installed:
        _try("service", "supervisor", "stop")
        _try("apt-get", "purge", "-y", "-q", *sorted(box.installed))
    else:
        _try("supervisorctl", "update")
    _try("service", "nginx", "reload" if nginx_was_running else "stop")
    for user in (APP_USER, ADM_USER):
        _try("userdel", user)
    for path in [VENV, APP.parent, Path("/var/lib/hostd"), Path("/run/hostd"),
                 *([] if had_hostd_config else [Path("/etc/hostd")]),
                 *Path("/var/log").glob("hostd.log*"), box.output,
                 *([Path("/var/log/supervisor")] if box.installed else []),
                 *(Path("/var/log") / site for site in (*SITES, "secure")),
                 *(path for path in CERTBOT if path not in certbot_before)]:  # fmt: skip
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    before = snapshot()
    certbot_before = {path for path in CERTBOT if path.exists()}
    nginx_was_running = DEBIAN_DAEMONS[0] in before["daemons"]  # type: ignore[operator]
    machine = Box()
    try:
        if "supervisor" not in before["packages"]:  # type: ignore[operator]
            run("apt-get", "install", "-y", "-q", "--no-install-recommends", "supervisor")
            machine.installed = packages() - before["packages"]  # type: ignore[operator]
        run("/usr/bin/python3", "-m", "venv", str(VENV))
        run(str(VENV / "bin/pip"), "install", "-q", str(ROOT))
        shutil.copytree(APPS / "probe", APP, ignore=shutil.ignore_patterns("__pycache__"))
        for folder in (APP, APP.parent):
            folder.chmod(0o755)
        run("useradd", "--system", "--no-create-home", APP_USER)
        run("useradd", "--no-create-home", "-G", "adm", ADM_USER)
        yield machine
    finally:
        _clean_up(machine, nginx_was_running, "/etc/hostd" in before["files"],  # type: ignore[operator]
                  certbot_before)  # fmt: skip
        after = snapshot()
        assert after == before, {
            key: _difference(before[key], after[key]) for key in before if before[key] != after[key]
        }


def _difference(before: object, after: object) -> object:
    if isinstance(before, list) and isinstance(after, list):
        return {"gone": sorted(set(before) - set(after)), "new": sorted(set(after) - set(before))}
    return (before, after)


def until(box: Box, predicate: Callable[[], object], what: str, timeout: float = 30) -> None:
    """wait_until, failing with what hostd watch said."""
    try:
        wait_until(predicate, timeout=timeout, what=what)
    except AssertionError as exc:
        said = box.output.read_text() if box.output.exists() else ""
        raise AssertionError(f"{exc}\nhostd watch said:\n{said}") from None


def https_body(name: str, pebble: Pebble) -> str:
    """GET https://NAME/ on port 443, the chain verified against the CA's root."""
    context = ssl.create_default_context(cadata=pebble.root_certificate().decode())
    raw = socket.create_connection(("127.0.0.1", 443), timeout=10)
    with context.wrap_socket(raw, server_hostname=name) as tls:
        tls.sendall(f"GET / HTTP/1.0\r\nHost: {name}\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    return data.decode().split("\r\n\r\n", 1)[1]


def stop_supervisor(box: Box) -> None:
    """Debian's script returns before supervisord is gone; the next start needs it gone."""
    run("service", "supervisor", "stop")
    until(box, lambda: DEBIAN_DAEMONS[1] not in daemons(), what="supervisord stopped")


def served(host: str, path: str = "/") -> str:
    return HostdUp(root=Path("/"), port=80).get(host, path).body


def test_a_new_debian_server_from_init_to_undo(box: Box) -> None:
    # the operator's settings first (loopback only): init keeps them, and nginx then
    # starts on the address hostd serves (a running nginx bound to *:80 cannot move to
    # 127.0.0.1:80 on a reload; the README says to restart it after changing listen)
    pebble = Pebble(http_port=80)  # Let's Encrypt's test CA, validating through port 80
    box.pebble = pebble
    pebble.start()
    Path("/etc/hostd").mkdir()
    Path("/etc/hostd/hostd.toml").write_text(
        '[http]\nlisten = "127.0.0.1"\n'
        f'[acme]\nserver = "{pebble.directory}"\nemail = "ops@example.test"\n'
        f'ca_bundle = "{pebble.ca_bundle}"\nresolver = "127.0.0.1:{pebble.dns_port}"\n'
    )
    done = hostd("init")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created /etc/hostd/sites.d/example.yaml.sample" in done.stdout
    assert "created /etc/tmpfiles.d/hostd.conf" in done.stdout
    assert "removed the link /etc/nginx/sites-enabled/default" in done.stdout
    assert "nothing changed" in hostd("init").stdout
    run("service", "nginx", "start")
    run("service", "supervisor", "start", check=False)  # apt may have started it already
    until(box, lambda: Path("/run/supervisor.sock").exists(), what="Supervisor's socket")
    (Path("/etc/hostd/sites.d/hello.yaml")).write_text(site_yaml(["hello.test"], root=APP))
    (Path("/etc/hostd/sites.d/percy.yaml")).write_text(
        site_yaml(["percy.test"], root=APP, extra=f"  user: {APP_USER}\n")
    )
    Path("/etc/hostd/sites.d/secure.yaml").write_text(
        site_yaml(["secure.test"], root=APP) + "tls: auto\n"
    )
    try:
        box.start_watch()
        until(box, lambda: served("hello.test") == "hello says hello\n", what="hello")
        until(box, lambda: https_body("secure.test", pebble) == "secure says hello\n",
              timeout=90, what="a certificate from the CA through port 80")  # fmt: skip
        until(box, lambda: served("percy.test") == "percy says hello\n", what="percy")
        status = json.loads(hostd("status", "--json").stdout)
        users = {name: _user_of(status["sites"][name]["pid"]) for name in SITES}
        assert users == {"hello": "www-data", "percy": APP_USER}
        assert status["daemon"].startswith("running (pid")
        as_adm = hostd("status", user=ADM_USER)
        assert "hostd: running (pid" in as_adm.stdout, as_adm.stdout + as_adm.stderr

        # hostd doctor on the real packages: every check ok but the clock, which is the
        # machine's time service's; --render validates every site, the live one untouched
        doctor = hostd("doctor", "--json")
        report = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
        clock = report.pop("clock")
        assert {name: c["summary"] for name, c in report.items() if c["level"] != "ok"} == {}
        assert doctor.returncode == (0 if clock["level"] == "ok" else 4), doctor.stderr
        assert report["port 80"]["summary"] == "port 80 is served by this nginx"
        assert (
            "secure's server block answers on port 80" in report["domain: secure.test"]["summary"]
        )
        assert report["supervisord"]["summary"].startswith("/usr/bin/supervisord: version")
        live = os.readlink("/var/lib/hostd/live")
        rendered = hostd("doctor", "--render")
        assert rendered.returncode == 0, rendered.stdout + rendered.stderr
        assert (
            "ok: render: percy:" in rendered.stdout and os.readlink("/var/lib/hostd/live") == live
        )
        assert Path("/var/log/hello/access.log").exists()

        # Debian's logrotate (own state file), then requests that must show in the logs
        state = f"/tmp/{PREFIX}-logrotate.status"
        run("logrotate", "-f", "-s", state, "/etc/logrotate.d/hostd")
        Path(state).unlink()
        served("hello.test", "/?rotated")
        logs = hostd("logs", "hello", "--source", "access", user=ADM_USER)
        assert "?rotated" in logs.stdout, logs.stdout + logs.stderr

        for action in ("reload", "restart"):
            run("service", "nginx", action)
            until(box, lambda: served("hello.test") == "hello says hello\n", what=action)
        stop_supervisor(box)
        run("service", "supervisor", "start")
        until(box, lambda: served("percy.test") == "percy says hello\n", timeout=60,
                   what="programs back after Supervisor's restart")  # fmt: skip

        assert box.watch is not None
        for _ in range(300):  # a signal burst: the daemon stays responsive
            box.watch.send_signal(signal.SIGHUP)
        reload = hostd("reload")
        assert reload.returncode == 0 and "hello: unchanged" in reload.stdout, reload.stdout
    finally:
        box.stop_watch()

    # a reboot: everything stopped, hostd's part of /run gone, started in boot order
    stop_supervisor(box)
    run("service", "nginx", "stop")
    shutil.rmtree("/run/hostd")
    run("systemd-tmpfiles", "--create", "/etc/tmpfiles.d/hostd.conf")
    run("service", "nginx", "start")
    run("service", "supervisor", "start")
    until(box, lambda: served("percy.test") == "percy says hello\n", timeout=60,
               what="served after the reboot before hostd runs")  # fmt: skip
    box.start_watch()
    assert "hello: unchanged" in hostd("reload").stdout
    box.stop_watch()

    for site in SITES:
        Path(f"/etc/hostd/sites.d/{site}.yaml").unlink()
    Path("/etc/hostd/sites.d/secure.yaml").unlink()
    undone = hostd("init", "--undo")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert "put back the link /etc/nginx/sites-enabled/default" in undone.stdout


def _user_of(pid: int) -> str:
    """Who the program's process runs as."""
    uid = next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("Uid:"))  # fmt: skip
    return run("id", "-nu", uid).stdout.strip()
