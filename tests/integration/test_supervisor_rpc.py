"""hostd's rpcinterface inside a real supervisord: a reread that parses only the
programs whose text changed gives the same answer as Supervisor's full reread."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostd.core.program import ConfigDiff, ProgramInfo
from hostd.edges.supervisor import XmlRpcSupervisor
from hostd.errors import SupervisorError

from .harness import wait_until

SUPERVISORD = Path(sys.executable).parent / "supervisord"
SLEEP = shutil.which("sleep") or "/bin/sleep"
NOTHING = ConfigDiff((), (), ())


@dataclass
class Instance:
    folder: Path
    programs: Path
    hostd: XmlRpcSupervisor  # through hostd's rpcinterface
    full: XmlRpcSupervisor  # Supervisor's own reloadConfig

    def write(self, *sections: str) -> None:
        tmp = self.programs.with_suffix(".tmp")
        tmp.write_text("".join(sections))
        os.replace(tmp, self.programs)

    def logs(self, name: str) -> Path:
        folder = self.folder / "logs" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def program(instance: Instance, name: str, seconds: int = 1000, extra: str = "") -> str:
    return (
        f"[program:{name}]\ncommand={SLEEP} {seconds}\n"
        f'environment=SITE="{name}",WHERE="%(here)s",WHO="%(program_name)s"\n'
        f"autostart=true\nstartsecs=0\nstopasgroup=true\nkillasgroup=true\n"
        f"redirect_stderr=true\nstdout_logfile={instance.logs(name)}/app.log\n{extra}"
    )


def start(
    folder: Path, plugin: bool, options: str = "", pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    hostd = (
        "[rpcinterface:hostd]\n"
        "supervisor.rpcinterface_factory = hostd.edges.supervisor_rpc:make_rpcinterface\n"
        f"{options}"
    )
    (folder / "supervisord.conf").write_text(
        f"[unix_http_server]\nfile={folder}/s.sock\nchmod=0700\n"
        f"[supervisord]\nlogfile={folder}/supervisord.log\npidfile={folder}/s.pid\n"
        f"nodaemon=true\nuser=root\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        f"{hostd if plugin else ''}[include]\nfiles={folder}/programs.conf\n"
    )
    return subprocess.Popen(
        [str(SUPERVISORD), "-n", "-c", str(folder / "supervisord.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        pass_fds=pass_fds,
    )  # fmt: skip


@contextlib.contextmanager
def supervisord(
    *names: str, plugin: bool = True, options: str = "", pass_fds: tuple[int, ...] = ()
) -> Iterator[Instance]:
    with tempfile.TemporaryDirectory(prefix="sr-", dir="/tmp") as name:
        folder = Path(name)
        programs = folder / "programs.conf"
        instance = Instance(
            folder,
            programs,
            XmlRpcSupervisor(folder / "s.sock", 10.0, programs=programs),
            XmlRpcSupervisor(folder / "s.sock", 10.0),
        )
        instance.write(*(program(instance, n) for n in names))
        proc = start(folder, plugin, options, pass_fds)
        try:
            wait_until(instance.full.is_running, 20, "supervisord answers")
            yield instance
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def apply(instance: Instance, diff: ConfigDiff) -> None:
    """What hostd does with a reread's answer: every change made."""
    for group in (*diff.removed, *diff.changed):
        instance.hostd.remove(group)
    for group in (*diff.changed, *diff.added):
        instance.hostd.add(group)


def test_a_partial_reread_answers_as_the_full_one() -> None:
    with supervisord("alpha", "beta", "gamma") as instance:
        assert instance.hostd.reload_config() == NOTHING  # the first call reads everything
        instance.write(
            program(instance, "alpha"),
            program(instance, "beta", seconds=2000),  # changed
            program(instance, "delta"),  # added; gamma removed
        )
        partial = instance.hostd.reload_config()
        assert partial == ConfigDiff(("delta",), ("beta",), ("gamma",))
        # Supervisor's own reread of the same file finds the same, config for config
        assert instance.full.reload_config() == partial
        assert instance.hostd.reload_config() == partial
        apply(instance, partial)
        assert instance.full.reload_config() == NOTHING
        assert instance.hostd.reload_config() == NOTHING
        running = {"alpha": "RUNNING", "beta": "RUNNING", "delta": "RUNNING"}
        wait_until(
            lambda: {n: i.state for n, i in instance.full.all_info().items()} == running,
            10,
            "alpha, beta and delta running",
        )


def test_unchanged_programs_are_not_parsed_again() -> None:
    """A section that would no longer parse (its log folder is gone) is not parsed
    again while its text stays the same: only the changed one is."""
    with supervisord("alpha", "beta") as instance:
        assert instance.hostd.reload_config() == NOTHING
        sections = program(instance, "alpha"), program(instance, "beta", seconds=5)
        shutil.rmtree(instance.logs("alpha"))
        instance.write(*sections)
        assert instance.hostd.reload_config() == ConfigDiff((), ("beta",), ())
        with pytest.raises(SupervisorError, match="alpha"):
            instance.full.reload_config()  # the full reread parses alpha and refuses


def test_a_changed_program_that_does_not_parse_is_refused_and_nothing_is_lost() -> None:
    with supervisord("alpha", "beta") as instance:
        assert instance.hostd.reload_config() == NOTHING
        instance.write(program(instance, "alpha"), program(instance, "beta", extra="startsecs=x\n"))
        with pytest.raises(SupervisorError, match="program:beta"):
            instance.hostd.reload_config()
        instance.write(program(instance, "alpha"), program(instance, "beta", seconds=7))
        assert instance.hostd.reload_config() == ConfigDiff((), ("beta",), ())
        assert instance.full.reload_config() == ConfigDiff((), ("beta",), ())


def test_a_file_with_other_sections_is_reread_whole() -> None:
    with supervisord("alpha") as instance:
        assert instance.hostd.reload_config() == NOTHING
        group = "[group:pair]\nprograms=alpha,beta\n"
        instance.write(program(instance, "alpha"), program(instance, "beta"), group)
        diff = instance.hostd.reload_config()
        assert diff == instance.full.reload_config()
        assert set(diff.added) == {"pair"} and set(diff.removed) == {"alpha"}


def test_a_supervisord_without_the_rpcinterface_gets_the_full_reread() -> None:
    with supervisord("alpha", plugin=False) as instance:
        instance.write(program(instance, "alpha", seconds=3))
        assert instance.hostd.reload_config() == ConfigDiff((), ("alpha",), ())
        assert instance.hostd.programs is None  # asked once, then no more


def test_programs_started_early_run_and_are_kept_by_a_reread() -> None:
    """`start_early` (hostd.addPrograms): the program has its process once the call
    returns; a reread of a file with the same section later finds it unchanged and
    leaves its process alone; one supervisord has already is left as it is."""
    with supervisord("alpha") as instance:
        assert instance.hostd.reload_config() == NOTHING
        section = program(instance, "beta")
        assert instance.hostd.start_early(
            {"beta": section, "alpha": program(instance, "alpha")}
        ) == ["beta"]
        beta = instance.full.info("beta")
        assert beta is not None and beta.pid > 0 and beta.state in ("STARTING", "RUNNING")
        instance.write(program(instance, "alpha"), section)
        assert instance.hostd.reload_config() == NOTHING
        again = instance.full.info("beta")
        assert again is not None and again.pid == beta.pid


def stopping_slowly(instance: Instance, name: str, on_term: str, extra: str = "") -> str:
    """A program that does `on_term` (shell) when told to stop."""
    script = instance.folder / f"{name}.sh"
    script.write_text(f"trap '{on_term}' TERM\necho started\nwhile :; do sleep 0.05; done\n")
    section = program(instance, name, extra=extra)
    return section.replace(f"command={SLEEP} 1000", f"command=/bin/sh {script}")


def pid_gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()  # exited and reaped


def trapping(instance: Instance, name: str) -> ProgramInfo:
    """`name` (a `stopping_slowly` program) once it runs and has set its trap: told to
    stop before that, its shell would die at once."""
    info = running(instance, name)
    log = instance.logs(name) / "app.log"
    wait_until(lambda: log.exists() and "started" in log.read_text(), 10, f"{name} trapping")
    return info


def running(instance: Instance, name: str) -> ProgramInfo:
    """`name`'s info once supervisord says it runs."""
    wait_until(lambda: (i := instance.full.info(name)) is not None and i.state == "RUNNING",
               10, f"{name} running")  # fmt: skip
    info = instance.full.info(name)
    assert info is not None
    return info


def test_a_retired_program_is_forgotten_at_once_and_stops_on_its_own() -> None:
    """A group retired while its process takes 1 s to stop: supervisord forgets it
    within the call, a new group of the same name starts beside the old process,
    which then exits, is reaped, and its last output reaches its log."""
    with supervisord() as instance:
        instance.write(stopping_slowly(instance, "alpha", "echo stopping; sleep 1; exit 0"))
        assert instance.hostd.reload_config() == ConfigDiff(("alpha",), (), ())
        instance.hostd.add("alpha")
        old = trapping(instance, "alpha")
        instance.hostd.retire("alpha")
        assert instance.full.info("alpha") is None  # forgotten, not waited for
        assert not pid_gone(old.pid)
        instance.write(program(instance, "alpha", seconds=2000))
        assert instance.hostd.reload_config() == ConfigDiff(("alpha",), (), ())
        instance.hostd.add("alpha")
        new = instance.full.info("alpha")
        assert new is not None and new.pid != old.pid and not pid_gone(old.pid)
        wait_until(lambda: pid_gone(old.pid), 10, "the retired process exited and was reaped")
        log = (instance.logs("alpha") / "app.log").read_text()
        assert "stopping" in log
        info = instance.full.info("alpha")
        assert info is not None and info.pid == new.pid and info.state == "RUNNING"


def test_a_retired_program_that_ignores_its_stop_is_killed_after_its_stop_wait() -> None:
    with supervisord() as instance:
        instance.write(stopping_slowly(instance, "alpha", "", extra="stopwaitsecs=1\n"))
        instance.hostd.reload_config()
        instance.hostd.add("alpha")
        old = trapping(instance, "alpha")
        instance.hostd.retire("alpha")
        assert instance.full.info("alpha") is None
        wait_until(lambda: pid_gone(old.pid), 10, "SIGKILLed once its stop wait passed")
        assert "killing 'alpha'" in (instance.folder / "supervisord.log").read_text()


def test_a_retired_program_held_running_stops_when_told_or_when_its_hold_is_up() -> None:
    """Retired with stop false, the old process runs beside the new group of its name
    until `stop_retired`; one never told stops once the rpcinterface's
    `retired_hold` has passed."""
    with supervisord(options="retired_hold = 2\n") as instance:
        instance.write(stopping_slowly(instance, "alpha", "echo stopping; exit 0"))
        instance.hostd.reload_config()
        instance.hostd.add("alpha")
        old = trapping(instance, "alpha")
        instance.hostd.retire("alpha", stop=False)
        assert instance.full.info("alpha") is None
        instance.write(program(instance, "alpha", seconds=2000))
        instance.hostd.reload_config()
        instance.hostd.add("alpha")
        time.sleep(0.5)
        assert not pid_gone(old.pid)  # held
        instance.hostd.stop_retired()
        wait_until(lambda: pid_gone(old.pid), 10, "the held process stopped when told")
        assert "stopping" in (instance.logs("alpha") / "app.log").read_text()

        new = running(instance, "alpha")
        instance.hostd.retire("alpha", stop=False)
        started = time.monotonic()
        wait_until(lambda: pid_gone(new.pid), 10, "the held process stopped at its hold's end")
        assert time.monotonic() - started > 1.0  # not before


def test_retiring_without_the_rpcinterface_waits_as_a_removal() -> None:
    with supervisord("alpha", plugin=False) as instance:
        old = running(instance, "alpha")
        instance.hostd.retire("alpha")
        assert instance.full.info("alpha") is None and pid_gone(old.pid)


def test_an_answer_cut_short_is_a_supervisor_error() -> None:
    """A supervisord killed while it sends an answer leaves half an XML document: the
    daemon sees a SupervisorError (and starts supervisord again), not a crash."""
    import socket
    import threading

    path = Path(tempfile.mkdtemp(prefix="sr-", dir="/tmp")) / "s.sock"
    body = b"<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n<"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)

    def answer_half() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )

    thread = threading.Thread(target=answer_half, daemon=True)
    thread.start()
    try:
        with pytest.raises(SupervisorError, match="not reachable"):
            XmlRpcSupervisor(path, 5.0).all_info()
    finally:
        thread.join(5)
        server.close()
        shutil.rmtree(path.parent)


def autogroup(pid: int) -> str | None:
    """The scheduler's group of `pid` (None on a kernel without autogroup)."""
    try:
        return Path(f"/proc/{pid}/autogroup").read_text().split()[0]
    except OSError:
        return None


def test_each_program_leads_a_session_of_its_own() -> None:
    """With hostd's rpcinterface each program (started with supervisord, added, or
    started early) leads a new session and process group, so that a scheduler that
    groups by session shares the CPU between programs; without it, each leads a
    process group inside supervisord's session."""
    with supervisord("alpha", "beta") as instance:
        instance.hostd.start_early({"gamma": program(instance, "gamma")})
        pids = {n: running(instance, n).pid for n in ("alpha", "beta", "gamma")}
        daemon = int((instance.folder / "s.pid").read_text())
        for name, pid in pids.items():
            assert os.getsid(pid) == pid and os.getpgid(pid) == pid, name
        groups = {autogroup(pid) for pid in (daemon, *pids.values())}
        if autogroup(daemon) is not None:
            assert len(groups) == 4, groups
    with supervisord("alpha", plugin=False) as instance:
        pid = running(instance, "alpha").pid
        daemon = int((instance.folder / "s.pid").read_text())
        assert os.getpgid(pid) == pid and os.getsid(pid) == os.getsid(daemon) != pid


def open_descriptors(pid: int) -> set[int]:
    return {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}


def test_a_program_inherits_no_descriptor_of_supervisord() -> None:
    """Each program starts with its stdin, stdout and stderr alone, though supervisord
    holds a descriptor a child would inherit (one it was started with; its own are
    close-on-exec): closed in the child before its exec, at once with hostd's
    rpcinterface as in Supervisor's loop without it. supervisord keeps its own open:
    it still answers and still reads each program's output into its log."""
    shell = shutil.which("sh") or "/bin/sh"
    read, write = os.pipe()
    os.set_inheritable(write, True)
    try:
        for plugin in (True, False):
            with supervisord("alpha", "beta", plugin=plugin, pass_fds=(write,)) as instance:
                talker = program(instance, "gamma").replace(
                    f"command={SLEEP} 1000",
                    f"command={shell} -c 'echo gamma-ready; exec {SLEEP} 1000'",
                )
                if plugin:
                    assert instance.hostd.start_early({"gamma": talker}) == ["gamma"]
                else:
                    instance.write(program(instance, "alpha"), program(instance, "beta"), talker)
                    apply(instance, instance.full.reload_config())
                daemon = int((instance.folder / "s.pid").read_text())
                assert write in open_descriptors(daemon)
                for name in ("alpha", "beta", "gamma"):
                    pid = running(instance, name).pid
                    assert open_descriptors(pid) == {0, 1, 2}, (name, plugin)
                log = instance.logs("gamma") / "app.log"
                wait_until(lambda log=log: "gamma-ready" in log.read_text(), 10, "gamma's output")
                assert instance.full.info("alpha") is not None
    finally:
        os.close(read)
        os.close(write)
