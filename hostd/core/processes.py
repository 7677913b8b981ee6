"""Worker processes of a site (`processes:`): extra Supervisor programs beside gunicorn.

    processes:
      worker: huey_consumer tasks.huey -w 2
      scheduler: python -m myapp.scheduler

Each runs in the site's root, with its venv, environment, env_file and user, and
is started, changed and stopped with the site. Its Supervisor program is
`SITE.NAME` (a site name has no dot, so the owner is always clear); its log is
`NAME.log` in the site's log folder (`hostd logs SITE --source NAME`). Pure.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from hostd.core import sitekeys
from hostd.core.yamlnode import Field

PROCESS_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}\Z")
RESERVED = frozenset({"web", "app", "access", "error", "hostd", "slot-b"})  # logs, slot b
MAX_PROCESSES = 8
_UNSAFE = re.compile(r"[\x00\r\n]")
_HERE = "%(here)s"


def program_name(site: str, process: str) -> str:
    return f"{site}.{process}"


def site_of_program(program: str) -> str:
    """The site a Supervisor program belongs to: itself, or the part before the dot."""
    return program.split(".", 1)[0]


def parse_processes(value: Field) -> tuple[tuple[str, str], ...]:
    sitekeys.read(value, "processes")
    items = value.items()
    if len(items) > MAX_PROCESSES:
        raise value.error(f"at most {MAX_PROCESSES} processes per site")
    out: list[tuple[str, str]] = []
    for name, item in items:
        if not PROCESS_NAME.match(name) or name in RESERVED:
            raise item.error(
                f"invalid process name {name!r}: 1 to 31 of a-z, 0-9 and '-', starting with a "
                f"letter, and none of {', '.join(sorted(RESERVED))}"
            )
        command = str(sitekeys.read(item, "processes.*")).strip()
        if _UNSAFE.search(command) or _HERE in command:
            raise item.error("a command is one line, without NUL or '%(here)s'")
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise item.error(f"cannot split the command like a shell would: {exc}") from None
        if not argv:
            raise item.error("the command is empty")
        out.append((name, command))
    return tuple(sorted(out))


def parse_release(value: Field) -> str:
    """The `release:` command: one line a shell could split, not empty."""
    command = str(sitekeys.read(value, "release")).strip()
    if _UNSAFE.search(command):
        raise value.error("a command is one line, without NUL")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise value.error(f"cannot split the command like a shell would: {exc}") from None
    if not argv:
        raise value.error("the command is empty")
    return command


def process_argv(command: str, venv: Path | None) -> list[str]:
    """`command` as Supervisor runs it: a bare program name is the venv's, if there is one."""
    argv = shlex.split(command)
    if venv is not None and "/" not in argv[0]:
        argv[0] = str(venv / "bin" / argv[0])
    return argv
