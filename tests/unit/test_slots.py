"""Slots as data: which slot a generation names, and what counts as a new version."""

from __future__ import annotations

from dataclasses import replace

from hostd.core.render import render_site
from hostd.core.site import Site, parse_site
from hostd.core.slots import flipped, live_programs, sites_on_b, web_program, web_section
from hostd.testing import MEMORY, memory_facts


def site(text: str = "") -> Site:
    base = "domains: [alpha.test]\napp:\n  root: /srv/apps/alpha\n  wsgi: alpha:app\n"
    return parse_site(MEMORY / "sites.d" / "alpha.yaml", base + text)


def test_the_generation_names_the_live_slot_and_its_programs() -> None:
    facts = memory_facts()
    worker = site("processes:\n  worker: rq worker\n")
    on_a = render_site(worker, facts)
    on_b = render_site(worker, replace(facts, slots_b=frozenset({"alpha"})))
    assert sites_on_b(on_a, ["alpha"]) == frozenset()
    assert sites_on_b(on_b, ["alpha"]) == {"alpha"}
    assert live_programs(on_a, ["alpha"]) == {"alpha", "alpha.worker"}
    assert live_programs(on_b, ["alpha"]) == {"alpha.slot-b", "alpha.worker"}
    assert web_program("alpha", "b") == "alpha.slot-b"
    assert flipped({"alpha", "beta"}, ["alpha", "gamma"]) == {"beta", "gamma"}


def test_only_the_web_programs_options_make_a_new_version() -> None:
    """The same web program in the other slot, or with processes added, is the same
    version; a new env is not."""
    facts = memory_facts()
    path = "supervisor/programs/alpha.conf"
    plain = render_site(site(), facts)[path]
    worker = render_site(site("processes:\n  worker: rq worker\n"), facts)[path]
    env = render_site(site("  env: {A: '1'}\n"), facts)[path]
    assert web_section(plain, "alpha") == web_section(worker, "alpha")
    assert web_section(plain, "alpha") != web_section(env, "alpha")
    assert "[program:alpha.worker]" not in web_section(worker, "alpha")
