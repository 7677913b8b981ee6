"""Crash-loop control of the running programs: stop the ones that keep dying, start
them again when their delay is over. The policy is `hostd.core.crashloop`; this
applies it to Supervisor, between applies, and records it for `hostd status`.
"""

from __future__ import annotations

import time

from hostd.apply.reconciler import Reconciler
from hostd.core.crashloop import Action, CrashLoopGuard
from hostd.core.layout import Layout
from hostd.core.timing import iso_time
from hostd.edges.events import EventLog
from hostd.edges.fs import held_lock
from hostd.edges.records import crash_loops_path, write_crash_loops
from hostd.edges.supervisor import XmlRpcSupervisor
from hostd.errors import LockError, SupervisorError


def guard_programs(
    guard: CrashLoopGuard,
    layout: Layout,
    reconciler: Reconciler,
    supervisor: XmlRpcSupervisor,
    events: EventLog,
) -> None:
    """One look at every live site's program; skipped while an apply runs."""
    try:
        with held_lock(layout.apply_lock, timeout=0):
            _guard(guard, layout, reconciler, supervisor, events)
    except (LockError, SupervisorError):
        return  # an apply is running, or supervisord is down: next time


def _guard(
    guard: CrashLoopGuard,
    layout: Layout,
    reconciler: Reconciler,
    supervisor: XmlRpcSupervisor,
    events: EventLog,
) -> None:
    live = reconciler.live()
    sites = live.sites if live else {}
    now = time.time()
    for name, info in supervisor.all_info().items():
        if name not in sites:
            continue
        action = guard.observe(name, info.state, float(info.start), now)
        retry = guard.retries.get(name)
        if action is Action.STOP and retry is not None:
            supervisor.stop(name)
            events.emit(
                "crash-loop", site=name, reason=retry.reason,
                next_attempt=iso_time(retry.next_at), attempts=retry.attempts,
            )  # fmt: skip
        elif action is Action.START and retry is not None:
            supervisor.start(name)
            events.emit("crash-loop-retry", site=name, attempt=retry.attempts)
    for name in set(guard.retries) - set(sites):
        guard.forget(name)
    write_crash_loops(crash_loops_path(layout), guard.retries)
