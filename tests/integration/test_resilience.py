"""Nothing outside a site file takes a site down: a vanished sites folder, damaged
state, signal storms, hostile files. Each drill runs against a real `hostd up`."""

from __future__ import annotations

import fcntl
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .harness import APPS, HostdUp, serves, site_yaml, wait_until
from .machine import Machine
from .test_system import Watch, get, machine, write_site

__all__ = ["machine"]  # the fixture, shared with test_system.py

ALPHA, BETA = "alpha says hello\n", "beta says hello\n"


def two_sites(up: HostdUp, *extra: str) -> None:
    up.write_site("alpha", site_yaml(["alpha.test"]))
    up.write_site("beta", site_yaml(["beta.test"]))
    up.start(*extra)


def all_serve(up: HostdUp) -> bool:
    return up.get("alpha.test").body == ALPHA and up.get("beta.test").body == BETA


def warned(up: HostdUp, words: str) -> bool:
    return any(words in warning for warning in up.status()["warnings"])


def test_a_vanished_renamed_or_emptied_sites_folder_keeps_every_site_serving(
    instance: HostdUp,
) -> None:
    """Renamed away, deleted, replaced by an empty folder: the sites keep serving, the
    instance says why in status, hostd.log and its output, and picks the folder up by
    itself when it is back; an empty folder with `.no-sites` does remove the last site."""
    up = instance
    up.watch = True
    two_sites(up)
    assert all_serve(up)
    away = up.root / "sites.away"

    (up.root / "empty").mkdir()
    os.rename(up.sites, away)
    os.rename(up.root / "empty", up.sites)  # swapped for an empty one in one step
    wait_until(lambda: warned(up, "has no site files"), what="the empty folder reported")
    assert all_serve(up)
    up.sites.rmdir()

    wait_until(lambda: warned(up, "is missing"), what="the missing folder reported")
    assert all_serve(up)
    assert "is missing" in up.log() and "is missing" in (up.home / "log" / "hostd.log").read_text()
    os.rename(away, up.sites)
    up.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "back"}))
    wait_until(serves(up, "alpha.test", "alpha says back\n"), what="the watcher picked it up")
    wait_until(lambda: not up.status()["warnings"], what="the warning cleared")

    shutil.rmtree(up.sites)
    wait_until(lambda: warned(up, "is missing"), what="the deleted folder reported")
    up.sites.mkdir()
    wait_until(lambda: warned(up, "has no site files"), what="the empty folder reported")
    assert up.get("alpha.test").body == "alpha says back\n"
    assert up.get("beta.test").body == BETA
    up.write_site("gamma", site_yaml(["gamma.test"]))
    wait_until(serves(up, "gamma.test", "gamma says hello\n"), what="the new folder watched")
    wait_until(lambda: set(up.status()["sites"]) == {"gamma"}, what="alpha and beta removed")

    (up.sites / ".no-sites").touch()
    (up.sites / "gamma.yaml").unlink()
    wait_until(lambda: not up.status()["sites"], what="the last site removed on purpose")
    assert not up.status()["warnings"]


def live_generation(up: HostdUp) -> int:
    return int(os.readlink(up.home / "state" / "live").rsplit("/", 1)[-1])


def test_a_signal_storm_coalesces_and_never_wedges_the_daemon(instance: HostdUp) -> None:
    """100 SIGHUPs in a second, each after a change, make at most two applies; after
    thousands more as fast as they can be sent, hostd still applies and still stops."""
    up = instance
    two_sites(up)
    assert up.proc is not None
    before = live_generation(up)
    for n in range(100):
        up.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": f"n{n}"}))
        up.proc.send_signal(signal.SIGHUP)
        time.sleep(0.009)
    wait_until(serves(up, "alpha.test", "alpha says n99\n"), timeout=30, what="the last wins")
    time.sleep(1.5)  # an apply still due would have started by now
    # an apply that starts a new version writes one generation naming it live (and one
    # naming it on trial before it, where another change goes live meanwhile)
    assert 1 <= live_generation(up) - before <= 4

    for _ in range(5000):
        up.proc.send_signal(signal.SIGHUP)
    up.write_site("beta", site_yaml(["beta.test"], env={"GREETING": "after"}))
    up.proc.send_signal(signal.SIGHUP)
    wait_until(serves(up, "beta.test", "beta says after\n"), timeout=30, what="still applies")
    assert up.stop(timeout=30) == 0


def has_open(pid: int, path: Path) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    return any(_link(f"/proc/{pid}/fd/{fd}") == str(path) for fd in fds)


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def test_reload_calls_during_an_apply_share_one_more_apply(instance: HostdUp) -> None:
    """Six `hostd reload`s that arrive while an apply holds the lock make one apply
    between them, which sees the change written after they were called."""
    up = instance
    two_sites(up)
    argv = [sys.executable, "-m", "hostd", "reload", "--home", str(up.home)]
    queue = up.home / "run" / "reload.lock"
    fd = os.open(up.home / "run" / "apply.lock", os.O_RDWR)
    calls: list[subprocess.Popen[str]] = []
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # an apply is running
        for _ in range(6):
            calls.append(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                                          env=up.environ()))  # fmt: skip
        wait_until(lambda: all(has_open(c.pid, queue) for c in calls), timeout=60,
                   what="every call queued")  # fmt: skip
        up.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "queued"}))
    finally:
        os.close(fd)
        outputs = [c.communicate(timeout=120)[0] for c in calls]
    assert all(c.returncode == 0 for c in calls), outputs
    assert len(set(outputs)) == 1 and "alpha: changed" in outputs[0], outputs
    assert up.get("alpha.test").body == "alpha says queued\n"


def live_folder(up: HostdUp) -> Path:
    return (up.home / "state" / "live").resolve()


def restarted(up: HostdUp, damage: str) -> str:
    """Start again after `damage`; the instance serves both sites and its state is
    whole again. What hostd.log said about it."""
    up.start()
    wait_until(lambda: all_serve(up), timeout=30, what=f"serving after {damage}")
    assert (live_folder(up) / "manifest.json").is_file(), damage
    assert up.status()["generation"] == int(live_folder(up).name), damage
    return (up.home / "log" / "hostd.log").read_text()


def test_damaged_state_heals_on_restart(instance: HostdUp) -> None:
    """A dangling, missing or non-link `live`, a damaged manifest, a truncated file,
    garbage in every record, no intact generation at all: `hostd up` starts, serves,
    says what it skipped, and leaves whole state behind."""
    up = instance
    two_sites(up)
    state = up.home / "state"
    up.reload()  # a second generation with both sites

    assert up.stop() == 0
    os.remove(state / "live")
    os.symlink("generations/000777", state / "live")
    for record in ("state.json", "crashloops.json"):
        (state / record).write_text('{"sites": {"alpha": {"at": "soon", "held": 3}}, "x": [')
    (state / "certs").mkdir(exist_ok=True)
    (state / "certs" / "alpha.json").write_text('{"failures": "many", "names": 4}')
    (up.home / "run" / "up.json").write_bytes(b"\x00\xff garbage")
    log = restarted(up, "a dangling live and garbage records")
    assert "state-healed" in log and "000777" in log

    assert up.stop() == 0
    os.remove(state / "live")
    (state / "live").mkdir()
    restarted(up, "live replaced by a folder")

    assert up.stop() == 0
    (live_folder(up) / "manifest.json").write_text('{"id": 3, "files": [')
    damaged = live_folder(up).name
    log = restarted(up, "a damaged manifest")
    assert f"skipped generation {damaged} is damaged" in log

    assert up.stop() == 0
    for generation in (state / "generations").iterdir():
        conf = next((generation / "nginx").rglob("*.conf"))
        conf.write_text(conf.read_text()[:20])  # hard links: every generation at once
    log = restarted(up, "every generation truncated")
    assert "starting afresh from the site files" in log

    assert up.stop() == 0
    os.remove(state / "live")
    restarted(up, "a missing live")


SECRET = "root:$6$Zq8SECRETxHASH$abcdefghijklmnop:19700:0:99999:7:::"


def test_hostile_files_are_bounded_and_quoted_nowhere(instance: HostdUp) -> None:
    """A sparse 1 GiB `*.yaml`, a FIFO, a symlink to a secret outside the folder and an
    unknown key holding a secret are each refused by name; the secrets appear in no
    command output, status or log (the dashboard shows the same texts), and the good
    site keeps serving."""
    up = instance
    up.write_site("alpha", site_yaml(["alpha.test"]))
    up.start()
    outside = up.root / "shadow"
    outside.write_text(f"{SECRET}\npassword: {SECRET}\n")
    with (up.sites / "huge.yaml").open("wb") as huge:
        huge.truncate(1 << 30)
    os.mkfifo(up.sites / "pipe.yaml")
    (up.sites / "leak.yaml").symlink_to(outside)
    up.write_site("nosy", site_yaml(["nosy.test"]) + f"token: '{SECRET}'\n")
    (up.sites / "inner.yaml").symlink_to("alpha.yaml")  # inside the folder: allowed

    reload = up.reload()
    check = up.hostd("check")
    status = up.hostd("status", "--json", check=True).stdout
    said = reload.stdout + reload.stderr + check.stdout + check.stderr
    assert "huge.yaml: file is larger than 64 KiB" in said
    assert "pipe.yaml: not a regular file" in said
    assert "leak.yaml: a symlink that leads outside the sites folder" in said
    assert "nosy.yaml:6: token: unknown key" in said
    assert "inner" in up.status()["sites"]  # a duplicate domain of alpha's, refused
    assert up.get("alpha.test").body == ALPHA
    log = (up.home / "log").rglob("*.log")
    for text in (said, status, up.log(), *(p.read_text() for p in log)):
        assert "SECRET" not in text


def test_static_folders_that_would_expose_the_machine_are_refused(instance: HostdUp) -> None:
    """`/`, /etc, hostd's state, the sites folder, another site's app root or log
    folder, and a link that leads into /etc are refused by name; a folder of the
    site's own is served."""
    up = instance
    up.write_site("alpha", site_yaml(["alpha.test"]))
    other = up.root / "other"
    other.mkdir()
    shutil.copy(APPS / "probe" / "probe.py", other)
    up.write_site("other", site_yaml(["other.test"], root=other))
    up.start()
    files = up.root / "files"
    files.mkdir()
    (files / "hello.txt").write_text("static hello\n")
    (up.root / "etc-link").symlink_to("/etc")
    refused = {
        "slash": "/",
        "etc": "/etc",
        "ssl": "/etc/ssl",
        "state": str(up.home / "state"),
        "sitesdir": str(up.sites),
        "approot": str(other),
        "logs": str(up.home / "log" / "alpha"),
        "linked": str(up.root / "etc-link"),
    }
    (up.home / "log" / "alpha").mkdir(parents=True, exist_ok=True)
    for name, folder in refused.items():
        up.write_site(name, site_yaml([f"{name}.test"]) + f"static: {{/files/: '{folder}'}}\n")
    up.write_site("good", site_yaml(["good.test"]) + f"static: {{/files/: '{files}'}}\n")
    said = up.reload().stdout
    for name in refused:
        assert f"{name}.yaml:6: static./files/: nginx may not serve this folder" in said, name
    assert up.get("good.test", "/files/hello.txt").body == "static hello\n"
    assert set(up.status()["sites"]) >= {"alpha", "good"}
    assert up.get("alpha.test").body == ALPHA


UID_APP = """\
import os

with open(os.environ["UID_LOG"], "a") as log:
    log.write(f"{os.getuid()} {os.environ.get('GREETING')}\\n")


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"uid app\\n"]
"""


@pytest.fixture(scope="session")
def nobodys_venv() -> Iterator[Path]:
    """A venv with gunicorn that any user can run (from the system's python3, whose
    files are readable by all), removed at the end of the session."""
    python = shutil.which("python3", path="/usr/bin")
    if python is None:
        pytest.skip("no /usr/bin/python3 to build a venv any user can run")
    folder = Path(tempfile.mkdtemp(prefix="hd-venv-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        subprocess.run([python, "-m", "venv", str(folder / "v")], check=True, timeout=120)
        subprocess.run([str(folder / "v/bin/pip"), "install", "-q", "gunicorn"],
                       check=True, timeout=300)  # fmt: skip
        yield folder / "v"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="running code as another user needs root")
def test_a_code_reload_checks_the_new_code_as_the_sites_user(
    machine: Machine, nobodys_venv: Path
) -> None:
    """`hostd reload SITE` boots the new code in the other slot as the site's `user:`
    with its environment: every import the app records is nobody's."""
    app = machine.root / "srv" / "uidapp"
    app.mkdir(parents=True)
    (app / "uidapp.py").write_text(UID_APP)
    log = machine.root / "srv" / "uids"
    log.mkdir(mode=0o777)
    log.chmod(0o777)
    env = {"UID_LOG": str(log / "imports"), "GREETING": "from-the-site"}
    text = site_yaml(["uid.test"], root=app, wsgi="uidapp:app", env=env)
    text += f"  user: nobody\n  venv: {nobodys_venv}\n"
    write_site(machine, "uid", text)
    watch = Watch(machine)
    try:
        watch.start()
        assert get(machine, "uid.test") == "uid app\n"
        (log / "imports").unlink()
        done = watch.hostd("reload", "uid")
        assert done.returncode == 0, done.stdout + done.stderr
        nobody = pwd.getpwnam("nobody").pw_uid
        wait_until(lambda: (log / "imports").exists(), what="the check imported the app")
        recorded = (log / "imports").read_text().splitlines()
        assert recorded and set(recorded) == {f"{nobody} from-the-site"}, recorded
    finally:
        watch.stop()


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
DASHBOARD_PASSWORD = "a long enough password"


def test_the_dashboard_redirects_home_throttles_forgers_and_ends_copied_logins(
    instance: HostdUp,
) -> None:
    """Through hostd's nginx: after login, `next=////evil.test/` goes to `/`; a copy of
    the cookies stops working at logout; forged X-Forwarded-For headers do not get
    more login attempts."""
    up = instance
    up.home.mkdir(parents=True)
    (up.home / "hostd.toml").write_text("[dashboard]\nenabled = true\nworkers = 1\n")
    up.start()
    done = subprocess.run(
        [sys.executable, "-m", "hostd", "dashboard", "passwd", "--stdin", "operator",
         "--home", str(up.home)],
        input=f"{DASHBOARD_PASSWORD}\n", capture_output=True, text=True, env=up.environ(),
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    base, host = f"http://127.0.0.1:{up.port}", {"Host": "dashboard.localhost"}

    def log_in(client: requests.Session, password: str, **headers: str) -> requests.Response:
        match = CSRF.search(client.get(f"{base}/login", headers=host).text)
        assert match, "no login form"
        data = {"csrf_token": match.group(1), "username": "operator", "password": password}
        return client.post(f"{base}/login", params={"next": "////evil.test/"}, data=data,
                           headers={**host, **headers}, allow_redirects=False)  # fmt: skip

    with requests.Session() as client, requests.Session() as copy:
        answer = log_in(client, DASHBOARD_PASSWORD)
        assert answer.status_code == 302 and answer.headers["Location"] == "/"
        copy.cookies.update(client.cookies)
        assert copy.get(f"{base}/", headers=host, allow_redirects=False).status_code == 200
        page = client.get(f"{base}/", headers=host).text
        token = CSRF.search(page)
        assert token
        client.post(f"{base}/logout", data={"csrf_token": token.group(1)}, headers=host)
        assert copy.get(f"{base}/", headers=host, allow_redirects=False).status_code == 302

    with requests.Session() as forger:
        codes = [
            log_in(forger, "wrong password!", **{"X-Forwarded-For": f"198.51.100.{n}"}).status_code
            for n in range(8)
        ]
        assert 429 in codes, codes
