"""The one error tree of hostd.

    HostdError               exit 3: hostd could not act
    ├── UsageError           exit 2: the command was asked for something it cannot be
    ├── SiteError            a site file is rejected (file, line, key path)
    ├── SettingsError        hostd.toml or a command-line setting is wrong
    ├── CommandError         an external command failed (argv, exit code, output)
    │   └── NginxConfigError nginx -t refused a candidate configuration
    ├── SupervisorError      supervisord answered with a fault or is unreachable
    ├── NginxError           nginx is down or did not take a reload
    ├── AppStartError        a site's app did not come up
    ├── InstanceError        no instance, or a second one, on a home folder
    ├── LockError            another apply holds the lock too long
    └── SitesFolderError     the sites folder is missing, unreadable or suddenly empty

Edges translate foreign exceptions into these, `from` the original. Each class
carries the exit code the CLI ends with when one reaches it (`exit_code`); the CLI
is the only place that prints them. Exit 1 (a site rejected or failed, a roll-back)
is decided by the apply report, not by an error.
"""

from __future__ import annotations

from functools import cache

TYPE_CHECKING = False  # light: the command that hands a reload to the daemon imports this
if TYPE_CHECKING:
    import re
    from collections.abc import Sequence
    from pathlib import Path

EXIT_OK = 0
EXIT_PROBLEM = 1  # a site was rejected or failed, an apply rolled back, a file is invalid
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_WARNING = 4  # hostd doctor: some checks warn, none is a problem
EXIT_INTERRUPTED = 130


class HostdError(Exception):
    """Root of every error hostd raises on purpose."""

    exit_code = EXIT_ERROR


class UsageError(HostdError):
    """A command asked for something that does not exist or does not go together:
    an unknown site, a flag that needs another."""

    exit_code = EXIT_USAGE


class SiteError(HostdError):
    """A site file that cannot be accepted, located as precisely as possible."""

    def __init__(
        self,
        message: str,
        *,
        file: Path | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        message, key = _capped(message), _capped_key(key)
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.key = key

    def located(self, file: Path) -> SiteError:
        """This error with its file set, keeping line and key."""
        return SiteError(self.message, file=file, line=self.line, key=self.key)

    # what the maintenance record says of the refused site, once the loader has asked
    # (`pause_known`): its last good version is paused with `paused`, or resumed (None)
    pause_known = False
    paused: str | None = None

    def with_pause(self, paused: str | None) -> SiteError:
        """This error, carrying the pause its held last good version gets."""
        error = SiteError(self.message, file=self.file, line=self.line, key=self.key)
        error.pause_known, error.paused = True, paused
        return error

    def __str__(self) -> str:
        where = str(self.file) if self.file else "<site>"
        if self.line is not None:
            where += f":{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


MAX_QUOTED = 60  # characters of a site file's value an error may quote
MAX_KEY = 80  # characters of a key path an error may show
_LONG = MAX_QUOTED + 1


@cache
def _quoted() -> re.Pattern[str]:
    """A quoted value longer than MAX_QUOTED characters (compiled on first use: re is
    not imported by the light command)."""
    import re

    return re.compile(
        rf"(?:^|(?<=[\s(]))(?:'[^'\n]{{{_LONG},}}'|\"[^\"\n]{{{_LONG},}}\")(?=$|[\s:,;)])"
    )


def _capped(message: str) -> str:
    """`message` with every quoted value cut to MAX_QUOTED characters: an error never
    carries more than a glimpse of what a file holds."""
    return _quoted().sub(lambda m: m.group()[: MAX_QUOTED + 1] + "…" + m.group()[0], message)


def _capped_key(key: str | None) -> str | None:
    if key is None or len(key) <= MAX_KEY:
        return key
    return key[:MAX_KEY] + "…"


class SettingsError(HostdError):
    """hostd.toml or a command-line setting is wrong."""


class CommandError(HostdError):
    """An external command exited non-zero or could not be run."""

    def __init__(self, argv: Sequence[str], returncode: int | None, output: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        code = "could not run" if returncode is None else f"exit {returncode}"
        super().__init__(f"{argv[0]} ({code}): {output.strip()}")


class NginxConfigError(CommandError):
    """nginx -t refused a configuration."""


class SupervisorError(HostdError):
    """supervisord refused a call or cannot be reached."""

    def __init__(self, message: str, *, fault: int | None = None) -> None:
        super().__init__(message)
        self.fault = fault


class NginxError(HostdError):
    """nginx is not running, or it did not take a new configuration."""


class AppStartError(HostdError):
    """A site's app did not come up within its time."""


class InstanceError(HostdError):
    """The home folder has no running instance, or already has one."""


class RollbackError(HostdError):
    """A site has no previous version `hostd rollback` can return to."""

    exit_code = EXIT_PROBLEM


class LockError(HostdError):
    """Another apply held the lock for too long."""


class SitesFolderError(HostdError):
    """The sites folder cannot be trusted to say which sites exist (missing, unreadable,
    or empty while sites are live): an apply keeps the last good sites."""


def error_line(exc: HostdError, command: str) -> str:
    """How `hostd COMMAND` says the error that ended it."""
    if isinstance(exc, UsageError):
        return f"hostd {command}: error: {exc}"
    return f"hostd: error: {exc}"
