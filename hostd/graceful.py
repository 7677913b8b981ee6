"""Reloading a site's code without dropping a request: check, then HUP gunicorn.

gunicorn re-imports the app in new workers on HUP and retires the old ones
gracefully; the master and its socket stay. A HUP with code that does not
import would kill the site, so `gunicorn --check-config` with the site's own
command and environment goes first.
"""

from __future__ import annotations

import time

from hostd.errors import CommandError, SupervisorError
from hostd.instance import Instance
from hostd.model import Site
from hostd.render import gunicorn_argv, program_environment
from hostd.runner import Runner
from hostd.supervisor import Supervisor

CHECK_TIMEOUT = 120.0


def check_argv(site: Site, instance: Instance) -> list[str]:
    """The site's gunicorn command, asked only to load the app and exit."""
    argv = gunicorn_argv(site, instance)
    return [*argv[:-1], "--check-config", argv[-1]]


def reload_code(
    site: Site, instance: Instance, runner: Runner, supervisor: Supervisor
) -> str | None:
    """HUP the site's gunicorn if its code loads; None on success, else why not."""
    info = supervisor.info(site.name)
    if info is None or info.state not in ("RUNNING", "STARTING") or not info.pid:
        state = info.state if info else "absent"
        return f"code reload needs a running program (it is {state})"
    env = {"HOME": "/", **program_environment(site)}
    try:
        runner.run(check_argv(site, instance), env=env, timeout=CHECK_TIMEOUT, cwd=site.app.root)
    except CommandError as exc:
        lines = [line for line in exc.output.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit {exc.returncode}"
        return f"new code does not load, the old workers keep serving: {reason}"
    try:
        supervisor.signal(site.name, "HUP")
    except SupervisorError as exc:
        return f"could not signal gunicorn: {exc}"
    time.sleep(0.2)
    after = supervisor.info(site.name)
    if after is None or after.pid != info.pid or after.state not in ("RUNNING", "STARTING"):
        return "gunicorn did not survive the reload; Supervisor restarts it"
    return None
