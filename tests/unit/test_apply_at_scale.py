"""An apply among many sites checks only what it changes, and still isolates a bad one."""

from __future__ import annotations

import difflib

import pytest

from hostd.apply.candidate import Renderer
from hostd.apply.reconciler import Reconciler
from hostd.core.generation import ALL_PROGRAMS, NGINX, PROGRAMS, all_programs, slot_file
from hostd.core.plan import plan_diff
from hostd.core.program import ConfigDiff
from hostd.core.report import Outcome
from hostd.testing import FakePorts, in_memory_reconciler, memory_facts
from tests.unit.test_apply import live_version, outcomes, site

MANY = 40


@pytest.fixture
def fakes() -> FakePorts:
    return FakePorts.empty()


@pytest.fixture
def many(fakes: FakePorts) -> Reconciler:
    """An in-memory instance serving MANY sites at version 1."""
    reconciler = in_memory_reconciler(fakes)
    fakes.sites.files.update({f"s{n:02d}": site(f"s{n:02d}") for n in range(MANY)})
    assert reconciler.apply().ok
    fakes.checker.checked.clear()
    return reconciler


def programs_in(files: dict[str, str]) -> list[str]:
    return [line for line in files[ALL_PROGRAMS].splitlines() if line.startswith("[program:")]


def test_an_env_change_checks_its_program_alone_and_asks_nginx_nothing(
    fakes: FakePorts, many: Reconciler
) -> None:
    fakes.sites.files["s07"] = site("s07", "2")
    report = many.apply()
    assert outcomes(report)["s07"] is Outcome.CHANGED
    assert live_version(many, "s07") == "2"
    [checked] = fakes.checker.checked
    assert not [rel for rel in checked if rel.startswith(NGINX)]  # nginx serves them already
    assert programs_in(checked) == ["[program:s07]"]
    assert not [rel for rel in checked if rel.startswith(PROGRAMS) and "s07" not in rel]


def test_a_new_site_checks_every_nginx_file_and_its_program_alone(
    fakes: FakePorts, many: Reconciler
) -> None:
    fakes.sites.files["new"] = site("new")
    assert outcomes(many.apply())["new"] is Outcome.ADDED
    [checked] = fakes.checker.checked
    assert len([rel for rel in checked if rel.startswith(f"{NGINX}sites/")]) == MANY + 1
    assert programs_in(checked) == ["[program:new]"]


def test_a_refused_program_among_many_is_held_and_the_others_go_live(
    fakes: FakePorts, many: Reconciler
) -> None:
    """The check of a program change alone still narrows a refusal to its site."""
    fakes.sites.files.update(s03=site("s03", "bad-value"), s04=site("s04", "2"))
    fakes.checker.refused.add("bad-value")
    report = many.apply()
    changes = {n: o for n, o in outcomes(report).items() if o is not Outcome.UNCHANGED}
    assert changes == {"s03": Outcome.REJECTED, "s04": Outcome.CHANGED}
    assert (live_version(many, "s03"), live_version(many, "s04")) == ("1", "2")


def test_supervisord_reads_every_program_from_one_file(many: Reconciler) -> None:
    live = many.live()
    assert live is not None
    assert live.files[ALL_PROGRAMS] == all_programs(live.files)
    assert len(programs_in(live.files)) == MANY
    assert f"{ALL_PROGRAMS}\n" in live.files["supervisor/supervisord.conf"]


def test_files_rendered_again_are_those_a_fresh_renderer_makes(
    fakes: FakePorts, many: Reconciler
) -> None:
    live = many.live()
    assert live is not None
    again = many.renderer.files(live.sites)
    fresh = Renderer(memory_facts(), fakes.host, fakes.certs).files(live.sites)
    assert again == fresh == {p: t for p, t in live.files.items() if not slot_file(p)}
    changed = {**live.sites, "s01": site("s01", "2")}
    assert many.renderer.files(changed) == Renderer(memory_facts(), fakes.host, fakes.certs).files(
        changed
    )
    assert many.renderer.files(changed) != again


@pytest.mark.parametrize(
    ("before", "after"),
    [(None, "a\nb\n"), ("a\nb", None), (None, "x"), ("", "a\n"), ("a\n", ""), (None, "")],
)
def test_a_whole_file_added_or_removed_diffs_as_difflib_says(
    before: str | None, after: str | None
) -> None:
    live = {} if before is None else {"f": before}
    candidate = {} if after is None else {"f": after}
    expected = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        (after or "").splitlines(keepends=True),
        fromfile="live/f" if before is not None else "/dev/null",
        tofile="candidate/f" if after is not None else "/dev/null",
    )
    assert plan_diff(live, candidate) == "".join(
        line if line.endswith("\n") else line + "\n" for line in expected
    )


def test_the_plan_shows_each_program_once(many: Reconciler) -> None:
    live = many.live()
    assert live is not None
    diff = plan_diff({}, live.files)
    assert diff.count("[program:s07]") == 1
    assert f"candidate/{ALL_PROGRAMS}" not in diff


def test_supervisor_rereads_once_when_nothing_is_removed_and_twice_when_a_site_is(
    fakes: FakePorts, many: Reconciler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each reread parses every program; the one that removes programs is skipped when
    no site leaves and no old slot drains, and the one of the generation naming a new
    version on trial when nothing else changes (the new version started before it)."""
    rereads: list[int] = []
    reread = fakes.supervisor.reload_config

    def counted() -> ConfigDiff:
        rereads.append(1)
        return reread()

    monkeypatch.setattr(fakes.supervisor, "reload_config", counted)
    fakes.sites.files["new"] = site("new")
    assert many.apply().ok
    assert len(rereads) == 1
    fakes.sites.files["s07"] = site("s07", "2")  # its old slot drains
    assert many.apply().ok
    assert len(rereads) == 2
    fakes.sites.files["s06"] = site("s06", "2")  # and a new site beside it
    fakes.sites.files["new2"] = site("new2")
    assert many.apply().ok
    assert len(rereads) == 4
    del fakes.sites.files["s08"]
    report = many.apply()
    assert outcomes(report)["s08"] is Outcome.REMOVED
    assert len(rereads) == 6
    assert "remove s08" in fakes.supervisor.calls
