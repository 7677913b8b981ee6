"""Rendering: sites and host facts in, generated file contents out. Pure.

Templates live in the top-level `templates/` folder of the source tree and inside
the wheel as `hostd/templates/`; `templates_dir` finds whichever is there.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from hostd.core.edgeconf import template_context
from hostd.core.facts import HostFacts
from hostd.core.generation import (
    ALL_PROGRAMS,
    NGINX,
    Files,
    all_programs,
    fingerprint,
    nginx_files,
    nginx_site_path,
    program_path,
)
from hostd.core.layout import Mode
from hostd.core.limits import NGINX_WORKER_CONNECTIONS, nginx_open_files
from hostd.core.maintenance import RETRY_AFTER, maintenance_page
from hostd.core.processes import process_argv, program_name
from hostd.core.site import Site
from hostd.core.sitekeys import APP_NUMBERS, WORKER_CLASSES
from hostd.core.slots import slot_of, web_program

# gunicorn's worker and graceful timeouts of a site that does not set them
TIMEOUT = APP_NUMBERS["timeout"].default
GRACEFUL_TIMEOUT = APP_NUMBERS["graceful_timeout"].default
# nginx waits this much longer than gunicorn's worker timeout, so gunicorn's own
# limit (with its log line) is what ends a request that takes too long
PROXY_TIMEOUT_MARGIN = 5
DEFAULT_SERVER = "nginx/default.conf"


@cache
def templates_dir() -> Path:
    """The folder holding the templates, installed or in a source checkout."""
    package = Path(__file__).resolve().parent.parent  # hostd/
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "site.conf.j2").is_file():
            return candidate
    raise FileNotFoundError(f"hostd templates not found next to {package}")


def ini_value(value: object) -> str:
    """`value` for a Supervisor option: `%` doubled against %-expansion."""
    return str(value).replace("%", "%%")


@cache
def _environment(folder: Path, reload: bool = False) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        # hostd's own templates change only with hostd: no stat of them on each of
        # thousands of renders; another folder (HOSTD_TEMPLATES) is read as it changes
        auto_reload=reload,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ini"] = ini_value
    return env


def template(name: str, folder: Path | None = None) -> jinja2.Template:
    """The template `name` from `folder` (default: hostd's own templates)."""
    return _environment(folder or templates_dir(), reload=folder is not None).get_template(name)


def _render(facts: HostFacts, name: str, **context: Any) -> str:
    """Template `name` rendered with `facts` and its layout, plus `context`."""
    page = template(name, facts.templates)
    return page.render(host=facts, layout=facts.layout, **context)


def gunicorn_of(site: Site, facts: HostFacts) -> Path:
    return site.app.venv / "bin" / "gunicorn" if site.app.venv else facts.gunicorn


def gunicorn_argv(site: Site, facts: HostFacts) -> list[str]:
    """The command Supervisor runs for `site`."""
    layout = facts.layout
    gunicorn = gunicorn_of(site, facts)
    slot = slot_of(site.name, facts.slots_b)
    argv = [
        str(gunicorn),
        "--config", str(layout.gunicorn_conf),  # not the app's own gunicorn.conf.py
        "--chdir", str(site.app.root),
        "--bind", f"unix:{layout.slot_socket(site.name, slot)}",
        "--workers", str(site.app.workers or facts.auto_workers),
        "--timeout", str(site.app.timeout),
        "--graceful-timeout", str(site.app.graceful_timeout),
        "--error-logfile", "-",
    ]  # fmt: skip
    argv += tuning_flags(site)
    if gunicorn in facts.control_socket_gunicorns:
        argv += ["--control-socket", str(layout.slot_control_socket(site.name, slot))]
    argv.append(site.app.wsgi)
    return argv


def secrets_prefix(site: Site, facts: HostFacts) -> list[str]:
    """What runs in front of a program of a site with an env_file: it adds the file's
    variables and execs the program; the digest makes a new file a new command."""
    if site.env_file is None:
        return []
    digest = site.secret_digest or "unread"
    return [str(facts.python), "-m", "hostd.edges.envexec", "--digest", digest,
            str(site.env_file), "--"]  # fmt: skip


def tuning_flags(site: Site) -> list[str]:
    """gunicorn flags for the `app:` keys that differ from gunicorn's defaults."""
    app = site.app
    flags: list[str] = []
    if app.worker_class != "sync":
        flags += ["--worker-class", WORKER_CLASSES[app.worker_class]]
    if app.threads != 1:
        flags += ["--threads", str(app.threads)]
    if app.max_requests:
        flags += ["--max-requests", str(app.max_requests)]
    if app.max_requests_jitter:
        flags += ["--max-requests-jitter", str(app.max_requests_jitter)]
    if app.preload:
        flags.append("--preload")
    return flags


def program_environment(site: Site) -> dict[str, str]:
    """The environment of a site's program, on top of supervisord's own."""
    path = "/usr/local/bin:/usr/bin:/bin"
    env = {"PYTHONUNBUFFERED": "1", "PATH": path, "HOSTD_SITE": site.name}
    if site.app.venv:
        env["PATH"] = f"{site.app.venv}/bin:{path}"
        env["VIRTUAL_ENV"] = str(site.app.venv)
    env.update(site.app.env)
    return env


def program_user(site: Site, facts: HostFacts) -> str | None:
    """Who the program runs as: system mode, the site's user (default www-data)."""
    if facts.layout.mode is not Mode.SYSTEM:
        return None
    return site.app.user or facts.default_user


def render_program(site: Site, facts: HostFacts) -> str:
    environment = ",".join(
        f'{key}="{ini_value(value)}"' for key, value in program_environment(site).items()
    )
    user = program_user(site, facts)
    return _render(
        facts,
        "program.conf.j2",
        site=site,
        program=web_program(site.name, slot_of(site.name, facts.slots_b)),
        command=shlex.join(secrets_prefix(site, facts) + gunicorn_argv(site, facts)),
        environment=environment,
        graceful_timeout=site.app.graceful_timeout,
        log_dir=facts.layout.site_log_dir(site.name),
        user=user,
    )


def render_processes(site: Site, facts: HostFacts) -> str:
    """The Supervisor programs of a site's worker processes, after its web program."""
    sections = []
    for name, command in site.processes:
        argv = secrets_prefix(site, facts) + process_argv(command, site.app.venv)
        env = {**program_environment(site), "HOSTD_PROCESS": name}
        sections.append(
            _render(
                facts,
                "process.conf.j2",
                site=site,
                process=name,
                program=program_name(site.name, name),
                command=shlex.join(argv),
                environment=",".join(f'{k}="{ini_value(v)}"' for k, v in env.items()),
                log_dir=facts.layout.site_log_dir(site.name),
                user=program_user(site, facts),
            )
        )
    return "".join(sections)


def render_server(site: Site, facts: HostFacts) -> str:
    layout = facts.layout
    return _render(
        facts,
        "site.conf.j2",
        site=site,
        socket=layout.site_socket(site.name),
        log_dir=layout.site_log_dir(site.name),
        certificate=facts.certificates.get(site.name),
        https_port_suffix="" if facts.https_port == 443 else f":{facts.https_port}",
        edge=template_context(
            site.name,
            site.policies,
            layout.site_auth_file(site.name),
            http_port=facts.http_port,
            https_port=facts.https_port,
            redirect_only=site.name in facts.certificates,
        ),
        maintenance={"retry_after": RETRY_AFTER, "page": maintenance_page(site.paused or "")},
        proxy_timeout=site.app.timeout + PROXY_TIMEOUT_MARGIN,
    )


def render_site(site: Site, facts: HostFacts) -> dict[str, str]:
    """The files that belong to one site."""
    return {
        nginx_site_path(site.name): render_server(site, facts),
        program_path(site.name): render_program(site, facts) + render_processes(site, facts),
    }


def render_generation(sites: Mapping[str, Site], facts: HostFacts) -> dict[str, str]:
    """Every file of a generation serving exactly `sites`."""
    files: dict[str, str] = {}
    for name in sorted(sites):
        files.update(render_site(sites[name], facts))
    return {**files, **render_shared(files, facts)}


def render_shared(site_files: Files, facts: HostFacts) -> dict[str, str]:
    """The files every generation has besides its sites': main configs and the catch-all,
    which answers the fingerprint of all the rest."""
    shared = {
        "nginx/hostd.conf": _render(facts, "hostd.conf.j2"),
        "nginx/nginx.conf": _render(
            facts,
            "nginx.conf.j2",
            pid_file=_pid_file(facts),
            worker_connections=NGINX_WORKER_CONNECTIONS,
            open_files=nginx_open_files(_site_count(site_files)),
        ),
        "supervisor/supervisord.conf": _render(facts, "supervisord.conf.j2"),
        ALL_PROGRAMS: all_programs(site_files),
    }
    fingerprint = served_fingerprint({**site_files, **shared})
    shared[DEFAULT_SERVER] = _render(
        facts, "default.conf.j2", fingerprint=fingerprint, probe_sources=probe_sources(facts)
    )
    return shared


def probe_sources(facts: HostFacts) -> list[str]:
    """The addresses hostd's own requests to its nginx come from: loopback, and the
    (IPv4) address nginx listens on if it is another: a connection to a local
    address comes from that address."""
    sources = ["127.0.0.1", "::1"]
    own = facts.probe_host
    return sources if own in sources else [*sources, own]


def _site_count(site_files: Files) -> int:
    """The number of nginx site files among `site_files`."""
    return sum(1 for rel in site_files if rel.startswith(f"{NGINX}sites/"))


def _pid_file(facts: HostFacts) -> Path:
    """Embedded: the private nginx's pid file. System: a harmless one for checks."""
    layout = facts.layout
    if layout.mode is Mode.EMBEDDED:
        return layout.nginx_pid
    return layout.nginx_prefix / "check.pid"


def served_fingerprint(files: Files) -> str:
    """What nginx's fingerprint location answers once it serves `files`.

    A digest of every nginx file but the catch-all, which carries the answer.
    """
    nginx = nginx_files(files)
    nginx.pop(DEFAULT_SERVER, None)
    return fingerprint(nginx)
