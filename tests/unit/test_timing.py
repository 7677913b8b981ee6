"""When the daemon applies after file events: at once for a burst's first complete
write, otherwise once the burst is quiet; a storm makes at most one more apply."""

from __future__ import annotations

import itertools

from hostd.core.timing import Debouncer


def applies(
    events: list[tuple[float, bool]], apply_takes: float, until: float = 10.0
) -> list[float]:
    """When applies start, for events (time, complete) and applies lasting
    `apply_takes`, the way the daemon's loop drives the debouncer (1 ms steps)."""
    debouncer = Debouncer()
    pending = sorted(events)
    started: list[float] = []
    busy_until = 0.0
    now = 0.0
    while now < until:
        while pending and pending[0][0] <= now:
            at, complete = pending.pop(0)
            debouncer.event(at, complete=complete)
        if now >= busy_until and debouncer.due(now):
            debouncer.take()
            started.append(now)
            busy_until = now + apply_takes
        now = round(now + 0.001, 3)
    return started


def test_a_file_renamed_into_place_applies_at_once() -> None:
    debouncer = Debouncer()
    debouncer.event(5.0, complete=True)
    assert debouncer.due(5.0)
    assert debouncer.wait(5.0, 0.25) == 0.0


def test_a_write_in_place_applies_when_the_file_is_closed() -> None:
    debouncer = Debouncer()
    debouncer.event(5.0)  # created
    debouncer.event(5.001)  # modified
    assert not debouncer.due(5.002)
    debouncer.event(5.002, complete=True)  # closed after writing
    assert debouncer.due(5.002)


def test_changes_that_are_not_complete_wait_for_a_quiet_moment() -> None:
    debouncer = Debouncer()
    debouncer.event(5.0)
    assert not debouncer.due(5.05)
    assert abs(debouncer.wait(5.05, 0.25) - 0.05) < 1e-9
    assert debouncer.due(5.101)


def test_a_storm_of_renames_makes_one_apply_at_once_and_one_after_it() -> None:
    storm = [(1.0 + n * 0.012, True) for n in range(100)]  # 1.2 s of atomic writes
    started = applies(storm, apply_takes=0.3)
    assert len(started) == 2
    assert started[0] == 1.0
    assert started[1] >= storm[-1][0] + 0.1  # once the storm was quiet


def test_renames_arriving_during_an_apply_make_exactly_one_more() -> None:
    first = [(1.0, True)]
    during = [(1.5, True), (1.7, True), (2.2, False)]  # the apply runs 1.0 .. 3.0
    started = applies(first + during, apply_takes=2.0)
    assert started == [1.0, 3.0]


def test_a_rename_after_a_quiet_moment_applies_at_once_again() -> None:
    started = applies([(1.0, True), (4.0, True)], apply_takes=0.3)
    assert started == [1.0, 4.0]


def test_events_that_never_stop_still_apply_every_cap_seconds() -> None:
    endless = [(1.0 + n * 0.05, False) for n in range(200)]  # 10 s, never quiet
    started = applies(endless, apply_takes=0.1, until=11.0)
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert started and max(gaps) <= Debouncer().cap + 0.2
