"""What `hostd doctor` judges: the box as gathered once (`Box`, read-only), the
findings (each ok, warning or problem, with the fix), and the exit code they make.
Pure: `hostd.queries.doctor` gathers the box; the checks are `hostd.core.doctor_checks`
(and `doctor_limits`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path

from hostd.core.crashloop import Retry
from hostd.core.facts import HostFacts
from hostd.core.layout import Layout
from hostd.core.settings import Settings
from hostd.core.site import Site
from hostd.errors import EXIT_OK, EXIT_PROBLEM, EXIT_WARNING


class Level(Enum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    summary: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "level": self.level.value,
            "summary": self.summary,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Daemon:
    """A daemon hostd relies on: its pid if it runs, and the soft limit of open files it
    has (read from /proc) or would get from hostd (None: cannot tell)."""

    name: str
    pid: int | None
    open_files: int | None


@dataclass(frozen=True)
class Gunicorn:
    pid: int
    memory: int  # bytes: proportional set size where the kernel tells it, else resident


@dataclass(frozen=True)
class Tool:
    """A program hostd runs: where it is and the version it says (None: not found)."""

    name: str
    path: str | None
    version: str | None = None
    error: str = ""  # why it could not say its version


@dataclass(frozen=True)
class Hooks:
    """System mode: the machine's configuration around hostd's two hooks, as text
    (None: the file is missing or unreadable)."""

    nginx_conf: Path
    nginx_conf_text: str | None
    hook: Path
    hook_text: str | None
    expected_hook: str
    others: Mapping[Path, str]  # the other files of conf.d, which share http{} with it
    served_include: str | None  # the http-level file hostd's hook includes (live generation)
    supervisor_conf: Path
    supervisor_text: str | None
    supervisor_glob: str


@dataclass(frozen=True)
class Port:
    """Who listens on one of the ports hostd serves: (pid, process name) pairs, and
    whether each belongs to the instance's nginx; None when the owner is unknown."""

    port: int
    holders: tuple[tuple[int | None, str], ...] = ()
    ours: tuple[bool, ...] = ()
    served: bool = True  # the live configuration listens on it


@dataclass(frozen=True)
class DomainCheck:
    """One domain of a TLS site: where DNS points it, whether that is this box, and
    what its port 80 answered through hostd's server block (None: it answered)."""

    site: str
    domain: str
    addresses: tuple[str, ...]
    local: tuple[str, ...]  # the addresses among them that are this machine's
    unreachable: str | None


@dataclass(frozen=True)
class Clock:
    """Whether the system clock is synchronised (None: cannot tell), and who says."""

    synchronised: bool | None
    source: str


@dataclass(frozen=True)
class Disk:
    path: Path
    free: int  # bytes
    total: int
    error: str = ""
    device: int | None = None  # st_dev: two folders on one file system are one line


@dataclass(frozen=True)
class Box:
    layout: Layout
    settings: Settings
    facts: HostFacts
    sites: Mapping[str, Site]  # the live ones
    nginx: Daemon
    supervisord: Daemon
    gunicorns: list[Gunicorn] = field(default_factory=list)
    memory_total: int = 0  # bytes
    memory_available: int = 0
    hard_open_files: int | None = None  # hostd's hard limit (None: unlimited)
    now: datetime | None = None  # the clock, read once by the gathering
    tools: Mapping[str, Tool] = field(default_factory=dict)  # nginx, supervisord, certbot
    hooks: Hooks | None = None  # system mode only
    ports: tuple[Port, ...] = ()
    sites_folder_problem: str | None = None
    app_roots: Mapping[str, str | None] = field(default_factory=dict)  # site -> refusal
    domains: tuple[DomainCheck, ...] = ()
    certbot_folders: Mapping[Path, str | None] = field(default_factory=dict)  # -> why not
    clock: Clock | None = None
    disks: tuple[Disk, ...] = ()
    certificates: Mapping[str, datetime] = field(default_factory=dict)  # site -> not after
    crash_loops: Mapping[str, Retry] = field(default_factory=dict)
    daemon: str | None = None  # hostd's own: "running (pid N)", "not running ...", ...


Check = Callable[[Box], list[Finding]]


def run_checks(box: Box, checks: list[Check]) -> list[Finding]:
    return [finding for check in checks for finding in check(box)]


def worst(findings: list[Finding]) -> Level:
    levels = {finding.level for finding in findings}
    for level in (Level.PROBLEM, Level.WARNING):
        if level in levels:
            return level
    return Level.OK


def exit_code(level: Level) -> int:
    """0 when every check is ok, 1 when one is a problem, 4 when some only warn."""
    return {Level.OK: EXIT_OK, Level.WARNING: EXIT_WARNING, Level.PROBLEM: EXIT_PROBLEM}[level]
