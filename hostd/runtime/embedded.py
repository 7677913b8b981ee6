"""The embedded runtime behind `hostd up`: private nginx and supervisord, in the foreground.

Start: claim the home, serve the last good sites under the current settings,
start supervisord and nginx as children, then run the shared daemon loop
(`hostd.runtime.daemon`). A daemon that dies is started again without a gap, and what
it left running stops once its successor serves: a dead nginx's workers, whose
listening sockets the new one takes over; a dead supervisord's gunicorns, which
serve from aside until the new ones answer (`hostd.runtime.recovery`).
SIGINT/SIGTERM stop nginx, supervisord and every gunicorn. Nothing outlives it.
SIGUSR2 (`hostd restart`) leaves both running and exec's hostd, whose next self
takes them over (`hostd.runtime.restart`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from hostd.core.layout import Layout
from hostd.core.render import served_fingerprint
from hostd.core.settings import Settings
from hostd.edges.host import tool
from hostd.edges.listeners import close_all, inherited_env, take_listeners
from hostd.edges.logfiles import tail
from hostd.edges.logrotate import rotate
from hostd.edges.nginx import accepting_workers, retire
from hostd.edges.process import (
    Adopted,
    Child,
    daemon_environment,
    group_members,
    kill_all,
    processes_mentioning,
    raise_open_files_limit,
    spawn,
    start_time,
    still_running,
    stop,
)
from hostd.edges.procfs import proc_cmdline, proc_pids, proc_stat
from hostd.edges.records import take_handover, write_handover
from hostd.edges.runner import SubprocessRunner
from hostd.edges.slot_link import SETTLE
from hostd.errors import HostdError, InstanceError, SupervisorError
from hostd.runtime.daemon import Applied, Daemon, Say
from hostd.runtime.recovery import (
    Recovery,
    hand_back,
    leftover_aside,
    remove_aside,
    retire_orphans,
    set_aside,
)

DAEMON_START_TIMEOUT = 20.0
# supervisord answers only once it has spawned every program of the live generation:
# with hundreds of sites on a busy box that is longer than a daemon's usual start
SPAWN_ALLOWANCE = 0.25  # seconds per live site
RESTART_DELAY = 5.0  # after a daemon failed to start again
LEFTOVER_TIMEOUT = 45.0
OLD_WORKERS_FINISH = 10.0  # seconds a dead nginx's workers have for their requests


def daemon_confs(layout: Layout) -> dict[str, str]:
    """Each daemon's configuration file, which its command line names."""
    return {"supervisord": str(layout.supervisord_conf), "nginx": str(layout.nginx_conf)}


def daemon_markers(layout: Layout) -> list[str]:
    """Strings only the command lines of this instance's daemons and apps contain."""
    return [f"unix:{layout.run_dir}/", *daemon_confs(layout).values()]


class EmbeddedRuntime(Daemon):
    """`hostd up`: the daemon loop around a private nginx and supervisord."""

    def __init__(
        self, layout: Layout, settings: Settings, say: Say, applied: Applied, *, watch: bool = True
    ) -> None:
        super().__init__(layout, settings, say, applied, watch=watch)
        self.supervisord: Child | None = None
        self.nginx: Child | None = None
        self.restart_after = 0.0
        self.recovering: Recovery | None = None  # a supervisord started again, not up yet

    def start_services(self) -> None:
        raise_open_files_limit()  # inherited by nginx and supervisord
        if self._take_over():
            return
        self._reap_leftovers()
        boot = self.reconciler.boot()
        self.say(f"serving generation {boot.id} ({len(boot.sites)} last good sites) while starting")
        self._start_supervisord()
        self._start_nginx(served_fingerprint(boot.files))

    def _take_over(self) -> bool:
        """After a restart in place: carry on with the nginx and supervisord the
        process before the exec ran (still its children), as they are; True if both
        were handed over and run. One without the other is stopped, with what it
        runs, and everything starts afresh."""
        handed = take_handover(self.layout)
        markers = daemon_confs(self.layout)
        kept = {
            name: Adopted(pid)
            for name, pid in handed.items()
            if name in markers and _our_child(pid, markers[name])
        }
        self.nginx, self.supervisord = kept.get("nginx"), kept.get("supervisord")
        if len(kept) != len(markers) or not self.wired.supervisor.is_running():
            if kept:
                self.say("a restart in place left only part of what served: starting afresh")
                self.stop_services()
            self.nginx = self.supervisord = None
            return False
        boot = self.reconciler.boot()
        self.say(
            f"restarted in place: kept nginx (pid {kept['nginx'].pid}) and supervisord "
            f"(pid {kept['supervisord'].pid}); serving generation {boot.id}"
        )
        for problem in self.reconciler.resume():
            self.say(f"not serving the live generation yet: {problem}")
        return True

    def may_restart(self) -> bool:
        return self.recovering is None  # a supervisord started again: done first

    def hand_over(self) -> None:
        """Leave nginx and supervisord running for the next self, or stop them (and
        so it starts afresh) if one is down."""
        daemons = {"nginx": self.nginx, "supervisord": self.supervisord}
        running = {n: proc for n, proc in daemons.items() if proc and proc.poll() is None}
        if len(running) < 2:
            self.stop_services()
            return
        write_handover(self.layout, {name: proc.pid for name, proc in running.items()})
        self.say(f"leaving nginx (pid {running['nginx'].pid}) and supervisord "
                 f"(pid {running['supervisord'].pid}) running for the restart")  # fmt: skip

    def _reap_leftovers(self) -> None:
        """Wait for (then kill) daemons a killed earlier run of this home left stopping."""
        pids = self._leftovers()
        if not pids:
            return
        self.say(f"waiting for {len(pids)} process(es) of an earlier run to exit: {pids}")
        deadline = time.monotonic() + LEFTOVER_TIMEOUT
        while pids and time.monotonic() < deadline and not self.stopping.is_set():
            time.sleep(0.2)
            pids = self._leftovers()
        if pids:
            kill_all(pids)
        for path in leftover_aside(self.layout):  # a recovery it did not finish
            path.unlink(missing_ok=True)

    def _leftovers(self) -> list[int]:
        return sorted({p for m in daemon_markers(self.layout) for p in processes_mentioning(m)})

    def keep_logs(self) -> None:
        """Run logrotate on the instance's logs; it rotates what is due (daily, 100 MB)."""
        live = self.reconciler.live()
        try:
            rotate(self.layout, live.sites if live else {}, SubprocessRunner(),
                   tool("logrotate"), force=False)  # fmt: skip
        except HostdError as exc:
            self.say(f"log rotation failed: {exc}")

    def check_services(self) -> None:
        """Start again a daemon that died under us, without what it left running; each
        restart is an event (and through [notify], an alert), so is a failed one."""
        if time.monotonic() < self.restart_after:
            return
        daemon = None
        try:
            if self.supervisord is not None and self.supervisord.poll() is not None:
                daemon, code = "supervisord", self.supervisord.returncode
                self.say(f"supervisord exited ({code}); starting it again")
                # every gunicorn running now: one that died starting leaves its own too
                self.recovering = Recovery(self._apps(), self._set_aside(), code)
                self._start_supervisord()
                self._recovered()
            elif self.recovering is not None and self.wired.supervisor.is_running():
                self._recovered()  # it was slow to start: said when its start timed out
            if self.nginx is not None and self.nginx.poll() is not None:
                daemon, code = "nginx", self.nginx.returncode
                self.say(f"nginx exited ({code}); starting it again")
                self._replace_nginx(group_members(self.nginx.pid, "nginx"))
                self._restarted(daemon, code, self.nginx.pid)
        except HostdError as exc:
            self.restart_after = time.monotonic() + RESTART_DELAY
            self.say(f"{exc}; trying again in {RESTART_DELAY:.0f}s")
            self.wired.events.emit("daemon-down", level=logging.ERROR, daemon=daemon,
                                   error=str(exc))  # fmt: skip

    def _recovered(self) -> None:
        """The supervisord started again answers: once the new apps answer on their
        sockets, the sites go back to them and the dead one's apps stop
        (`hostd.runtime.recovery`). A supervisord slow to start (hundreds of programs
        on a busy box) is left to start; a later check ends the recovery."""
        recovery = self.recovering
        assert recovery is not None and self.supervisord is not None
        self._await_new_apps(recovery.aside)
        hand_back(self.layout, recovery.aside)
        if recovery.orphans:
            time.sleep(SETTLE)  # the orphans answer what was queued on them
            left = retire_orphans(recovery.orphans)
            self.say(f"stopped {len(left)} process(es) the old supervisord left: {left}")
        remove_aside(recovery.aside.values())
        self.reconciler.end_warm_slots()  # started anew: not the old versions
        self.recovering = None
        self._restarted("supervisord", recovery.code, self.supervisord.pid)

    def _replace_nginx(self, workers: list[int]) -> None:
        """Start nginx in place of a dead master whose `workers` outlive it, serving on
        its ports with the old configuration: the new one takes their listening
        sockets (`hostd.edges.listeners`), and they stop gracefully once it runs, so
        no connection is refused in between. Where the sockets cannot be taken, the
        workers stop first (they hold the ports the new nginx binds)."""
        sockets = take_listeners(workers)
        if not sockets:
            kill_all(workers)
        live = self.reconciler.live()
        try:
            self._start_nginx(served_fingerprint(live.files) if live else None, sockets)
        except HostdError:
            kill_all(workers)  # the next attempt binds the ports afresh
            raise
        finally:
            close_all(sockets)
        if sockets:
            self.say(f"the new nginx took over the sockets of {len(workers)} old worker(s)")
            retire(set(workers))  # they finish what they serve
            kill_all(still_running(workers, OLD_WORKERS_FINISH))

    def _restarted(self, daemon: str, code: int | None, pid: int) -> None:
        self.wired.events.emit("daemon-restarted", level=logging.WARNING, daemon=daemon,
                               exit_code=code, pid=pid, by="hostd")  # fmt: skip

    def _apps(self) -> dict[int, int]:
        """The gunicorns running now (pid -> start time)."""
        pids = processes_mentioning(daemon_markers(self.layout)[0])
        return {pid: start for pid in pids if (start := start_time(pid)) is not None}

    def _set_aside(self) -> dict[str, Path]:
        """Each live site served by its orphan from aside (`hostd.runtime.recovery`);
        those of a recovery under way stay where they are."""
        if self.recovering is not None:
            return self.recovering.aside
        live = self.reconciler.live()
        return set_aside(self.layout, live.sites if live else ())

    def _await_new_apps(self, aside: dict[str, Path]) -> None:
        """Wait until the new app of each site set aside answers on its own socket,
        as an apply's check asks it; one that does not within the start timeout is
        said (its site goes back to it all the same: its orphan must stop)."""
        try:
            failures = self.reconciler.failing_apps(aside)
        except SupervisorError as exc:
            failures = {"every site": str(exc)}
        for name, reason in sorted(failures.items()):
            self.say(f"{name}: its app did not answer after supervisord started again: {reason}")

    # -- the two daemons ---------------------------------------------------------

    def _start_supervisord(self) -> None:
        argv = [tool("supervisord"), "-n", "-c", str(self.layout.supervisord_conf)]
        self.supervisord = spawn(
            argv, env=daemon_environment(os.environ), log=self.layout.log_root / "supervisord.out"
        )
        supervisor = self.wired.supervisor
        live = self.reconciler.live()
        timeout = DAEMON_START_TIMEOUT + SPAWN_ALLOWANCE * len(live.sites if live else ())
        self._wait_for("supervisord", self.supervisord, supervisor.is_running, timeout)

    def _start_nginx(self, fingerprint: str | None, sockets: list[int] | None = None) -> None:
        """Start nginx and wait until it serves `fingerprint`; with `sockets` (listening
        sockets taken from a dead master's workers), until its own workers accept on
        them (the old ones answer the fingerprint too)."""
        argv = [
            tool("nginx"),
            "-p",
            f"{self.layout.nginx_prefix}/",
            "-c",
            str(self.layout.nginx_conf),
        ]
        env = {**daemon_environment(os.environ), **inherited_env(sockets or ())}
        self.nginx = spawn(
            argv, env=env, log=self.layout.log_root / "nginx.out", pass_fds=sockets or ()
        )
        nginx, master = self.wired.nginx, self.nginx.pid

        def ready() -> bool:
            if sockets and not accepting_workers(master):
                return False
            return nginx.served_fingerprint() == fingerprint

        self._wait_for("nginx", self.nginx, ready)

    def _wait_for(
        self, name: str, proc: Child, ready: Callable[[], bool],
        timeout: float = DAEMON_START_TIMEOUT,
    ) -> None:  # fmt: skip
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                log = self.layout.log_root / f"{name}.out"
                raise InstanceError(f"{name} exited with {proc.returncode} on start: {_last(log)}")
            if time.monotonic() > deadline:
                raise InstanceError(f"{name} did not come up within {timeout:.0f}s")
            if self.stopping.is_set():
                return
            time.sleep(0.05)

    def stop_services(self) -> None:
        """Stop nginx, then supervisord and its programs; kill anything left."""
        if self.nginx is not None:
            stop(self.nginx, signal.SIGQUIT, 10)
        if self.supervisord is not None:
            stop_programs_at_once(self.supervisord)
            stop(self.supervisord, signal.SIGTERM, 60)
        strays = [
            pid for marker in daemon_markers(self.layout) for pid in processes_mentioning(marker)
        ]
        if strays:
            self.say(f"stopping {len(strays)} process(es) left behind: {strays}")
            kill_all(strays)
        self.say("stopped")


SHUTDOWN_NOTICED = 0.2  # supervisord takes a SIGTERM in at the end of its loop's turn


def stop_programs_at_once(supervisord: Child) -> None:
    """SIGTERM to supervisord (from then on it restarts nothing), then to every program
    it runs at once: supervisord alone stops one group after another, and with one
    group per site 300 sites took a minute."""
    if supervisord.poll() is not None:
        return
    supervisord.send_signal(signal.SIGTERM)
    time.sleep(SHUTDOWN_NOTICED)
    for pid in proc_pids():
        info = proc_stat(pid)
        if info is not None and info.ppid == supervisord.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def _our_child(pid: int, marker: str) -> bool:
    """True if `pid` is a child of this process whose command line names `marker`."""
    stat = proc_stat(pid)
    command = proc_cmdline(pid) or b""
    return stat is not None and stat.ppid == os.getpid() and marker.encode() in command


def _last(log: Path) -> str:
    return tail(log, 3).replace("\n", " | ") or "no output"
