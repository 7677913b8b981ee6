"""The embedded runtime behind `hostd up`: private nginx and supervisord, in the foreground.

Start: claim the home, serve the last good sites under the current settings,
start supervisord and nginx as children, watch the sites folder, apply the site
files, record how to reach this instance. Then: a change in the sites folder
applies again (debounced, one apply at a time), so do SIGHUP and a rescan every
minute; SIGINT/SIGTERM stop everything; a daemon that dies is started again.
Nothing outlives it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from hostd.crashloop import CrashLoopGuard
from hostd.debounce import Debouncer
from hostd.errors import InstanceError
from hostd.layout import Layout
from hostd.lock import claim_instance
from hostd.logs import tail
from hostd.process import daemon_environment, kill_all, processes_mentioning, spawn, stop
from hostd.reconcile import Reconciler
from hostd.render import served_fingerprint
from hostd.report import ApplyReport, Outcome
from hostd.settings import Settings
from hostd.watcher import SiteWatcher
from hostd.wiring import Runtime, make_reconciler, tool, write_runtime

Say = Callable[[str], None]
Applied = Callable[[ApplyReport], None]
DAEMON_START_TIMEOUT = 20.0
LEFTOVER_TIMEOUT = 45.0
logger = logging.getLogger("hostd")
RESCAN_EVERY = 60.0
GUARD_EVERY = 1.0


def daemon_markers(layout: Layout) -> list[str]:
    """Strings only the command lines of this instance's daemons and apps contain."""
    return [f"unix:{layout.run_dir}/", str(layout.supervisord_conf), str(layout.nginx_conf)]


class EmbeddedRuntime:
    def __init__(self, layout: Layout, settings: Settings, say: Say, applied: Applied) -> None:
        self.layout = layout
        self.settings = settings
        self.say = say
        self.applied = applied
        self.stopping = threading.Event()
        self.apply_wanted = threading.Event()
        self.wake = threading.Event()
        self.debouncer = Debouncer()
        self.debouncer_lock = threading.Lock()
        self.watcher: SiteWatcher | None = None
        loops = settings.crashloop
        self.guard = CrashLoopGuard(
            max_starts=loops.max_starts,
            window=loops.window,
            base_delay=loops.base_delay,
            max_delay=loops.max_delay,
        )
        self.supervisord: subprocess.Popen[bytes] | None = None
        self.nginx: subprocess.Popen[bytes] | None = None
        self.reconciler: Reconciler | None = None

    # -- life cycle ------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM; the exit code is 0 after a clean stop."""
        lock = claim_instance(self.layout.up_lock)
        try:
            self._install_signals()
            try:
                self._start()
                self._serve()
            finally:
                self._stop()
        finally:
            self.layout.runtime_file.unlink(missing_ok=True)
            os.close(lock)
        return 0

    def _install_signals(self) -> None:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            self.stopping.set()
            self.wake.set()

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self.apply_wanted.set()
            self.wake.set()

        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    def _prepare_folders(self) -> None:
        layout = self.layout
        for folder in (layout.state_dir, layout.log_root, layout.acme_webroot):
            folder.mkdir(parents=True, exist_ok=True)
        layout.run_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        (layout.nginx_prefix / "tmp").mkdir(parents=True, exist_ok=True)
        layout.sites_dir.mkdir(parents=True, exist_ok=True)

    def _start(self) -> None:
        self._prepare_folders()
        self._reap_leftovers()
        self.reconciler = make_reconciler(self.layout, self.settings)
        boot = self.reconciler.boot()
        self.say(f"serving generation {boot.id} ({len(boot.sites)} last good sites) while starting")
        self._start_supervisord()
        self._start_nginx(served_fingerprint(boot.files))
        if self.stopping.is_set():
            return
        self.watcher = SiteWatcher(self.layout.sites_dir, self._files_changed)
        self.watcher.start()
        self._apply()
        write_runtime(
            self.layout,
            Runtime(
                pid=os.getpid(),
                sites_dir=self.layout.sites_dir,
                listen=self.settings.http.listen,
                http_port=self.settings.http.port,
                https_port=self.settings.http.https_port,
            ),
        )
        http = self.settings.http
        self.say(
            f"ready: http://{http.listen}:{http.port}/ serving {self.layout.sites_dir} "
            "(changes apply as files change); Ctrl-C stops"
        )

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

    def _leftovers(self) -> list[int]:
        return sorted({p for m in daemon_markers(self.layout) for p in processes_mentioning(m)})

    def _files_changed(self) -> None:
        """From the watcher's thread: a site file may have changed."""
        with self.debouncer_lock:
            self.debouncer.event(time.monotonic())
        self.wake.set()

    def _apply(self) -> None:
        """One apply; a bug in it is logged, never the end of the daemon."""
        assert self.reconciler is not None
        try:
            report = self.reconciler.apply()
        except Exception as exc:  # the daemon carries on with the last good state
            logger.exception("apply failed unexpectedly")
            self.say(f"apply failed unexpectedly: {exc!r}; still serving the last good state")
            return
        for result in report.sites:
            if result.outcome is not Outcome.UNCHANGED:
                self.guard.forget(result.name)  # a new version starts with a clean slate
        self.applied(report)

    def _serve(self) -> None:
        next_rescan = time.monotonic() + RESCAN_EVERY
        next_guard = time.monotonic() + GUARD_EVERY
        while not self.stopping.is_set():
            with self.debouncer_lock:
                timeout = self.debouncer.wait(time.monotonic(), 0.25)
            self.wake.wait(timeout)
            self.wake.clear()
            if self.stopping.is_set():
                break
            now = time.monotonic()
            with self.debouncer_lock:
                due = self.debouncer.due(now) or self.apply_wanted.is_set() or now >= next_rescan
                if due:
                    self.debouncer.take()
                    self.apply_wanted.clear()
            if due:
                self._apply()
                next_rescan = time.monotonic() + RESCAN_EVERY
            self._revive()
            if time.monotonic() >= next_guard and self.reconciler is not None:
                self.reconciler.guard_programs(self.guard)
                next_guard = time.monotonic() + GUARD_EVERY

    def _revive(self) -> None:
        """Start again a daemon that died under us."""
        if self.supervisord is not None and self.supervisord.poll() is not None:
            self.say(f"supervisord exited ({self.supervisord.returncode}); starting it again")
            self._start_supervisord()
        if self.nginx is not None and self.nginx.poll() is not None:
            self.say(f"nginx exited ({self.nginx.returncode}); starting it again")
            live = self.reconciler.live() if self.reconciler else None
            self._start_nginx(served_fingerprint(live.files) if live else None)

    # -- the two daemons ---------------------------------------------------------

    def _start_supervisord(self) -> None:
        argv = [tool("supervisord"), "-n", "-c", str(self.layout.supervisord_conf)]
        self.supervisord = spawn(
            argv, env=daemon_environment(os.environ), log=self.layout.log_root / "supervisord.out"
        )
        assert self.reconciler is not None
        supervisor = self.reconciler.edges.supervisor
        self._wait_for("supervisord", self.supervisord, supervisor.is_running)

    def _start_nginx(self, fingerprint: str | None) -> None:
        argv = [
            tool("nginx"),
            "-p",
            f"{self.layout.nginx_prefix}/",
            "-c",
            str(self.layout.nginx_conf),
        ]
        self.nginx = spawn(
            argv, env=daemon_environment(os.environ), log=self.layout.log_root / "nginx.out"
        )
        assert self.reconciler is not None
        nginx = self.reconciler.edges.nginx
        self._wait_for("nginx", self.nginx, lambda: nginx.served_fingerprint() == fingerprint)

    def _wait_for(
        self, name: str, proc: subprocess.Popen[bytes], ready: Callable[[], bool]
    ) -> None:
        deadline = time.monotonic() + DAEMON_START_TIMEOUT
        while not ready():
            if proc.poll() is not None:
                log = self.layout.log_root / f"{name}.out"
                raise InstanceError(f"{name} exited with {proc.returncode} on start: {_last(log)}")
            if time.monotonic() > deadline:
                raise InstanceError(f"{name} did not come up within {DAEMON_START_TIMEOUT:.0f}s")
            if self.stopping.is_set():
                return
            time.sleep(0.05)

    def _stop(self) -> None:
        """Stop nginx, then supervisord and its programs; kill anything left."""
        if self.watcher is not None:
            self.watcher.stop()
        if self.nginx is not None:
            stop(self.nginx, signal.SIGQUIT, 10)
        if self.supervisord is not None:
            stop(self.supervisord, signal.SIGTERM, 60)
        strays = [
            pid for marker in daemon_markers(self.layout) for pid in processes_mentioning(marker)
        ]
        if strays:
            self.say(f"stopping {len(strays)} process(es) left behind: {strays}")
            kill_all(strays)
        self.say("stopped")


def _last(log: Path) -> str:
    return tail(log, 3).replace("\n", " | ") or "no output"
