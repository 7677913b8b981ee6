"""`hostd doctor`'s checks on a box described by hand: each line's level and fix."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hostd.core.layout import embedded_layout, system_layout
from hostd.core.settings import Settings
from hostd.core.site import Site, parse_site
from hostd.core.doctor import Box, Check, Daemon, Finding, Gunicorn, Level, worst
from hostd.core.doctor import run_checks as run_these
from hostd.core.doctor_checks import CHECKS
from hostd.testing import MEMORY, memory_facts

GIB = 1024**3


def site(name: str, workers: int | None = 1) -> Site:
    text = f"domains: [{name}.test]\napp:\n  root: /srv/{name}\n  wsgi: {name}:app\n"
    if workers is not None:
        text += f"  workers: {workers}\n"
    return parse_site(MEMORY / "sites.d" / f"{name}.yaml", text)


def box(count: int, files: int = 65536, **changes: object) -> Box:
    facts = replace(memory_facts(), cores=2)
    plain = Box(
        layout=facts.layout,
        settings=Settings(),
        facts=facts,
        sites={f"s{n}": site(f"s{n}") for n in range(count)},
        nginx=Daemon("nginx", 10, files),
        supervisord=Daemon("supervisord", 11, files),
        gunicorns=[Gunicorn(100 + n, 30 * 1024 * 1024) for n in range(2 * count)],
        memory_total=64 * GIB,
        memory_available=50 * GIB,
    )
    return replace(plain, **changes)  # type: ignore[arg-type]


def run_checks(box: Box, checks: list[Check] = CHECKS) -> list[Finding]:
    return run_these(box, checks)


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.check: finding for finding in findings}


def test_a_box_with_room_is_ok_on_every_line() -> None:
    findings = run_checks(box(300))
    assert worst(findings) is Level.OK
    lines = by_check(findings)
    assert lines["open files: nginx"].summary == (
        "nginx may open 65536 files; 300 site(s) need 664 (two log files each)"
    )
    assert lines["gunicorn processes"].summary.startswith(
        "300 site(s) run 300 worker(s) and 300 master(s): 600 processes (600 running, 18000 MiB)"
    )


def test_nginx_short_of_open_files_is_a_problem_with_its_fix_for_the_mode() -> None:
    embedded = by_check(run_checks(box(1000, files=1024)))["open files: nginx"]
    assert embedded.level is Level.PROBLEM
    assert "1000 site(s) need 2064" in embedded.summary
    assert "hard limit of open files of the user running hostd up" in embedded.fix
    system = box(1000, files=1024, layout=system_layout())
    fix = by_check(run_checks(system))["open files: nginx"].fix
    assert "LimitNOFILE=" in fix and "systemctl edit nginx" in fix


def test_a_limit_nearly_used_up_is_a_warning_and_an_unreadable_one_too() -> None:
    near = by_check(run_checks(box(1000, files=2200)))
    assert near["open files: nginx"].level is Level.WARNING
    unknown = box(10, nginx=Daemon("nginx", 10, None))
    assert by_check(run_checks(unknown))["open files: nginx"].level is Level.WARNING


def test_gunicorns_taking_most_of_the_memory_warn_and_a_full_box_is_a_problem() -> None:
    auto = {f"s{n}": site(f"s{n}", None) for n in range(300)}  # auto: 5 workers each
    heavy = box(300, sites=auto, memory_total=20 * GIB)
    line = by_check(run_checks(heavy))["gunicorn processes"]
    assert line.level is Level.WARNING
    assert "1500 worker(s)" in line.summary and "300 use workers: auto, 5 each" in line.summary
    assert "[workers] max_total" in line.fix
    full = box(10, memory_available=GIB // 2)
    assert by_check(run_checks(full))["gunicorn processes"].level is Level.PROBLEM


def test_live_sites_above_the_cap_warn() -> None:
    capped = box(10)
    over = replace(capped, facts=replace(capped.facts, max_workers=8))
    assert by_check(run_checks(over))["gunicorn worker cap"].level is Level.WARNING
    under = replace(capped, facts=replace(capped.facts, max_workers=20))
    assert by_check(run_checks(under))["gunicorn worker cap"].summary == "10 of 20 workers used"


def test_a_check_is_a_function_added_to_the_list() -> None:
    def always(_: Box) -> list[Finding]:
        return [Finding("extra", Level.WARNING, "something", "do this")]

    findings = run_checks(box(1), [*CHECKS, always])
    assert findings[-1].check == "extra" and worst(findings) is Level.WARNING
    assert by_check(findings)["extra"].to_dict() == {
        "check": "extra",
        "level": "warning",
        "summary": "something",
        "fix": "do this",
    }


def test_the_layout_of_an_embedded_box_names_no_system_unit() -> None:
    layout = embedded_layout(Path("/tmp/h"))
    fix = by_check(run_checks(box(1000, files=1024, layout=layout)))["open files: nginx"].fix
    assert "systemctl" not in fix
