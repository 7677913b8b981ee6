"""A site's `release:` command (database migrations and the like), run once per new
version before it goes live: in the app's root, as the site's user
(`hostd.edges.site_user`), with the environment its programs get (env, env_file
secrets, the venv first on PATH)."""

from __future__ import annotations

from hostd.core.facts import HostFacts
from hostd.core.processes import process_argv
from hostd.core.release import Released
from hostd.core.render import program_environment, program_user, secrets_prefix
from hostd.core.site import Site
from hostd.edges.runner import Runner
from hostd.edges.site_user import as_site_user
from hostd.errors import CommandError, HostdError

RELEASE_TIMEOUT = 600.0


class ReleaseCommand:
    """The real `hostd.apply.ports.Releases`."""

    def __init__(self, facts: HostFacts, runner: Runner) -> None:
        self.facts = facts
        self.runner = runner

    def run(self, site: Site) -> Released:
        if site.release is None:
            return Released(True, "")
        argv = secrets_prefix(site, self.facts) + process_argv(site.release, site.app.venv)
        try:
            argv, env = as_site_user(
                argv, program_environment(site), program_user(site, self.facts)
            )
            done = self.runner.run(argv, env=env, timeout=RELEASE_TIMEOUT, cwd=site.app.root)
        except CommandError as exc:
            code = "could not run" if exc.returncode is None else f"exit {exc.returncode}"
            return Released(False, f"{code}: {exc.output.strip()}")
        except HostdError as exc:  # the user is gone, setpriv is missing
            return Released(False, str(exc))
        return Released(True, done.output)
