"""The watching daemon both runtimes share: signals, watcher, debounced applies, guard.

`hostd up` (embedded) and `hostd watch` (system) differ only in what they do
around this loop: the embedded one starts and stops its own nginx and
supervisord, the system one plugs into the machine's.

Loop: a change in the sites folder applies again (debounced, latest state wins,
one apply at a time; a burst's first complete write applies at once), so do SIGHUP
and a rescan every minute; crash-looping
programs are checked every second; SIGINT/SIGTERM end it; SIGUSR2 restarts it in
place (`hostd.runtime.restart`).

Signal handlers take no lock: they set a `Flag` (a plain attribute) and Python's
wakeup fd (`signal.set_wakeup_fd`) writes a byte into a pipe the loop sleeps on; the
watcher's thread writes into the same pipe. However many SIGHUPs and file events
arrive, they go through one debouncer: a storm during an apply makes one more apply.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import FrameType

from hostd.apply.reconciler import Reconciler
from hostd.core.alerts import expiring
from hostd.core.crashloop import CrashLoopGuard
from hostd.core.layout import Layout
from hostd.core.report import ApplyReport, Outcome
from hostd.core.settings import Settings
from hostd.core.site import Site, Tls
from hostd.core.timing import Debouncer
from hostd.edges.certstore import read_certificate
from hostd.edges.inputs import builtin_site, served_settings
from hostd.edges.records import HEALED, UpRecord, forget_healings, write_up
from hostd.edges.reload_inbox import Reply, answer, pending, take_requests
from hostd.edges.reload_inbox import prepare as prepare_inbox
from hostd.edges.up_lock import claim_instance
from hostd.edges.watcher import SiteWatcher, env_files
from hostd.errors import EXIT_ERROR, HostdError, error_line
from hostd.runtime.guard import ProgramGuard
from hostd.runtime.metrics import serving_figures
from hostd.runtime.reloads import reload_named
from hostd.runtime.restart import HANDLED_SIGNALS, exec_self
from hostd.runtime.wiring import Wired, make_cert_manager, make_reconciler, wire

Say = Callable[[str], None]
Applied = Callable[[ApplyReport], None]
RESCAN_EVERY = 60.0
GUARD_EVERY = 1.0
CERTS_EVERY = 60.0  # certificates due or backing off are looked at this often
LOGS_EVERY = 3600.0  # log rotation (embedded) is looked at this often
logger = logging.getLogger("hostd")


class Flag:
    """A yes/no a signal handler may set: a plain attribute, no lock (a handler that
    waits on a lock its own thread holds waits forever)."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set


class Wakeup:
    """A self-pipe the loop sleeps on: signals (through the wakeup fd) and other
    threads write a byte to it to end the sleep early."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def poke(self) -> None:
        with contextlib.suppress(BlockingIOError):  # a full pipe wakes the loop anyway
            os.write(self.write_fd, b"w")

    def sleep(self, timeout: float) -> None:
        """Until poked or `timeout` seconds; empties the pipe."""
        ready, _, _ = select.select([self.read_fd], [], [], timeout)
        if ready:
            try:
                while os.read(self.read_fd, 4096):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


class Daemon:
    def __init__(
        self, layout: Layout, settings: Settings, say: Say, applied: Applied, *, watch: bool = True
    ) -> None:
        self.layout = layout
        self.watch = watch
        self.settings = settings
        self.say = say
        self.applied = applied
        self.stopping = Flag()
        self.apply_wanted = Flag()
        self.restart_wanted = Flag()  # SIGUSR2: `hostd restart`
        self.reloads_wanted = Flag()  # SIGUSR1: `hostd reload SITE` requests wait
        self.reloads_wanted.set()  # and those a self before a restart in place left
        self.handing_over = False  # the loop ended for a restart in place
        self.wakeup = Wakeup()
        self.debouncer = Debouncer()
        self.debouncer_lock = threading.Lock()
        self.watcher: SiteWatcher | None = None
        loops = settings.crashloop
        self.crash_loops = CrashLoopGuard(
            max_starts=loops.max_starts,
            window=loops.window,
            base_delay=loops.base_delay,
            max_delay=loops.max_delay,
        )
        self._wired: Wired | None = None
        self._program_guard: ProgramGuard | None = None
        self.certs = make_cert_manager(layout, settings)
        self.certs_wanted = True

    @property
    def wired(self) -> Wired:
        """The transaction and the real edges, built on first use."""
        if self._wired is None:
            self._wired = wire(self.layout, self.settings)
        return self._wired

    @property
    def reconciler(self) -> Reconciler:
        return self.wired.reconciler

    @property
    def program_guard(self) -> ProgramGuard:
        if self._program_guard is None:
            wired = self.wired
            self._program_guard = ProgramGuard(
                self.crash_loops, self.layout, wired.reconciler, wired.supervisor, wired.events
            )
        return self._program_guard

    # -- what each runtime adds --------------------------------------------------

    def start_services(self) -> None:
        """Before the first apply: bring up what serves the sites."""

    def check_services(self) -> None:
        """Every turn of the loop: notice a service that died."""

    def stop_services(self) -> None:
        """On the way out."""

    def may_restart(self) -> bool:
        """Whether a restart in place may happen now (else it waits for a later turn)."""
        return True

    def hand_over(self) -> None:
        """On the way out to a restart in place (`hostd.runtime.restart`): what serves
        the sites is left running for the next self."""
        self.stop_services()

    def sites_changed(self) -> None:
        """After an apply that changed which sites or versions are live."""

    def keep_logs(self) -> None:
        """Now and then: rotate the logs if that is this runtime's job."""

    # -- life cycle ----------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM; the exit code is 0 after a clean stop. On
        SIGUSR2 it restarts in place instead: this process exec's itself."""
        lock = claim_instance(self.layout.up_lock)
        previous_wakeup = -1
        try:
            previous_wakeup = self._install_signals()
            try:
                self.prepare_folders()
                self.start_services()
                if not self.stopping.is_set():
                    with serving_figures(self.layout, self.settings, self.say):
                        self._start_watching()
                        self._serve()
            finally:
                if self.watcher is not None:
                    self.watcher.stop()
                if self._restarting():
                    self.hand_over()
                else:
                    self.stop_services()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            self.wakeup.close()
            self.layout.runtime_file.unlink(missing_ok=True)
            os.close(lock)
        if self._restarting():
            exec_self()
        return 0

    def _restarting(self) -> bool:
        """The loop ended for a restart in place, and no stop came since."""
        return self.handing_over and not self.stopping.is_set()

    def _install_signals(self) -> int:
        """Handlers that only set flags; the wakeup fd ends the loop's sleep. Returns
        the wakeup fd that was set before, to restore on the way out."""

        def on_stop(signum: int, frame: FrameType | None) -> None:
            self.stopping.set()

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self.apply_wanted.set()

        def on_usr2(signum: int, frame: FrameType | None) -> None:
            self.restart_wanted.set()

        def on_usr1(signum: int, frame: FrameType | None) -> None:
            self.reloads_wanted.set()

        previous = signal.set_wakeup_fd(self.wakeup.write_fd, warn_on_full_buffer=False)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGHUP, on_hup)
        signal.signal(signal.SIGUSR2, on_usr2)
        signal.signal(signal.SIGUSR1, on_usr1)
        # blocked across a restart in place's exec (`exec_self`), where their default
        # would end the process: what arrived meanwhile is taken now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)
        return previous

    def prepare_folders(self) -> None:
        layout = self.layout
        for folder in (layout.state_dir, layout.log_root, layout.acme_webroot, layout.sites_dir):
            folder.mkdir(parents=True, exist_ok=True)
        layout.run_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        prepare_inbox(layout.run_dir, os.getpid())
        (layout.nginx_prefix / "tmp").mkdir(parents=True, exist_ok=True)
        forget_healings(layout.state_dir / HEALED)  # status shows what this start heals

    def _start_watching(self) -> None:
        if self.watch:
            self.watcher = SiteWatcher(self.layout.sites_dir, self._files_changed)
            self.watcher.start()
        self.apply()
        self.sites_changed()
        http = self.settings.http
        write_up(
            self.layout,
            UpRecord(
                pid=os.getpid(),
                sites_dir=self.layout.sites_dir,
                listen=http.listen,
                http_port=http.port,
                https_port=http.https_port,
            ),
        )
        try:
            take_requests(self.layout.run_dir, os.getpid())
        except OSError as exc:  # `hostd reload SITE` then reloads in the command
            self.say(f"cannot take reload requests in {self.layout.run_dir}: {exc}")
        dashboard = self.settings.dashboard
        if dashboard.enabled:
            domain = dashboard.domain or "dashboard.localhost"
            self.say(f"dashboard: http://{domain}:{http.port}/ (hostd dashboard passwd USER)")
        self.say(
            f"ready: http://{http.listen}:{http.port}/ serving {self.layout.sites_dir} "
            + ("(changes apply as files change); " if self.watch else "(hostd reload applies); ")
            + "Ctrl-C stops"
        )

    def _files_changed(self, complete: bool) -> None:
        """From the watcher's thread: a site file may have changed (`complete`: by a
        write that is whole, which applies without waiting for the burst to end)."""
        with self.debouncer_lock:
            self.debouncer.event(time.monotonic(), complete=complete)
        self.wakeup.poke()

    def apply(self, *, reread: bool = False) -> None:
        """One apply; a bug in it is logged, never the end of the daemon. `reread`:
        read hostd.toml's [dashboard] again first (SIGHUP, the rescan)."""
        try:
            if reread:
                self.reconciler.builtin = builtin_site(self.layout)
            report = self.reconciler.apply()
            if self.watcher is not None:  # the env files of the sites now live
                self.watcher.watch_files(env_files(self.reconciler.live()))
        except Exception as exc:  # the daemon carries on with the last good state
            logger.exception("apply failed unexpectedly")
            self.say(f"apply failed unexpectedly: {exc!r}; still serving the last good state")
            return
        changed = [r.name for r in report.sites if r.outcome is not Outcome.UNCHANGED]
        for name in changed:
            self.crash_loops.forget(name)  # a new version starts with a clean slate
        if changed:
            self.certs_wanted = True
            self.sites_changed()
        self.applied(report)

    def answer_reloads(self) -> None:
        """Answer each `hostd reload SITE…` waiting (`hostd.edges.reload_inbox`) as the
        command would have, with the settings hostd.toml has now (the daemon's own
        transaction while they are the ones it runs with: its renders are at hand)."""
        for request in pending(self.layout.run_dir):
            try:
                http = self.settings.http
                settings = served_settings(self.layout, http.listen, http.port, http.https_port)
                reconciler = (
                    self.reconciler
                    if settings == self.settings
                    else make_reconciler(self.layout, settings)
                )
                reply = reload_named(reconciler, self.layout, request.sites, request.json)
            except HostdError as exc:
                reply = Reply([], [error_line(exc, "reload")], exc.exit_code)
            except Exception as exc:  # the daemon carries on; the command says why
                logger.exception("a handed reload failed unexpectedly")
                reply = Reply([], [f"hostd: error: the reload failed: {exc!r}"], EXIT_ERROR)
            try:
                answer(self.layout.run_dir, request, reply)
            except OSError as exc:
                self.say(f"could not answer hostd reload {' '.join(request.sites)}: {exc}")

    def tend_certificates(self) -> None:
        """Get or renew what `tls: auto` sites need; apply once if any changed."""
        self.certs_wanted = False
        live = self.reconciler.live()
        if live is None:
            return
        try:
            results = self.certs.run(live.sites)
        except Exception as exc:  # certificates never take the daemon down
            logger.exception("certificate run failed unexpectedly")
            self.say(f"certificate run failed unexpectedly: {exc!r}")
            return
        for result in results:
            self.say(f"{result.site}: {result.detail}")
        try:
            self.warn_of_expiry(live.sites)
        except Exception:  # a warning never takes the daemon down
            logger.exception("checking certificate expiry failed")
        if any(result.ok for result in results):
            self.apply()

    def warn_of_expiry(self, sites: Mapping[str, Site]) -> None:
        """A certificate renewal has not fixed within 14 days of its end: an event
        (and through [notify], an alert)."""
        ends = {}
        for name, site in sites.items():
            if site.tls is Tls.AUTO:
                cert = read_certificate(self.layout.certificate_dir(name))
                if cert is not None:
                    ends[name] = cert.not_after
        now = datetime.now(UTC)
        for name, days in expiring(ends, now).items():
            self.wired.events.emit("certificate-expiring", site=name, days_left=days,
                             not_after=ends[name].isoformat())  # fmt: skip

    def stop_cold_slots(self) -> None:
        """Stop the previous versions kept warm past `[apply] warm_seconds`."""
        try:
            self.reconciler.stop_cold_slots()
        except (HostdError, OSError) as exc:
            self.say(f"could not stop a warm slot: {exc}")

    def _serve(self) -> None:
        next_rescan = time.monotonic() + RESCAN_EVERY
        next_guard = time.monotonic() + GUARD_EVERY
        next_certs = time.monotonic()
        next_logs = time.monotonic() + LOGS_EVERY
        reread = False
        while not self.stopping.is_set():
            with self.debouncer_lock:
                timeout = self.debouncer.wait(time.monotonic(), 0.25)
            self.wakeup.sleep(timeout)
            if self.stopping.is_set():
                break
            if self.restart_wanted.is_set() and self.may_restart():
                self.say("restarting in place")
                self.handing_over = True
                break
            if self.watcher is not None:
                self.watcher.rearm()  # the folder vanished, came back or was replaced
            now = time.monotonic()
            with self.debouncer_lock:
                if self.apply_wanted.is_set():  # SIGHUP: debounced like a file event
                    self.apply_wanted.clear()
                    self.debouncer.event(now)
                    reread = True
                if now >= next_rescan:
                    self.debouncer.event(now - self.debouncer.quiet)
                    reread = True
                due = self.debouncer.due(now)
                if due:
                    self.debouncer.take()
            if due:
                self.apply(reread=reread)
                reread = False
                next_rescan = time.monotonic() + RESCAN_EVERY
            if self.reloads_wanted.is_set():
                self.reloads_wanted.clear()
                self.answer_reloads()
            self.check_services()
            if time.monotonic() >= next_guard:
                self.program_guard.look()
                self.stop_cold_slots()
                next_guard = time.monotonic() + GUARD_EVERY
            if self.certs_wanted or time.monotonic() >= next_certs:
                self.tend_certificates()
                next_certs = time.monotonic() + CERTS_EVERY
            if time.monotonic() >= next_logs:
                self.keep_logs()
                next_logs = time.monotonic() + LOGS_EVERY
