"""Log rotation by logrotate: the generated config and the command that runs it.

logrotate alone rotates: Supervisor's own rotation is off (stdout_logfile_maxbytes=0)
and nothing is copied and truncated. logrotate renames each file, creates an empty
one, then asks nginx (USR1) and supervisord (USR2) to reopen theirs. Until they
have, they write on into the renamed file, so the newest rotated copy stays
uncompressed (delaycompress) and no line is lost. hostd.log needs no signal: hostd
opens it for every line.

Embedded mode runs it hourly from `hostd up` (it rotates what is due) and on
`hostd logs --rotate` (`hostd.edges.logrotate`); system mode installs
`render_logrotate(layout, sites)` as /etc/logrotate.d/hostd, which Debian's daily
logrotate runs. This module is pure: the config and the command.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from hostd.core.layout import SAFE_PATH, Layout, Mode
from hostd.core.logline import SOURCES
from hostd.core.render import template
from hostd.errors import SettingsError

KEEP = 14  # rotated copies kept per log: two weeks of daily rotation
MAX_SIZE = "100M"  # rotate earlier than daily once a file is this big (at the next run)


def rotated_files(
    layout: Layout, sites: Iterable[str], processes: Mapping[str, Iterable[str]] | None = None
) -> list[Path]:
    """Every log file the config rotates: each site's four, the logs of its worker
    processes (`processes`: site -> process names), and hostd's own."""
    files = [layout.site_log_dir(site) / f"{source}.log" for site in sorted(set(sites))
             for source in SOURCES]  # fmt: skip
    for site, names in sorted((processes or {}).items()):
        files += [layout.site_log_dir(site) / f"{name}.log" for name in sorted(set(names))]
    files.append(layout.hostd_log)
    if layout.mode is Mode.EMBEDDED:
        files.append(layout.log_root / "nginx-error.log")  # the private nginx's own
    return files


def reopen_pid_files(layout: Layout) -> tuple[Path, Path]:
    """The pid files of the nginx master and the supervisord that write the logs
    (the private ones when embedded, the machine's in system mode)."""
    return layout.nginx_pid, layout.supervisord_pid


def render_logrotate(
    layout: Layout, sites: Iterable[str], processes: Mapping[str, Iterable[str]] | None = None
) -> str:
    """The logrotate config for the logs of `sites` (and their `processes`) under `layout`."""
    files = rotated_files(layout, sites, processes)
    nginx_pid, supervisord_pid = reopen_pid_files(layout)
    for path in [*files, nginx_pid, supervisord_pid]:
        if not SAFE_PATH.match(str(path)):
            raise SettingsError(f"{path}: cannot be written into a logrotate config safely")
    # system mode: Debian's habit (root:adm, 0640); nginx chowns its own files to its user
    create = "0640" if layout.mode is Mode.EMBEDDED else "0640 root adm"
    return template("logrotate.j2").render(
        files=files, keep=KEEP, max_size=MAX_SIZE, create=create,
        nginx_pid=nginx_pid, supervisord_pid=supervisord_pid,
    )  # fmt: skip


def config_path(layout: Layout) -> Path:
    return layout.state_dir / "logrotate.conf"


def status_path(layout: Layout) -> Path:
    return layout.state_dir / "logrotate.status"


def logrotate_argv(logrotate: str, layout: Layout, *, force: bool) -> list[str]:
    """The logrotate command for an embedded instance, with its own state file."""
    flags = ["-f"] if force else []
    return [logrotate, "-s", str(status_path(layout)), *flags, str(config_path(layout))]
