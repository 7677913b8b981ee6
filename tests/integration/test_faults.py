"""Fault drills against real processes: what hostd says, what keeps serving, what is left.

Each drill breaks something under a running `hostd up` and checks three things:
what hostd reports, what keeps serving meanwhile, and that after recovery every
good site serves and no process is left behind. Drills of the issue that live in
other modules of tests/integration:

- an app crash-looping: test_programs.py::
  test_a_crash_looping_app_is_held_back_without_touching_nginx_or_others
- `kill -9` of hostd mid-apply, at several delays: test_watch.py::
  test_kill_9_during_an_apply_then_a_restart_converges (here: the exact moment
  between writing and switching a generation)
- nginx refusing a candidate that fails `nginx -t` (a bad template): test_safety.py::
  test_nginx_refusing_the_candidate_leaves_the_previous_generation_live
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostd.edges.nginx import accepting_workers
from hostd.edges.process import group_members, kill_all

from .harness import HostdUp, serves, site_yaml, wait_until
from .stress import WRK, self_signed, start_wrk, stop_wrk

ALPHA, BETA = "alpha says hello\n", "beta says hello\n"


def two_sites(up: HostdUp) -> None:
    """alpha and beta, started."""
    up.write_site("alpha", site_yaml(["alpha.test"]))
    up.write_site("beta", site_yaml(["beta.test"]))
    up.start()


def all_serve(up: HostdUp) -> bool:
    return up.get("alpha.test").body == ALPHA and up.get("beta.test").body == BETA


def pid_of(up: HostdUp, daemon: str) -> int:
    """The pid in the daemon's pid file; 0 while it is empty (nginx is starting)."""
    text = (up.home / "run" / f"{daemon}.pid").read_text().strip()
    return int(text) if text.isdigit() else 0


def gunicorns(up: HostdUp) -> set[int]:
    """Every gunicorn process (masters and workers) of the instance's sites."""
    return {
        pid for pid in up.leftovers() if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    }


@contextlib.contextmanager
def reaped(pids: set[int]) -> Iterator[set[int]]:
    """Kill what is left of `pids` at the end even if the test fails (their command
    lines do not name the instance's folder, so the cleanup would not find them)."""
    try:
        yield pids
    finally:
        kill_all([pid for pid in pids if Path(f"/proc/{pid}").exists()])


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (zombies count as gone)."""
    out = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                out.add(pid)
    return out


def kill_nginx(up: HostdUp, *, workers_too: bool) -> None:
    """SIGKILL nginx's master (and its workers); wait until a new one serves both sites."""
    master = pid_of(up, "nginx")
    workers = accepting_workers(master)
    assert workers
    exits = up.log().count("nginx exited (-9); starting it again")
    with reaped(set(workers)):
        os.kill(master, signal.SIGKILL)
        if workers_too:
            for worker in workers:
                os.kill(worker, signal.SIGKILL)

        wait_until(lambda: up.log().count("nginx exited (-9); starting it again") > exits)
        wait_until(lambda: pid_of(up, "nginx") not in (0, master), what="a new nginx master")
        wait_until(lambda: all_serve(up), what="both sites serve again")
        wait_until(lambda: not alive(workers), what="the old workers gone")
    assert up.status()["nginx"] == "serving live"


def test_nginx_killed_is_started_again_and_serves(instance: HostdUp) -> None:
    """SIGKILL of nginx, with its workers or alone: hostd says so and starts it again;
    workers that outlived their master (holding the port) are stopped first."""
    two_sites(instance)
    kill_nginx(instance, workers_too=True)
    kill_nginx(instance, workers_too=False)
    assert "nginx exited (1)" not in instance.log()  # each new one bound at the first try
    assert instance.proc is not None and instance.proc.poll() is None
    assert instance.reload().returncode == 0  # and it takes reloads
    assert all_serve(instance)


@pytest.mark.skipif(WRK is None, reason="wrk is not installed (apt-get install wrk)")
def test_an_nginx_master_killed_under_load_drops_no_request(instance: HostdUp) -> None:
    """nginx's master SIGKILLed while wrk keeps alpha busy: its workers go on serving
    until the nginx started in its place takes over their listening sockets, so wrk
    counts no error and no non-2xx."""
    two_sites(instance)
    master = pid_of(instance, "nginx")
    workers = set(accepting_workers(master))
    url = f"http://127.0.0.1:{instance.port}/"
    with reaped(workers):
        wrk = start_wrk(url, "alpha.test", instance.root, connections=4, seconds=120,
                        pause_ms=1, close=True)  # fmt: skip
        try:
            time.sleep(1.0)
            os.kill(master, signal.SIGKILL)
            wait_until(lambda: pid_of(instance, "nginx") not in (0, master), what="a new nginx")
            wait_until(lambda: not alive(workers), what="the old workers gone")
            time.sleep(1.0)
        finally:
            result = stop_wrk(wrk)
        print(result.output)
    assert result.requests > 500, "wrk hardly ran: no load to speak of"
    assert (result.non_2xx, result.errors) == (0, 0), result.socket_errors
    assert all_serve(instance)


def test_supervisord_killed_is_started_again_without_orphans(instance: HostdUp) -> None:
    """SIGKILL of supervisord: started again with the apps; the orphaned old apps are stopped."""
    two_sites(instance)
    old = gunicorns(instance)
    assert len(old) == 4  # two masters, one worker each
    with reaped(old):
        os.kill(pid_of(instance, "supervisord"), signal.SIGKILL)

        wait_until(lambda: "supervisord exited (-9); starting it again" in instance.log())
        wait_until(lambda: "the old supervisord left" in instance.log(), timeout=30)
        wait_until(lambda: not alive(old), what="the orphaned gunicorns gone")
        wait_until(lambda: all_serve(instance), what="both sites serve again")
    assert len(gunicorns(instance)) == 4
    # the new apps served before Supervisor's startsecs had passed
    wait_until(lambda: programs(instance) == {"RUNNING"}, what="both programs RUNNING")
    # the new masters own their sockets: a graceful stop of an old one did not unlink them
    assert instance.reload().returncode == 0 and all_serve(instance)


@pytest.mark.skipif(WRK is None, reason="wrk is not installed (apt-get install wrk)")
def test_a_supervisord_killed_under_load_drops_no_request(instance: HostdUp) -> None:
    """supervisord SIGKILLed while wrk keeps alpha busy, alpha's app taking 6 s to
    import: the orphans answer until the new apps do, so wrk counts no error, no
    non-2xx and no request over its 2 s timeout; the new apps serve afterwards."""
    slow = {"PROBE_BOOT_SECONDS": "6"}
    instance.write_site("alpha", site_yaml(["alpha.test"], env=slow))
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.start()
    old = gunicorns(instance)
    masters = {name: instance.pid(name) for name in ("alpha", "beta")}
    url = f"http://127.0.0.1:{instance.port}/"
    with reaped(old):
        wrk = start_wrk(url, "alpha.test", instance.root, connections=4, seconds=120,
                        pause_ms=1)  # fmt: skip
        try:
            time.sleep(1.0)
            os.kill(pid_of(instance, "supervisord"), signal.SIGKILL)
            wait_until(lambda: "the old supervisord left" in instance.log(), timeout=60)
            wait_until(lambda: served_by(instance, "alpha.test") != masters["alpha"],
                       what="alpha's new app serving")  # fmt: skip
            time.sleep(1.0)
        finally:
            result = stop_wrk(wrk)
        print(result.output)
        wait_until(lambda: not alive(old), what="the orphaned gunicorns gone")
    assert result.requests > 500, "wrk hardly ran: no load to speak of"
    assert (result.non_2xx, result.errors) == (0, 0), result.socket_errors
    assert result.statuses == {200: result.requests}
    assert all_serve(instance)
    assert all(instance.pid(name) not in (None, masters[name]) for name in masters)
    assert not list((instance.home / "run").glob(".*.orphan"))  # the sockets set aside


def served_by(up: HostdUp, host: str) -> int:
    """The pid of the gunicorn master whose worker answered."""
    return int(up.get(host, "/info").json()["master_pid"])


def programs(up: HostdUp) -> set[str]:
    return {entry["program"] for entry in up.status()["sites"].values()}


def new_supervisord(up: HostdUp, old: int) -> int:
    """The supervisord `hostd up` starts after `old` died, as soon as it runs (0 if
    none within 10 s): read from the kernel's list of hostd's children."""
    assert up.proc is not None
    children = Path(f"/proc/{up.proc.pid}/task/{up.proc.pid}/children")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for pid in map(int, children.read_text().split()):
            with contextlib.suppress(OSError):
                if pid != old and b"supervisord" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
        time.sleep(0.001)
    return 0


def test_a_supervisord_slow_to_start_again_is_waited_for(instance: HostdUp) -> None:
    """supervisord killed, and the one hostd starts instead does not answer within
    its start timeout (frozen here, as one spawning hundreds of programs on a busy
    box is slow): hostd says so, leaves it to start, and once it answers retires the
    dead one's apps; the sites are served throughout."""
    two_sites(instance)
    old = gunicorns(instance)
    with reaped(old):
        dead = pid_of(instance, "supervisord")
        os.kill(dead, signal.SIGKILL)
        frozen = new_supervisord(instance, dead)
        assert frozen
        os.kill(frozen, signal.SIGSTOP)
        try:
            wait_until(lambda: "supervisord did not come up within" in instance.log(), 60)
            assert alive(old) == old and all_serve(instance)  # the orphans still serve
        finally:
            os.kill(frozen, signal.SIGCONT)
        wait_until(lambda: "the old supervisord left" in instance.log(), timeout=30)
        wait_until(lambda: not alive(old), what="the orphaned gunicorns gone")
        wait_until(lambda: all_serve(instance), what="both sites serve again")
    assert pid_of(instance, "supervisord") == frozen  # started once, not again
    assert len(gunicorns(instance)) == 4
    lines = (instance.home / "log" / "hostd.log").read_text().splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert [e["event"] for e in events if e["event"].startswith("daemon-")] == [
        "daemon-down", "daemon-restarted",
    ]  # fmt: skip


def https_get(port: int, host: str) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return int(tls.recv(64).split()[1])


def test_nginx_not_taking_a_reload_that_passed_its_check_is_rolled_back(
    instance: HostdUp,
) -> None:
    """A new HTTPS listen on a port another process holds passes `nginx -t`, but the
    reload keeps the old configuration: hostd sees it, rolls back and says why."""
    two_sites(instance)
    before = instance.status()["generation"]
    self_signed(instance.home / "letsencrypt" / "config" / "live" / "alpha", ["alpha.test"])
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", instance.https_port))
        holder.listen()
        instance.write_site("alpha", site_yaml(["alpha.test"], extra="tls: auto\n"))
        done = instance.reload()

        assert done.returncode == 1
        assert "alpha: failed (serving its last good version): rolled back: " in done.stdout
        assert f"rolled back to generation {before}: " in done.stdout
        assert "Address already in use" in done.stdout
        assert instance.status()["generation"] == before
        assert instance.status()["nginx"] == "serving live"
        assert all_serve(instance)

    done = instance.reload()  # the port is free again
    assert done.returncode == 0 and "alpha: changed" in done.stdout, done.stdout
    assert https_get(instance.https_port, "alpha.test") == 200
    assert instance.get("alpha.test").status == 301  # to HTTPS, now that it is served
    assert instance.get("beta.test").body == BETA


@pytest.fixture
def small_disk(instance: HostdUp) -> Iterator[Path]:
    """A 256 KiB tmpfs as the instance's generations folder (root only), unmounted after."""
    folder = instance.home / "state" / "generations"
    folder.mkdir(parents=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "hostd-test", str(folder)],
        capture_output=True, text=True,
    )  # fmt: skip
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {mount.stderr}")
    try:
        yield folder
    finally:
        instance.stop()  # nginx and supervisord read their configuration from it
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system of `folder` to the last byte; the file that does it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_fails_the_apply_cleanly_and_the_next_one_converges(
    instance: HostdUp, small_disk: Path
) -> None:
    """No room for a new generation: one line says so, the live one serves on, nothing
    half-written stays; with room again the same change goes live."""
    two_sites(instance)
    live = os.readlink(instance.home / "state" / "live")
    pids = {name: instance.pid(name) for name in ("alpha", "beta")}
    filler = fill(small_disk)

    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "new"}))
    done = instance.reload()

    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip().endswith(
        f"nothing applied: cannot write generation 000003 in {small_disk}: No space left on device"
    ), done.stdout
    assert os.readlink(instance.home / "state" / "live") == live
    assert sorted(p.name for p in small_disk.iterdir()) == ["000001", "000002", "filler"]
    assert all_serve(instance)
    assert {name: instance.pid(name) for name in pids} == pids
    state = json.loads((instance.home / "state" / "state.json").read_text())
    assert "No space left on device" in state["last_apply"]["error"]

    filler.unlink()
    done = instance.reload()
    assert done.returncode == 0 and "alpha: changed" in done.stdout, done.stdout
    assert instance.get("alpha.test").body == "alpha says new\n"
    assert instance.pid("beta") == pids["beta"]


def test_sigterm_under_load_stops_cleanly_and_leaves_nothing(instance: HostdUp) -> None:
    """`hostd up` stopped while requests pour in: exit 0, served until the end, nothing left."""
    two_sites(instance)
    nginx_group = pid_of(instance, "nginx")
    answers: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=5)
            try:
                conn.request("GET", "/", headers={"Host": "alpha.test"})
                answers.append(conn.getresponse().status)
            except (OSError, http.client.HTTPException) as exc:
                failures.append(type(exc).__name__)
            finally:
                conn.close()

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(answers) > 200, what="load running")
        served_before = len(answers)
        assert instance.proc is not None
        instance.proc.send_signal(signal.SIGTERM)
        code = instance.proc.wait(60)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)

    assert code == 0, instance.log()
    assert instance.log().rstrip().endswith("hostd: stopped")
    assert set(answers) == {200}, "every answer, up to the stop, was a success"
    assert len(answers) > served_before  # it served while being told to stop
    stopped = {"ConnectionRefusedError", "RemoteDisconnected", "ConnectionResetError"}
    assert failures and set(failures) <= stopped  # after the stop: refused, nothing else
    assert instance.leftovers() == []
    assert group_members(nginx_group) == []  # no nginx worker outlived its master
    assert not (instance.home / "run" / "up.json").exists()
    with socket.socket() as probe:  # the port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", instance.port))


def test_a_generation_written_but_never_switched_is_ignored_on_restart(
    instance: HostdUp,
) -> None:
    """After `kill -9` between writing a generation and switching to it (made exact here:
    the newest folder is complete but not live, a newer one half-written), a restart
    serves the live one and the next apply converges."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    assert instance.proc is not None
    instance.proc.send_signal(signal.SIGKILL)
    instance.proc.wait(10)
    generations = instance.home / "state" / "generations"
    live = (instance.home / "state" / "live").resolve()
    unswitched = generations / "000009"
    shutil.copytree(live, unswitched)
    (unswitched / "nginx" / "nginx.conf").write_text("this is not nginx configuration\n")
    (generations / ".000010.tmp" / "nginx").mkdir(parents=True)
    (generations / ".000010.tmp" / "nginx" / "hostd.conf").write_text("half")

    instance.write_site("beta", site_yaml(["beta.test"]))
    (instance.home / "run" / "up.json").unlink(missing_ok=True)
    instance.start()

    wait_until(serves(instance, "alpha.test", ALPHA), what="alpha after the restart")
    wait_until(serves(instance, "beta.test", BETA), what="beta from the next apply")
    assert os.readlink(instance.home / "state" / "live") == "generations/000010"
    assert not (generations / ".000010.tmp").exists()
    assert instance.status()["nginx"] == "serving live"
