"""Crash-loop control of the running programs: stop the ones that keep dying, start
them again when their delay is over. The policy is `hostd.core.crashloop`; this
applies it to Supervisor, between applies, and records it for `hostd status`.
"""

from __future__ import annotations

import time

from hostd.apply.reconciler import Reconciler
from hostd.core.crashloop import Action, CrashLoopGuard
from hostd.core.layout import Layout
from hostd.core.slots import live_programs
from hostd.core.timing import iso_time
from hostd.edges.events import EventLog
from hostd.edges.locks import held_lock
from hostd.edges.records import crash_loops_path, write_crash_loops
from hostd.edges.supervisor import XmlRpcSupervisor
from hostd.errors import LockError, SupervisorError


class ProgramGuard:
    """Applies `policy` to the live sites' programs, one look at a time."""

    def __init__(
        self,
        policy: CrashLoopGuard,
        layout: Layout,
        reconciler: Reconciler,
        supervisor: XmlRpcSupervisor,
        events: EventLog,
    ) -> None:
        self.policy = policy
        self.layout = layout
        self.reconciler = reconciler
        self.supervisor = supervisor
        self.events = events

    def look(self) -> None:
        """One look at every live site's program; skipped while an apply runs."""
        try:
            with held_lock(self.layout.apply_lock, timeout=0):
                self._look()
        except (LockError, SupervisorError):
            return  # an apply is running, or supervisord is down: next time

    def _look(self) -> None:
        policy = self.policy
        live = self.reconciler.live()
        sites = live.sites if live else {}
        ours = live_programs(live.files, sites) if live else frozenset()
        now = time.time()
        looping = set(policy.retries)
        for name, info in self.supervisor.all_info().items():
            if name not in ours:  # not a live slot or process: a slot draining or on trial
                policy.forget(name)  # its next start is a new version's, not a restart
                continue
            if not info.stopped:  # added by an apply and never stopped: no restart yet
                policy.forget(name)
            action = policy.observe(name, info.state, float(info.start), now)
            retry = policy.retries.get(name)
            if action is Action.STOP and retry is not None:
                self.supervisor.stop(name)
                self.events.emit(
                    "crash-loop", site=name, reason=retry.reason,
                    next_attempt=iso_time(retry.next_at), attempts=retry.attempts,
                )  # fmt: skip
            elif action is Action.START and retry is not None:
                self.supervisor.start(name)
                self.events.emit("crash-loop-retry", site=name, attempt=retry.attempts)
        for name in sorted(looping - set(policy.retries)):  # steady again: out of backoff
            self.events.emit("crash-loop-ended", site=name)
        for name in {n for n in policy.retries if n not in ours}:
            policy.forget(name)
        write_crash_loops(crash_loops_path(self.layout), policy.retries)
