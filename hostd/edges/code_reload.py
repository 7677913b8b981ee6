"""Reloading a site's code without dropping a request: check, then HUP gunicorn.

gunicorn re-imports the app in new workers on HUP and retires the old ones
gracefully; the master and its socket stay. A HUP with code that does not
import would kill the site, so `gunicorn --check-config` with the site's own
command and environment goes first, as the site's own user
(`hostd.edges.site_user`), never as hostd's.
"""

from __future__ import annotations

import time

from hostd.core.facts import HostFacts
from hostd.core.processes import program_name
from hostd.core.render import gunicorn_argv, program_environment, program_user
from hostd.core.site import Site
from hostd.edges.runner import Runner
from hostd.edges.site_user import as_site_user
from hostd.edges.supervisor import XmlRpcSupervisor
from hostd.errors import CommandError, HostdError, SupervisorError

CHECK_TIMEOUT = 120.0


def check_argv(site: Site, facts: HostFacts) -> list[str]:
    """The site's gunicorn command, asked only to load the app and exit."""
    argv = gunicorn_argv(site, facts)
    return [*argv[:-1], "--check-config", argv[-1]]


class GunicornReloader:
    """The real `hostd.apply.ports.CodeReloader`."""

    def __init__(self, facts: HostFacts, runner: Runner, supervisor: XmlRpcSupervisor) -> None:
        self.facts = facts
        self.runner = runner
        self.supervisor = supervisor

    def reload(self, site: Site) -> str | None:
        try:
            return reload_code(site, self.facts, self.runner, self.supervisor)
        except SupervisorError as exc:
            return f"could not reach supervisord: {exc}"


def reload_code(
    site: Site, facts: HostFacts, runner: Runner, supervisor: XmlRpcSupervisor
) -> str | None:
    """HUP the site's gunicorn if its code loads; None on success, else why not."""
    info = supervisor.info(site.name)
    if info is None or info.state not in ("RUNNING", "STARTING") or not info.pid:
        state = info.state if info else "absent"
        return f"code reload needs a running program (it is {state})"
    try:
        argv, env = as_site_user(
            check_argv(site, facts), program_environment(site), program_user(site, facts)
        )
        runner.run(argv, env=env, timeout=CHECK_TIMEOUT, cwd=site.app.root)
    except CommandError as exc:
        lines = [line for line in exc.output.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit {exc.returncode}"
        return f"new code does not load, the old workers keep serving: {reason}"
    except HostdError as exc:  # the user is gone, setpriv is missing
        return f"cannot check the new code as the site's user: {exc}"
    try:
        supervisor.signal(site.name, "HUP")
    except SupervisorError as exc:
        return f"could not signal gunicorn: {exc}"
    time.sleep(0.2)
    after = supervisor.info(site.name)
    if after is None or after.pid != info.pid or after.state not in ("RUNNING", "STARTING"):
        return "gunicorn did not survive the reload; Supervisor restarts it"
    return restart_processes(site, supervisor)


def restart_processes(site: Site, supervisor: XmlRpcSupervisor) -> str | None:
    """Restart the site's worker processes, which have no graceful reload, on the new code."""
    for name, _ in site.processes:
        program = program_name(site.name, name)
        try:
            supervisor.stop(program)
            supervisor.start(program)
        except SupervisorError as exc:
            return f"could not restart process {name}: {exc}"
    return None
