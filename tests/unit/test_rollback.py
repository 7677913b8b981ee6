"""The slot flow over fakes: the live generation names a new version only once it
passed its gate; a stop at any point converges to one live slot; rollback returns
to the warm slot or starts the previous version anew; warm slots stop in time."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pytest

from hostd.apply.reconciler import Reconciler
from hostd.core.report import Outcome
from hostd.core.site import Site, parse_site
from hostd.core.slots import sites_on_b, versions_of, warm_sites
from hostd.errors import RollbackError
from hostd.testing import MEMORY, FakePorts, in_memory_reconciler, memory_facts


def site(name: str, version: str = "1") -> Site:
    text = (
        f"domains: [{name}.test]\napp:\n  root: /srv/apps/{name}\n  wsgi: {name}:app\n"
        f"  env: {{VERSION: '{version}'}}\n"
    )
    return parse_site(MEMORY / "sites.d" / f"{name}.yaml", text)


def live_version(reconciler: Reconciler, name: str) -> str | None:
    live = reconciler.live()
    assert live is not None
    return dict(live.sites[name].app.env)["VERSION"]


def warm_reconciler(fakes: FakePorts, warm: float = 300.0) -> Reconciler:
    """An in-memory instance keeping old slots warm `warm` seconds, serving alpha
    and beta at version 1."""
    reconciler = Reconciler(
        fakes.ports(), memory_facts(), in_memory_reconciler(fakes).builtin, warm
    )
    reconciler.boot()
    fakes.sites.files.update(alpha=site("alpha"), beta=site("beta"))
    assert reconciler.apply().ok
    return reconciler


@pytest.fixture
def fakes() -> FakePorts:
    return FakePorts.empty()


def test_the_live_generation_names_a_new_version_only_after_its_gate(fakes: FakePorts) -> None:
    """While version 2 is on trial, the live generation still names slot a (and its
    version 1); a restart then, with supervisord still running both, keeps slot a."""
    reconciler = warm_reconciler(fakes, warm=0)
    seen: list[tuple[frozenset[str], str | None]] = []
    gate = fakes.apps.failures

    def watched(sites: Sequence[Site], on_b: object = (), https: object = ()) -> dict[str, str]:
        live = reconciler.live()
        assert live is not None
        seen.append((sites_on_b(live.files, live.sites), live_version(reconciler, "alpha")))
        return gate(sites)

    fakes.apps.failures = watched  # type: ignore[method-assign]
    fakes.sites.files["alpha"] = site("alpha", "2")
    assert reconciler.apply().ok
    assert seen == [(frozenset(), "1")]
    live = reconciler.live()
    assert live is not None and sites_on_b(live.files, live.sites) == {"alpha"}
    assert (live_version(reconciler, "alpha"), fakes.sockets.pointed["alpha"]) == ("2", "b")

    # stopped during the gate of version 3: the trial generation is live
    fakes.apps.failures = gate  # type: ignore[method-assign]
    fakes.sites.files["alpha"] = site("alpha", "3")
    stop = RuntimeError("hostd killed")

    def killed(sites: Sequence[Site], on_b: object = (), https: object = ()) -> dict[str, str]:
        raise stop

    fakes.apps.failures = killed  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        reconciler.apply()
    assert set(fakes.supervisor.running) == {"alpha", "alpha.slot-b", "beta"}
    fakes.apps.failures = gate  # type: ignore[method-assign]
    restarted = Reconciler(fakes.ports(), memory_facts(), reconciler.builtin, 0)
    restarted.boot()
    assert restarted.resume() == []
    assert fakes.sockets.pointed["alpha"] == "b"
    assert set(fakes.supervisor.running) == {"alpha.slot-b", "beta"}
    assert live_version(restarted, "alpha") == "2"


def test_a_warm_rollback_switches_back_without_starting_anything(fakes: FakePorts) -> None:
    reconciler = warm_reconciler(fakes)
    fakes.sites.files["alpha"] = site("alpha", "2")
    assert reconciler.apply().ok
    assert set(fakes.supervisor.running) == {"alpha", "alpha.slot-b", "beta"}  # a kept warm
    live = reconciler.live()
    assert live is not None and warm_sites(live.files) == {"alpha"}
    assert versions_of(live.files, live.sites)["alpha"].number == 2
    calls = len(fakes.supervisor.calls)

    report = reconciler.rollback("alpha")
    assert report.ok and report.sites[0].outcome is Outcome.ROLLED_BACK, report
    assert "version 1 serves again in slot a, from its warm slot" in report.sites[0].detail
    assert fakes.supervisor.calls[calls:] == []  # nothing started or stopped
    assert fakes.sockets.pointed["alpha"] == "a"
    assert live_version(reconciler, "alpha") == "1"
    # the site file still says version 2: held back while it does
    assert outcomes_of(reconciler.apply()) == {
        "alpha": Outcome.UNCHANGED,
        "beta": Outcome.UNCHANGED,
    }
    assert live_version(reconciler, "alpha") == "1"
    # a second rollback goes forward again; a new change of the file applies
    assert reconciler.rollback("alpha").ok and live_version(reconciler, "alpha") == "2"
    fakes.sites.files["alpha"] = site("alpha", "3")
    assert reconciler.apply().ok and live_version(reconciler, "alpha") == "3"


def test_a_cold_rollback_starts_the_previous_version_through_the_gate(fakes: FakePorts) -> None:
    reconciler = warm_reconciler(fakes, warm=0)
    with pytest.raises(RollbackError, match="no previous version"):
        reconciler.rollback("alpha")
    fakes.sites.files["alpha"] = site("alpha", "2")
    assert reconciler.apply().ok
    assert set(fakes.supervisor.running) == {"alpha.slot-b", "beta"}
    fakes.apps.failure = lambda s: "it answers 500" if s.name == "alpha" else None
    report = reconciler.rollback("alpha")
    assert not report.ok and "failed its health gate" in report.sites[0].detail
    assert live_version(reconciler, "alpha") == "2"
    assert set(fakes.supervisor.running) == {"alpha.slot-b", "beta"}
    fakes.apps.failure = lambda s: None
    report = reconciler.rollback("alpha")
    assert report.ok and "started anew" in report.sites[0].detail, report
    assert live_version(reconciler, "alpha") == "1" and fakes.sockets.pointed["alpha"] == "a"
    assert set(fakes.supervisor.running) == {"alpha", "beta"}
    assert fakes.releases.ran == []


def test_a_code_only_rollback_needs_its_warm_slot(fakes: FakePorts) -> None:
    reconciler = warm_reconciler(fakes, warm=0)
    assert reconciler.apply({"alpha"}).ok  # a code deploy: same configuration, new slot
    with pytest.raises(RollbackError, match="differs only in its code"):
        reconciler.rollback("alpha")


def test_warm_slots_stop_once_their_time_is_up(
    fakes: FakePorts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The previous version's slot runs until its time is up, then stops; a rollback
    after that starts it anew."""
    reconciler = warm_reconciler(fakes, warm=300)
    fakes.sites.files["alpha"] = site("alpha", "2")
    assert reconciler.apply().ok
    assert reconciler.stop_cold_slots() == []
    assert set(fakes.supervisor.running) == {"alpha", "alpha.slot-b", "beta"}
    live = reconciler.live()
    assert live is not None
    previous = versions_of(live.files, live.sites)["alpha"].previous
    assert previous is not None and previous.warm_until is not None
    later = previous.warm_until + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert reconciler.stop_cold_slots() == ["alpha"]
    assert set(fakes.supervisor.running) == {"alpha.slot-b", "beta"}
    report = reconciler.rollback("alpha")
    assert report.ok and "started anew" in report.sites[0].detail, report
    assert set(fakes.supervisor.running) == {"alpha", "alpha.slot-b", "beta"}  # b kept warm


def outcomes_of(report: object) -> dict[str, Outcome]:
    return {result.name: result.outcome for result in getattr(report, "sites", [])}


def test_a_supervisord_started_afresh_ends_the_warm_slots(fakes: FakePorts) -> None:
    """Its warm programs would run whatever code is on disk now: they stop, and the
    previous version is still known (a rollback starts it anew)."""
    reconciler = warm_reconciler(fakes)
    fakes.sites.files["alpha"] = site("alpha", "2")
    assert reconciler.apply().ok
    assert reconciler.end_warm_slots() == ["alpha"]
    assert set(fakes.supervisor.running) == {"alpha.slot-b", "beta"}
    live = reconciler.live()
    assert live is not None and warm_sites(live.files) == frozenset()
    report = reconciler.rollback("alpha")
    assert report.ok and "started anew" in report.sites[0].detail, report


def test_a_warm_program_started_again_since_is_not_the_previous_version(
    fakes: FakePorts,
) -> None:
    """Supervisor restarted the warm slot (it crashed): it runs the code on disk now,
    so the rollback starts the previous version anew instead of switching to it."""
    reconciler = warm_reconciler(fakes)
    fakes.sites.files["alpha"] = site("alpha", "2")
    assert reconciler.apply().ok
    restarted = replace(fakes.supervisor.programs["alpha"], start=int(time.time()) + 60)
    fakes.supervisor.programs["alpha"] = restarted
    report = reconciler.rollback("alpha")
    assert report.ok and "started anew" in report.sites[0].detail, report


def test_a_change_while_a_warm_slot_holds_its_place_does_not_wait_for_it(
    fakes: FakePorts,
) -> None:
    """Version 3 goes where version 1 is kept warm: version 1 is retired (forgotten,
    not waited for, held running until the switch is done, its socket path freed)
    and version 3 starts
    before the generation naming it is written; its traffic moves before the
    generation naming it live is written; then version 1 stops."""
    reconciler = warm_reconciler(fakes)
    fakes.sites.files["alpha"] = site("alpha", "2")
    assert reconciler.apply().ok  # 2 in slot b, 1 warm in slot a
    before = reconciler.live()
    assert before is not None
    started_on: list[int] = []
    start_early = fakes.supervisor.start_early

    def noted(programs: Mapping[str, str]) -> list[str]:
        live = reconciler.live()
        started_on.append(live.id if live else 0)
        return start_early(programs)

    pointed_on: list[int] = []
    point = fakes.sockets.point

    def pointing(site: str, slot: str, *, settle: bool = True) -> None:
        live = reconciler.live()
        if site == "alpha" and fakes.sockets.pointed.get("alpha") != slot:
            pointed_on.append(live.id if live else 0)
        point(site, slot, settle=settle)

    fakes.supervisor.start_early = noted  # type: ignore[method-assign]
    fakes.sockets.point = pointing  # type: ignore[method-assign]
    calls = len(fakes.supervisor.calls)
    fakes.sites.files["alpha"] = site("alpha", "3")
    assert reconciler.apply().ok
    made = fakes.supervisor.calls[calls:]
    assert made[:2] == ["retire alpha held", "early alpha"] and made[-1] == "stop retired"
    assert "remove alpha" not in made
    assert fakes.sockets.vacated == ["alpha:a"]  # its gate reaches the new version only
    assert started_on == [before.id]  # before any generation of the switch
    # nothing else changed: no generation names version 3 on trial; the traffic moved
    # on the live one, and the next names it live
    assert pointed_on == [before.id]
    after = reconciler.live()
    assert after is not None and after.id == before.id + 1
    assert live_version(reconciler, "alpha") == "3" and fakes.sockets.pointed["alpha"] == "a"
    assert set(fakes.supervisor.running) == {"alpha", "alpha.slot-b", "beta"}  # 2 kept warm

    # with another site's change beside it, the first generation serves that change
    # (nginx reloads while version 4 boots), and the traffic moves on it
    pointed_on.clear()
    fakes.sites.files["alpha"] = site("alpha", "4")
    fakes.sites.files["gamma"] = site("gamma")
    assert reconciler.apply().ok
    assert pointed_on == [after.id + 1]
    latest = reconciler.live()
    assert latest is not None and latest.id == after.id + 2
    assert live_version(reconciler, "alpha") == "4" and "gamma" in latest.sites


@pytest.mark.parametrize("beside", [False, True])
def test_a_new_version_started_before_its_generation_stops_if_that_cannot_be_written(
    fakes: FakePorts, beside: bool
) -> None:
    """The disk refuses the next generation (the one naming version 2 on trial where
    another site changes beside it; else the one naming it live, after its traffic
    moved): version 2, already started, is stopped again, and version 1 serves on."""
    reconciler = warm_reconciler(fakes)
    write = fakes.generations.write

    def full(*args: object, **kwargs: object) -> object:
        raise OSError(28, "No space left on device")

    fakes.generations.write = full  # type: ignore[method-assign,assignment]
    fakes.sites.files["alpha"] = site("alpha", "2")
    if beside:
        fakes.sites.files["gamma"] = site("gamma")
    report = reconciler.apply()
    assert not report.ok and "No space left" in (report.error or "")
    made = fakes.supervisor.calls
    assert made.index("remove alpha.slot-b") > made.index("early alpha.slot-b")
    assert set(fakes.supervisor.running) == {"alpha", "beta"}
    assert fakes.sockets.pointed["alpha"] == "a"
    fakes.generations.write = write  # type: ignore[method-assign]
    assert reconciler.apply().ok and live_version(reconciler, "alpha") == "2"


def test_a_warm_version_held_for_a_new_one_that_fails_its_gate_stops_all_the_same(
    fakes: FakePorts,
) -> None:
    reconciler = warm_reconciler(fakes)
    fakes.sites.files["alpha"] = site("alpha", "2")
    assert reconciler.apply().ok  # 2 in slot b, 1 warm in slot a
    calls = len(fakes.supervisor.calls)
    fakes.apps.failure = lambda s: "no" if dict(s.app.env)["VERSION"] == "3" else None
    fakes.sites.files["alpha"] = site("alpha", "3")
    assert not reconciler.apply().ok
    made = fakes.supervisor.calls[calls:]
    assert made[0] == "retire alpha held" and made[-1] == "stop retired"
    assert live_version(reconciler, "alpha") == "2" and fakes.sockets.pointed["alpha"] == "b"
