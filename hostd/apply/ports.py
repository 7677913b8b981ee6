"""Every effect the transaction has, as a port: a Protocol saying what each method
does and what it raises.

The real implementations are edges (`hostd.edges`), put together by
`hostd.runtime.wiring`; `hostd.testing` ships fakes of every one, so the
transaction's branches run in memory. A method that says "raises nothing" turns its
own failures into a return value or an event.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hostd.core.certificate import Attempts, Certificate
from hostd.core.generation import Files, Generation
from hostd.core.program import ConfigDiff, ProgramInfo
from hostd.core.release import Released
from hostd.core.report import ApplyReport
from hostd.core.site import Site
from hostd.errors import SiteError


class SiteFiles(Protocol):
    def load(self) -> dict[str, Site | SiteError]:
        """Every site file by site name, parsed and checked against the disk, or the
        error that refuses it. An unreadable file is a SiteError; a sites folder that
        cannot say which sites exist (missing, unreadable, empty while sites are live)
        raises SitesFolderError, so that the apply keeps the live sites."""
        ...


class Generations(Protocol):
    def live(self) -> Generation | None:
        """The live generation, or None before the first one. Raises HostdError if
        it cannot be read."""
        ...

    def write(self, files: Files, sites: Mapping[str, Site], base: Generation | None) -> Generation:
        """A new complete generation, not live yet. Raises HostdError when the disk
        is full or failing, and leaves no partial generation behind."""
        ...

    def switch(self, generation: Generation) -> None:
        """Make `generation` live, atomically. Raises HostdError."""
        ...

    def prune(self) -> None:
        """Remove old generations, never the live one. Raises nothing."""
        ...


class Checker(Protocol):
    root: Path  # where candidates are checked from: files rendered for it name it

    def refusal(self, files: Files) -> str | None:
        """Why nginx or Supervisor would refuse a generation of `files` (rendered with
        `root` as their folder), or None. Raises HostdError if it cannot check at all
        (the scratch folder cannot be written)."""
        ...


class Nginx(Protocol):
    def served_fingerprint(self) -> str | None:
        """The fingerprint nginx answers now, or None if nothing answers. Raises nothing."""
        ...

    def reload(self, expected_fingerprint: str) -> None:
        """Have nginx serve the live files and confirm it by their fingerprint.
        Raises NginxError if it is down or does not take them."""
        ...


class Supervisor(Protocol):
    """supervisord's programs, one group per site. Every method raises SupervisorError
    when supervisord refuses the call or cannot be reached."""

    def reload_config(self) -> ConfigDiff: ...
    def start_early(self, programs: Mapping[str, str]) -> list[str]:
        """Start `programs` (group -> its `[program:x]` section) before a generation
        names them, where this supervisord can (an embedded one); the groups started.
        A reread of a generation with the same sections finds them unchanged."""
        ...

    def add(self, group: str) -> None: ...
    def remove(self, group: str) -> None:
        """Stop the group, wait until it is down, forget it."""
        ...

    def retire(self, group: str, stop: bool = True) -> None:
        """Forget the group at once without waiting, so that a group of the same name
        may start beside its processes: they stop on their own now, or with `stop`
        false at `stop_retired`; where supervisord cannot, as `remove`."""
        ...

    def stop_retired(self) -> None:
        """Stop the processes of the groups retired with `stop` false."""
        ...

    def info(self, group: str) -> ProgramInfo | None: ...
    def all_info(self) -> dict[str, ProgramInfo]: ...
    def signal(self, group: str, signame: str) -> None: ...
    def start(self, group: str) -> None: ...
    def stop(self, group: str) -> None: ...


class Apps(Protocol):
    def failures(
        self, sites: Sequence[Site], on_b: Collection[str] = (), https: Collection[str] = ()
    ) -> dict[str, str]:
        """Site name -> why its freshly started app did not come up, for each that did
        not within the start timeout; each app asked through its own slot's socket
        (slot b for `on_b`, `hostd.core.slots`), as served over HTTPS for `https`.
        Raises SupervisorError."""
        ...


class Releases(Protocol):
    def run(self, site: Site) -> Released:
        """Run the site's `release:` command (it has one) as the site's user, with its
        env and venv, in its root. Raises nothing: a failure is `ok=False`."""
        ...


class Sockets(Protocol):
    def vacate(self, site: str, slot: str) -> None:
        """Remove the socket path of `site`'s `slot`, where a retired version (serving
        nothing) still listens: a connect there finds nothing until the version
        starting in that slot binds it, so its health gate asks only that one."""
        ...

    def point(self, site: str, slot: str, *, settle: bool = True) -> None:
        """Send `site`'s new connections to the gunicorn of `slot`, atomically; once
        it returns, the old slot has taken what was queued on it and may drain
        (without `settle`: at once, for an old slot that keeps running).
        Raises HostdError."""
        ...


class Host(Protocol):
    def user_exists(self, name: str) -> bool:
        """True if this machine has the user `name`. Raises nothing."""
        ...

    def prepare(self, sites: Mapping[str, Site]) -> None:
        """The folders `sites` need before nginx or Supervisor read their files (logs;
        system mode: a run folder the site's user owns). Raises HostdError."""
        ...

    def takes_control_socket(self, gunicorn: Path) -> bool:
        """True if the gunicorn at `gunicorn` has --control-socket. Raises nothing."""
        ...


class CertStore(Protocol):
    def current(self, site: str) -> Certificate | None:
        """The certificate on disk for `site` if it parses. Raises nothing."""
        ...

    def attempts(self, site: str) -> Attempts:
        """What was tried for `site`'s certificate so far. Raises nothing."""
        ...

    def record_attempts(self, site: str, attempts: Attempts) -> None:
        """Keep `attempts` across restarts. Raises HostdError."""
        ...


class Journal(Protocol):
    def record(self, report: ApplyReport, keep: Collection[str]) -> None:
        """Remember `report` per site for `hostd status`; sites not in `keep` are
        forgotten. Raises HostdError (a full disk)."""
        ...


class Events(Protocol):
    def emit(
        self, event: str, site: str | None = None, *, level: int = logging.INFO, **fields: Any
    ) -> None:
        """Record one event for the instance and, with `site`, for that site. Raises
        nothing: a full disk never stops hostd."""
        ...


class Lock(Protocol):
    def held(self, timeout: float = 300.0) -> AbstractContextManager[None]:
        """Hold this lock for the `with` block, waiting up to `timeout` seconds.
        Raises LockError after that."""
        ...


class Certbot(Protocol):
    def obtain(self, site: str, domains: Sequence[str]) -> str:
        """Get a certificate for `site` covering `domains`; its output. Raises
        CommandError (with certbot's output) if it fails."""
        ...


class Preflight(Protocol):
    def problem(self, domains: Sequence[str]) -> str | None:
        """Why the CA could not reach this nginx for one of `domains`, or None. Raises
        nothing."""
        ...


@dataclass(frozen=True)
class Ports:
    """Everything the reconciler touches."""

    sites: SiteFiles
    generations: Generations
    checker: Checker
    nginx: Nginx
    supervisor: Supervisor
    apps: Apps
    sockets: Sockets
    releases: Releases
    host: Host
    certs: CertStore
    journal: Journal
    events: Events
    lock: Lock
