"""Rendering: golden cases, and the properties every generated file must have.

Each folder in tests/cases/ holds a `site.yaml` and the `nginx.conf` and
`program.conf` it must render to. After an intended change to a template, rewrite
the expected files with

    HOSTD_UPDATE_GOLDEN=1 pytest tests/unit/test_render.py

and review the diff before committing it.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from supervisor.options import ServerOptions

import hostd
from hostd.core.facts import HostFacts
from hostd.core.generation import ALL_PROGRAMS, all_programs, nginx_site_path, program_path
from hostd.core.layout import Layout, embedded_layout, system_layout
from hostd.core.render import (
    DEFAULT_SERVER,
    gunicorn_argv,
    program_environment,
    render_generation,
    render_site,
    served_fingerprint,
    templates_dir,
)
from hostd.core.site import Site, parse_site
from hostd.edges.supervisor import check_config
from hostd.errors import SupervisorError

CASES = Path(__file__).resolve().parent.parent / "cases"
UPDATE = os.environ.get("HOSTD_UPDATE_GOLDEN") == "1"
GUNICORN = Path("/opt/hostd/bin/gunicorn")
INSTANCE = HostFacts(
    layout=embedded_layout(Path("/srv/hostd"), Path("/srv/sites")), cores=2, gunicorn=GUNICORN
)
TEMPLATES = ("default", "hostd", "nginx", "program", "site", "supervisord", "tls")


def case_site(case: str) -> Site:
    """The site of tests/cases/`case`, as if its file were /srv/sites/`case`.yaml."""
    return parse_site(Path(f"/srv/sites/{case}.yaml"), (CASES / case / "site.yaml").read_text())


def all_cases() -> list[str]:
    return sorted(p.parent.name for p in CASES.glob("*/site.yaml"))


def site(name: str, domains: str = "example.com", app: str = "") -> Site:
    text = f"domains: [{domains}]\napp:\n  root: /srv/apps/{name}\n  wsgi: {name}:app\n{app}"
    return parse_site(Path(f"/srv/sites/{name}.yaml"), text)


def test_there_are_golden_cases() -> None:
    """The golden test cannot pass by finding no cases."""
    assert all_cases() == [
        "edge-policies", "env-venv", "factory", "minimal", "processes", "static-tls",
    ]  # fmt: skip


@pytest.mark.parametrize("case", all_cases())
def test_a_site_renders_to_its_golden_files(case: str) -> None:
    """Each case renders exactly to the nginx server block and Supervisor program beside it."""
    files = render_site(case_site(case), INSTANCE)
    assert sorted(files) == [nginx_site_path(case), program_path(case)]
    for path, golden in (
        (nginx_site_path(case), "nginx.conf"),
        (program_path(case), "program.conf"),
    ):
        expected = CASES / case / golden
        if UPDATE:
            expected.write_text(files[path])
        assert files[path] == expected.read_text(), f"{case}/{golden} differs"


def test_percent_is_doubled_for_supervisor() -> None:
    """Every '%' in a program file is doubled, so Supervisor never expands a value."""
    program = render_site(case_site("env-venv"), INSTANCE)[program_path("env-venv")]
    assert 'DISCOUNT="50%%"' in program
    assert 'DATABASE_URL="postgres://api:p%%40ss@db/api"' in program
    assert 'HOME_TEMPLATE="%%(ENV_HOME)s"' in program
    assert re.search(r"(?<!%)%(?!%)", program.replace("%%", "")) is None


def test_the_program_command_runs_gunicorn_on_the_sites_socket() -> None:
    """The command line binds the socket of the site's slot (slot a unless it is in
    slot b; nginx reaches it through the site's socket, a link) and names the app;
    no shell involved."""
    argv = gunicorn_argv(case_site("minimal"), INSTANCE)
    assert argv == [
        "/opt/hostd/bin/gunicorn",
        "--config", "/srv/hostd/state/gunicorn.conf.py",
        "--chdir", "/srv/apps/minimal",
        "--bind", "unix:/srv/hostd/run/minimal.a.sock",
        "--workers", "5",
        "--timeout", "30",
        "--graceful-timeout", "25",
        "--error-logfile", "-",
        "app:app",
    ]  # fmt: skip


def test_slot_b_is_another_program_on_another_socket() -> None:
    """The same site in slot b: its own program name, socket and control socket, so
    both slots can run side by side; nginx's file does not change."""
    minimal = case_site("minimal")
    on_b = replace(INSTANCE, slots_b=frozenset({"minimal"}))
    files_a, files_b = render_site(minimal, INSTANCE), render_site(minimal, on_b)
    assert "[program:minimal]" in files_a["supervisor/programs/minimal.conf"]
    assert "[program:minimal.slot-b]" in files_b["supervisor/programs/minimal.conf"]
    assert "unix:/srv/hostd/run/minimal.b.sock" in gunicorn_argv(minimal, on_b)
    assert files_a["nginx/sites/minimal.conf"] == files_b["nginx/sites/minimal.conf"]
    assert "server unix:/srv/hostd/run/minimal.sock " in files_a["nginx/sites/minimal.conf"]


def test_a_venv_site_runs_its_own_gunicorn() -> None:
    """A site with a venv runs that venv's gunicorn, with the venv first on PATH."""
    api = case_site("env-venv")
    assert gunicorn_argv(api, INSTANCE)[0] == "/srv/venvs/api/bin/gunicorn"
    env = program_environment(api)
    assert env["VIRTUAL_ENV"] == "/srv/venvs/api"
    assert env["PATH"].startswith("/srv/venvs/api/bin:")
    assert env["HOSTD_SITE"] == "env-venv"


@pytest.mark.parametrize(("cores", "workers"), [(1, "3"), (2, "5"), (8, "17")])
def test_auto_workers_are_twice_the_cores_plus_one(cores: int, workers: str) -> None:
    """`workers: auto` (or none) means 2 * cores + 1."""
    instance = HostFacts(layout=INSTANCE.layout, cores=cores, gunicorn=GUNICORN)
    argv = gunicorn_argv(site("blog", app="  workers: auto\n"), instance)
    assert argv[argv.index("--workers") + 1] == workers


def test_explicit_workers_do_not_depend_on_the_cores() -> None:
    """A number of workers in the site file is taken as it is."""
    instance = HostFacts(layout=INSTANCE.layout, cores=16, gunicorn=GUNICORN)
    argv = gunicorn_argv(case_site("static-tls"), instance)
    assert argv[argv.index("--workers") + 1] == "4"


def test_control_socket_only_for_gunicorns_that_take_it() -> None:
    """`--control-socket` is passed only to a gunicorn known to understand it."""
    instance = HostFacts(
        layout=INSTANCE.layout, gunicorn=GUNICORN, control_socket_gunicorns=frozenset({GUNICORN})
    )
    argv = gunicorn_argv(case_site("minimal"), instance)
    assert argv[-3:] == ["--control-socket", "/srv/hostd/run/minimal.ctl", "app:app"]
    assert "--control-socket" not in gunicorn_argv(case_site("env-venv"), instance)
    assert "--control-socket" not in gunicorn_argv(case_site("minimal"), INSTANCE)


def test_the_catch_all_carries_the_fingerprint_of_what_nginx_serves() -> None:
    """default.conf answers the digest of every other nginx file, and rejects unknown hosts."""
    files = render_generation({c: case_site(c) for c in all_cases()}, INSTANCE)
    default = files[DEFAULT_SERVER]
    assert f'return 200 "{served_fingerprint(files)}\\n";' in default
    assert re.search(r"^\s+return 444;$", default, re.MULTILINE)
    assert "default_server" in default


def test_the_fingerprint_follows_nginx_files_only() -> None:
    """A changed server block changes the fingerprint; a changed program does not."""
    before = render_generation({"blog": site("blog")}, INSTANCE)
    env_only = render_generation({"blog": site("blog", app="  env: {A: b}\n")}, INSTANCE)
    new_domain = render_generation({"blog": site("blog", "example.com, www.example.com")}, INSTANCE)
    assert env_only[program_path("blog")] != before[program_path("blog")]
    assert served_fingerprint(env_only) == served_fingerprint(before)
    assert env_only[DEFAULT_SERVER] == before[DEFAULT_SERVER]
    assert served_fingerprint(new_domain) != served_fingerprint(before)
    assert new_domain[DEFAULT_SERVER] != before[DEFAULT_SERVER]


def test_the_fingerprint_ignores_the_catch_all_itself() -> None:
    """The catch-all holds the answer, so it cannot be part of the question."""
    files = render_generation({"blog": site("blog")}, INSTANCE)
    assert served_fingerprint({**files, DEFAULT_SERVER: "anything"}) == served_fingerprint(files)


def test_a_generation_has_its_main_configs_in_both_modes() -> None:
    """nginx.conf and supervisord.conf: run by embedded mode, used for checks in system mode."""
    sites = {"blog": site("blog")}
    embedded = render_generation(sites, INSTANCE)
    system = render_generation(sites, HostFacts(layout=system_layout(), gunicorn=GUNICORN))
    shared = ["nginx/hostd.conf", DEFAULT_SERVER]
    main = ["nginx/nginx.conf", "supervisor/supervisord.conf", "supervisor/all-programs.conf"]
    site_files = [nginx_site_path("blog"), program_path("blog")]
    assert sorted(embedded) == sorted([*site_files, *shared, *main])
    assert sorted(system) == sorted([*site_files, *shared, *main])
    assert "pid /srv/hostd/run/nginx.pid;" in embedded["nginx/nginx.conf"]
    assert "pid /var/lib/hostd/nginx/check.pid;" in system["nginx/nginx.conf"]


def test_the_user_applies_in_system_mode_only() -> None:
    """`user:` runs the program as that user on a real host, and is ignored when embedded."""
    api = case_site("env-venv")
    system = HostFacts(layout=system_layout(), gunicorn=GUNICORN)
    assert "\nuser=www-api\n" in render_site(api, system)[program_path("env-venv")]
    assert "user=" not in render_site(api, INSTANCE)[program_path("env-venv")]


def test_templates_are_found_in_the_source_tree() -> None:
    """The templates come from the source tree's templates/, or the wheel's hostd/templates/."""
    package = Path(hostd.__file__).resolve().parent
    folder = templates_dir()
    assert folder in (package / "templates", package.parent / "templates")
    expected = [f"{t}.conf.j2" for t in (*TEMPLATES, "process")] + ["logrotate.j2"]
    assert sorted(p.name for p in folder.glob("*.j2")) == sorted(expected)


def test_another_templates_folder_can_be_used(tmp_path: Path) -> None:
    """An instance pointed at another templates folder renders with those templates."""
    for name in TEMPLATES:
        (tmp_path / f"{name}.conf.j2").write_text(f"{name} for {{{{ host.http_port }}}}\n")
    instance = HostFacts(layout=INSTANCE.layout, templates=tmp_path, http_port=9000)
    files = render_site(site("blog"), instance)
    assert files[nginx_site_path("blog")] == "site for 9000\n"


def home_layout(home: Path, sites: list[str]) -> Layout:
    """An embedded layout under `home` with the folders supervisord insists on."""
    layout = embedded_layout(home, home / "sites.d")
    for folder in (layout.run_dir, *(layout.site_log_dir(name) for name in sites)):
        folder.mkdir(parents=True, exist_ok=True)
    return layout


def write_generation(folder: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)


def test_every_program_file_parses_with_supervisors_own_parser(tmp_path: Path) -> None:
    """Supervisor reads back each program with the command and environment hostd meant."""
    sites = {case: case_site(case) for case in all_cases()}
    layout = home_layout(tmp_path / "home", list(sites))
    instance = HostFacts(layout=layout, gunicorn=GUNICORN, config_root=tmp_path)
    write_generation(tmp_path, render_generation(sites, instance))
    conf = tmp_path / "supervisor" / "supervisord.conf"
    check_config(conf)

    options = ServerOptions()
    options.configfile = str(conf)
    options.process_config(do_usage=False)
    programs = {g.name: g.process_configs[0] for g in options.process_group_configs}
    processes = {f"{n}.{p}": (n, p, c) for n, s in sites.items() for p, c in s.processes}
    assert sorted(programs) == sorted([*sites, *processes])
    for name, program in programs.items():
        if name in processes:  # a worker process: the site's folder and env, its own command
            owner, process, command = processes[name]
            site_of = sites[owner]
            argv = shlex.split(program.command)
            assert argv[argv.index("--") + 2 :] == shlex.split(command)[1:]
            assert program.environment == {
                **program_environment(site_of), "HOSTD_PROCESS": process
            }  # fmt: skip
            assert program.directory == str(site_of.app.root)
            continue
        argv = shlex.split(program.command)
        if sites[name].env_file:  # behind the env file's reader, which execs gunicorn
            argv = argv[argv.index("--") + 1 :]
        assert argv == gunicorn_argv(sites[name], instance)
        assert program.environment == program_environment(sites[name])
        assert program.directory == str(sites[name].app.root)


def test_a_broken_program_file_is_refused_by_supervisors_parser(tmp_path: Path) -> None:
    """check_config really parses: a program that is not valid makes it fail."""
    layout = home_layout(tmp_path / "home", ["blog"])
    instance = HostFacts(layout=layout, gunicorn=GUNICORN, config_root=tmp_path)
    files = render_generation({"blog": site("blog")}, instance)
    files[program_path("blog")] += "startsecs=soon\n"
    files[ALL_PROGRAMS] = all_programs(files)  # what supervisord reads
    write_generation(tmp_path, files)
    with pytest.raises(SupervisorError, match="'soon' in section 'program:blog'"):
        check_config(tmp_path / "supervisor" / "supervisord.conf")
