"""`hostd doctor`'s checks on a box described by hand: each line's level and fix."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hostd.core.attachment import nginx_hook_text, supervisor_glob
from hostd.core.crashloop import Retry
from hostd.core.doctor import (
    Box,
    Check,
    Clock,
    Daemon,
    Disk,
    DomainCheck,
    Finding,
    Gunicorn,
    Hooks,
    Level,
    Port,
    Tool,
    exit_code,
    worst,
)
from hostd.core.doctor import run_checks as run_these
from hostd.core.doctor_checks import CHECKS
from hostd.core.layout import embedded_layout, system_layout
from hostd.core.settings import Settings
from hostd.core.site import Site, parse_site
from hostd.testing import MEMORY, memory_facts

GIB = 1024**3
MIB = 1024**2


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


# -- the checks of the machine and the sites ---------------------------------------

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_programs_are_shown_with_their_versions_and_a_missing_or_old_one_is_a_problem() -> None:
    tools = {
        "nginx": Tool("nginx", "/usr/sbin/nginx", "1.22.1"),
        "supervisord": Tool("supervisord", None),
        "certbot": Tool("certbot", "/usr/bin/certbot", None, "ModuleNotFoundError: acme"),
    }
    lines = by_check(run_checks(box(1, tools=tools)))
    assert lines["nginx"].level is Level.OK and "version 1.22.1" in lines["nginx"].summary
    assert lines["supervisord"].level is Level.PROBLEM
    assert lines["supervisord"].fix == "pip install supervisor"
    assert lines["certbot"].level is Level.PROBLEM and "acme" in lines["certbot"].summary
    old = {"nginx": Tool("nginx", "/usr/sbin/nginx", "1.18.0")}
    assert by_check(run_checks(box(1, tools=old)))["nginx"].level is Level.PROBLEM
    # no site needs certbot: its absence only warns
    absent = {"certbot": Tool("certbot", None)}
    assert by_check(run_checks(box(1, tools=absent)))["certbot"].level is Level.WARNING


DEBIAN_CONF = (
    "http {\n    # server_names_hash_bucket_size 64;\n    include /etc/nginx/conf.d/*.conf;\n}\n"
)
SERVED = "server_names_hash_bucket_size 256;\nserver_names_hash_max_size 4096;\n"


def hooks(**changes: object) -> Hooks:
    layout = system_layout()
    plain = Hooks(
        nginx_conf=Path("/etc/nginx/nginx.conf"),
        nginx_conf_text=DEBIAN_CONF,
        hook=Path("/etc/nginx/conf.d/hostd.conf"),
        hook_text=nginx_hook_text(layout),
        expected_hook=nginx_hook_text(layout),
        others={},
        served_include=SERVED,
        supervisor_conf=Path("/etc/supervisor/supervisord.conf"),
        supervisor_text=f"[include]\nfiles = conf.d/*.conf {supervisor_glob(layout)}\n",
        supervisor_glob=supervisor_glob(layout),
    )
    return replace(plain, **changes)  # type: ignore[arg-type]


def system_box(**changes: object) -> Box:
    return box(1, layout=system_layout(), **changes)


def test_hooks_in_place_on_debians_nginx_conf_are_ok() -> None:
    lines = by_check(run_checks(system_box(hooks=hooks())))
    assert [lines[c].level for c in ("nginx hook", "nginx hook conflict", "Supervisor hook")] == [
        Level.OK
    ] * 3


def test_a_directive_hostds_include_sets_that_nginx_conf_sets_too_is_a_problem() -> None:
    tweaked = DEBIAN_CONF.replace("# server_names", "server_names")
    conflict = by_check(run_checks(system_box(hooks=hooks(nginx_conf_text=tweaked))))
    line = conflict["nginx hook conflict"]
    assert line.level is Level.PROBLEM
    assert line.summary.startswith("/etc/nginx/nginx.conf sets server_names_hash_bucket_size")
    assert "systemctl restart hostd" in line.fix
    # once hostd rendered without it (restarted), there is no conflict
    rendered = hooks(nginx_conf_text=tweaked, served_include="server_names_hash_max_size 4096;\n")
    assert by_check(run_checks(system_box(hooks=rendered)))["nginx hook conflict"].level is Level.OK
    other = hooks(others={Path("/etc/nginx/conf.d/tune.conf"): "server_names_hash_max_size 512;"})
    found = by_check(run_checks(system_box(hooks=other)))["nginx hook conflict"]
    assert found.level is Level.PROBLEM and "tune.conf" in found.summary


def test_a_missing_hook_or_include_or_supervisor_glob_is_a_problem() -> None:
    missing = by_check(run_checks(system_box(hooks=hooks(hook_text=None))))["nginx hook"]
    assert missing.level is Level.PROBLEM and "is missing" in missing.summary
    assert "hostd init" in missing.fix
    cut = hooks(nginx_conf_text="http {\n    include /etc/nginx/sites-enabled/*;\n}\n")
    line = by_check(run_checks(system_box(hooks=cut)))["nginx hook"]
    assert (
        line.level is Level.PROBLEM and "does not include /etc/nginx/conf.d/*.conf" in line.summary
    )
    bare = hooks(supervisor_text="[include]\nfiles = /etc/supervisor/conf.d/*.conf\n")
    assert by_check(run_checks(system_box(hooks=bare)))["Supervisor hook"].level is Level.PROBLEM
    assert "nginx hook" not in by_check(run_checks(box(1)))  # embedded: no hooks


def test_a_port_held_by_another_program_is_a_problem_ours_or_free_is_ok() -> None:
    ports = (
        Port(80, ((100, "nginx"), (101, "nginx")), (True, True)),
        Port(443, ((7, "apache2"),), (False,)),
        Port(8081),
    )
    lines = by_check(run_checks(box(1, ports=ports, nginx=Daemon("nginx", None, 65536))))
    assert lines["port 80"].level is Level.OK
    assert lines["port 443"].level is Level.PROBLEM
    assert lines["port 443"].summary == "port 443 is held by apache2 (pid 7)"
    assert lines["port 8081"].summary == "port 8081 is free"
    unseen = by_check(run_checks(box(1, ports=(Port(80, ((None, "?"),), (False,)),))))
    assert unseen["port 80"].level is Level.WARNING and unseen["port 80"].fix.endswith("as root")
    running = by_check(run_checks(box(1, ports=(Port(8081),))))["port 8081"]
    assert running.level is Level.WARNING  # nginx runs and does not listen there


def test_the_sites_folder_and_an_app_root_its_user_cannot_enter() -> None:
    refusal = (
        "user 'www-data' cannot enter /home/ann (drwx------ ann): Permission denied (EACCES); "
        "let them in (chmod o+x /home/ann) or run the site as its owner (app.user)"
    )
    lines = by_check(
        run_checks(
            box(
                2,
                sites_folder_problem="the sites folder /x is missing",
                app_roots={"s0": None, "s1": refusal},
            )
        )
    )
    assert lines["sites folder"].level is Level.PROBLEM and "mkdir -p" in lines["sites folder"].fix
    assert lines["app root: s0"].level is Level.OK
    bad = lines["app root: s1"]
    assert bad.level is Level.PROBLEM and bad.summary.endswith("Permission denied (EACCES)")
    assert bad.fix.startswith("let them in (chmod o+x /home/ann)")


def test_a_tls_domain_must_resolve_here_and_answer_through_its_server_block() -> None:
    domains = (
        DomainCheck("shop", "shop.test", ("127.0.0.1",), ("127.0.0.1",), None),
        DomainCheck("shop", "gone.test", (), (), None),
        DomainCheck("shop", "far.test", ("192.0.2.7",), (), None),
        DomainCheck("shop", "lost.test", ("127.0.0.1",), ("127.0.0.1",), "answered 444"),
    )
    lines = by_check(run_checks(box(1, domains=domains)))
    assert lines["domain: shop.test"].level is Level.OK
    assert "shop's server block answers on port 8080" in lines["domain: shop.test"].summary
    assert lines["domain: gone.test"].summary == "gone.test does not resolve"
    assert lines["domain: far.test"].summary == "far.test points to 192.0.2.7, not to this machine"
    assert lines["domain: lost.test"].summary == "answered 444"
    assert {lines[f"domain: {d}.test"].level for d in ("gone", "far", "lost")} == {Level.PROBLEM}


def test_certbot_folders_certificates_and_crash_loops() -> None:
    ends = {
        "s0": NOW + timedelta(days=60),
        "s1": NOW + timedelta(days=10),
        "s2": NOW + timedelta(hours=5),
    }
    loops = {"s1": Retry(3, NOW.timestamp() + 60, "exit status 1")}
    folders = {Path("/etc/letsencrypt"): None, Path("/var/lib/letsencrypt"): "not writable"}
    lines = by_check(
        run_checks(box(3, now=NOW, certificates=ends, crash_loops=loops, certbot_folders=folders))
    )
    assert lines["certificate: s0"].level is Level.OK
    assert lines["certificate: s1"].level is Level.WARNING
    assert lines["certificate: s1"].summary.startswith("expires in 10 day(s)")
    assert lines["certificate: s2"].level is Level.PROBLEM
    assert lines["crash loop: s1"].level is Level.PROBLEM
    assert "after 3 start(s): exit status 1" in lines["crash loop: s1"].summary
    assert lines["certbot folder: /etc/letsencrypt"].summary == "writable"
    work = lines["certbot folder: /var/lib/letsencrypt"]
    assert work.level is Level.PROBLEM and work.summary == "not writable"
    quiet = by_check(run_checks(box(1)))
    assert quiet["crash loops"].summary == "no site is held back"


def test_the_clock_the_disks_and_the_daemon() -> None:
    lines = by_check(
        run_checks(
            box(
                1,
                clock=Clock(False, "timedatectl"),
                daemon="not running (start it: hostd up)",
                disks=(
                    Disk(Path("/var/lib/hostd"), 50 * MIB, 10 * GIB),
                    Disk(Path("/var/log"), 500 * MIB, 10 * GIB),
                    Disk(Path("/srv"), 500 * MIB, 600 * MIB),
                ),
            )
        )
    )
    assert (
        lines["clock"].level is Level.WARNING and "timedatectl set-ntp true" in lines["clock"].fix
    )
    assert lines["disk: /var/lib/hostd"].level is Level.PROBLEM
    assert lines["disk: /var/log"].level is Level.WARNING
    assert lines["disk: /srv"].level is Level.OK  # little, but most of a small disk
    daemon = lines["hostd daemon"]
    assert daemon.level is Level.PROBLEM and daemon.summary.endswith("no site is served")
    system = by_check(run_checks(box(1, layout=system_layout(), daemon="running (pid 7)")))
    assert system["hostd daemon"].level is Level.OK
    synced = by_check(run_checks(box(1, clock=Clock(True, "timedatectl"))))["clock"]
    assert synced.level is Level.OK


def test_the_exit_code_says_ok_warnings_or_problems() -> None:
    assert exit_code(Level.OK) == 0
    assert exit_code(Level.WARNING) == 4
    assert exit_code(Level.PROBLEM) == 1
