"""The crash-loop guard's decisions, on a clock the test controls."""

from __future__ import annotations

from hostd.core.crashloop import Action, CrashLoopGuard


def test_a_program_started_too_often_is_stopped_and_retried_with_doubling_delays() -> None:
    """max_starts starts within the window: stop; after the delay: start; then twice as long."""
    guard = CrashLoopGuard(max_starts=3, window=60, base_delay=10, max_delay=25)
    assert guard.observe("a", "RUNNING", 100.0, 101.0) is None
    assert guard.observe("a", "RUNNING", 104.0, 105.0) is None
    assert guard.observe("a", "RUNNING", 108.0, 109.0) is Action.STOP
    assert guard.retries["a"].next_at == 119.0
    assert guard.observe("a", "STOPPED", 108.0, 118.0) is None
    assert guard.observe("a", "STOPPED", 108.0, 119.0) is Action.START
    for started in (120.0, 124.0):
        assert guard.observe("a", "RUNNING", started, started + 1) is None
    assert guard.observe("a", "RUNNING", 128.0, 129.0) is Action.STOP
    assert guard.retries["a"].next_at == 129.0 + 20.0
    assert guard.observe("a", "STOPPED", 128.0, 149.0) is Action.START
    for started in (150.0, 154.0):
        assert guard.observe("a", "RUNNING", started, started + 1) is None
    assert guard.observe("a", "RUNNING", 158.0, 159.0) is Action.STOP
    assert guard.retries["a"].next_at == 159.0 + 25.0  # 40 s, capped at max_delay


def test_a_fatal_program_is_retried_after_the_delay() -> None:
    """Supervisor gave up: hostd starts it again later, not at once."""
    guard = CrashLoopGuard(base_delay=10)
    assert guard.observe("a", "FATAL", 50.0, 60.0) is Action.STOP
    assert guard.observe("a", "FATAL", 50.0, 65.0) is None
    assert guard.observe("a", "FATAL", 50.0, 70.0) is Action.START


def test_a_transient_exit_between_restarts_is_not_a_retry() -> None:
    """EXITED or BACKOFF while Supervisor restarts the program is left alone."""
    guard = CrashLoopGuard(max_starts=2, window=60, base_delay=10)
    guard.observe("a", "RUNNING", 1.0, 2.0)
    assert guard.observe("a", "RUNNING", 3.0, 4.0) is Action.STOP
    assert guard.observe("a", "EXITED", 3.0, 30.0) is None
    assert guard.observe("a", "BACKOFF", 3.0, 31.0) is None


def test_a_program_that_stays_up_for_the_window_is_healthy_again() -> None:
    """After a full window of running, its history is forgotten."""
    guard = CrashLoopGuard(max_starts=2, window=60, base_delay=10)
    guard.observe("a", "RUNNING", 1.0, 2.0)
    guard.observe("a", "RUNNING", 3.0, 4.0)
    guard.observe("a", "STOPPED", 3.0, 14.0)
    assert guard.retries["a"].attempts == 1
    assert guard.observe("a", "RUNNING", 20.0, 81.0) is None
    assert "a" not in guard.retries


def test_a_steady_program_is_never_touched() -> None:
    """One start, running for hours: no action."""
    guard = CrashLoopGuard()
    assert all(guard.observe("a", "RUNNING", 5.0, 5.0 + t) is None for t in range(0, 7200, 30))
