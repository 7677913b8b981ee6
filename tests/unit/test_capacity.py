"""The box-wide cap on gunicorn workers: live sites keep theirs, a site that does not
fit is refused by name, and `workers: auto` stays 2 x cores + 1."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hostd.apply.reconciler import Reconciler
from hostd.core.builtin import Builtin
from hostd.core.capacity import over_cap, total_workers, workers_of
from hostd.core.layout import Mode
from hostd.core.report import Outcome
from hostd.core.settings import parse_settings
from hostd.core.site import Site, parse_site
from hostd.errors import SettingsError
from hostd.testing import MEMORY, FakePorts, memory_facts

TOML = Path("/etc/hostd/hostd.toml")


def site(name: str, workers: str | None = None) -> Site:
    text = f"domains: [{name}.test]\napp:\n  root: /srv/apps/{name}\n  wsgi: {name}:app\n"
    if workers is not None:
        text += f"  workers: {workers}\n"
    return parse_site(MEMORY / "sites.d" / f"{name}.yaml", text)


def capped(fakes: FakePorts, cap: int) -> Reconciler:
    facts = replace(memory_facts(), max_workers=cap)  # 1 core: auto is 3
    reconciler = Reconciler(fakes.ports(), facts, Builtin(facts.layout.config_file))
    reconciler.boot()
    return reconciler


def changes(report: object) -> dict[str, Outcome]:
    results = getattr(report, "sites", [])
    return {r.name: r.outcome for r in results if r.outcome is not Outcome.UNCHANGED}


def test_auto_is_twice_the_cores_plus_one_for_a_site_alone() -> None:
    facts = replace(memory_facts(), cores=4)
    assert workers_of(site("a"), facts) == 9
    assert workers_of(site("b", "2"), facts) == 2


def test_without_a_cap_every_site_goes_live() -> None:
    fakes = FakePorts.empty()
    reconciler = capped(fakes, 0)
    fakes.sites.files.update({f"s{n}": site(f"s{n}") for n in range(5)})
    assert reconciler.apply().ok
    live = reconciler.live()
    assert live is not None and total_workers(live.sites, reconciler.facts) == 15


def test_a_site_beyond_the_cap_is_refused_by_name_and_the_others_go_live() -> None:
    fakes = FakePorts.empty()
    reconciler = capped(fakes, 7)
    fakes.sites.files.update(a=site("a"), b=site("b", "2"), c=site("c"))
    report = reconciler.apply()
    assert changes(report) == {"a": Outcome.ADDED, "b": Outcome.ADDED, "c": Outcome.REJECTED}
    [refused] = [r for r in report.sites if r.name == "c"]
    assert "c.yaml" in refused.detail and "app.workers" in refused.detail
    assert "would take this box to 8, above the cap of 7" in refused.detail
    live = reconciler.live()
    assert live is not None and sorted(live.sites) == ["a", "b"]


def test_a_live_site_that_grows_beyond_the_cap_keeps_its_last_good_version() -> None:
    fakes = FakePorts.empty()
    reconciler = capped(fakes, 6)
    fakes.sites.files.update(a=site("a", "2"), b=site("b", "2"))
    assert reconciler.apply().ok
    fakes.sites.files["a"] = site("a", "5")
    fakes.sites.files["c"] = site("c", "2")
    report = reconciler.apply()
    assert changes(report) == {"a": Outcome.REJECTED, "c": Outcome.ADDED}
    live = reconciler.live()
    assert live is not None
    assert live.sites["a"].app.workers == 2 and total_workers(live.sites, reconciler.facts) == 6


def test_unchanged_sites_over_a_lowered_cap_keep_running() -> None:
    facts = replace(memory_facts(), max_workers=2)
    live = {"a": site("a"), "b": site("b")}
    assert over_cap(live, live, facts) == {}


def test_the_cap_is_read_from_hostd_toml() -> None:
    settings = parse_settings("[workers]\nmax_total = 40\n", TOML, Mode.SYSTEM)
    assert settings.workers.max_total == 40
    assert parse_settings("", TOML, Mode.SYSTEM).workers.max_total == 0
    with pytest.raises(SettingsError, match=r"workers\.max_total"):
        parse_settings("[workers]\nmax_total = -1\n", TOML, Mode.SYSTEM)
    with pytest.raises(SettingsError, match=r"unknown key workers\.total"):
        parse_settings("[workers]\ntotal = 4\n", TOML, Mode.SYSTEM)
