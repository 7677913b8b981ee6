"""This machine as hostd sees it: its users, the folders a site needs, the binaries
hostd runs, the gunicorns the sites use, and where hostd itself is installed.

Folders: nginx opens a site's log files even to validate, so they exist first.
System mode: a run folder the site's user owns (its gunicorn binds there), and log
folders as Debian keeps /var/log/nginx (`hostd.edges.log_folders`).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import hostd
from hostd.core.attachment import directives_set
from hostd.core.facts import HostFacts
from hostd.core.layout import Layout, Mode
from hostd.core.render import program_user, templates_dir
from hostd.core.settings import Settings
from hostd.core.site import Site
from hostd.edges.fs import write_atomic
from hostd.edges.log_folders import adm_group
from hostd.edges.log_folders import prepare as prepare_log_folder
from hostd.errors import HostdError, InstanceError

GUNICORN_CONFIG = "gunicorn.conf.py"  # in the templates folder
CONTROL_SOCKET_SINCE = (25, 1)  # the first gunicorn with --control-socket
_VERSION = re.compile(r"(\d+)\.(\d+)")
# where pip (site-packages) and Debian (dist-packages) put gunicorn's metadata
METADATA = (
    "lib/python3*/*-packages/gunicorn-*.dist-info/METADATA",
    "lib/python3*/*-packages/gunicorn-*.egg-info/PKG-INFO",
)


def tool(name: str) -> str:
    """An executable from hostd's own environment, else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise InstanceError(f"{name} is not installed (looked beside {sys.executable} and on PATH)")
    return found


def package_root() -> Path:
    """The folder holding the hostd package: the dashboard's `app.root`."""
    return Path(hostd.__file__).resolve().parent.parent


def own_venv() -> Path | None:
    """hostd's own virtualenv if it runs from one that has gunicorn, so the dashboard
    runs under the same interpreter and packages as hostd."""
    prefix = Path(sys.prefix)
    if prefix != Path(sys.base_prefix) and os.access(prefix / "bin" / "gunicorn", os.X_OK):
        return prefix
    return None


def installed_version(gunicorn: Path) -> tuple[int, int] | None:
    """(major, minor) of the gunicorn at `gunicorn` from the package metadata beside
    it (`lib/python3*/{site,dist}-packages/gunicorn-*`), without running it; None if
    there is not exactly one."""
    prefix = gunicorn.parent.parent
    found = [meta for pattern in METADATA for meta in prefix.glob(pattern)]
    if len(found) != 1:
        return None
    try:
        lines = found[0].read_text(errors="replace").splitlines()
    except OSError:
        return None
    version = next((line[8:] for line in lines if line.startswith("Version:")), "")
    match = _VERSION.search(version)
    return (int(match.group(1)), int(match.group(2))) if match else None


# gunicorn's own source, where `version_info = (major, minor, patch)` is written
SOURCE = "lib/python3*/*-packages/gunicorn/__init__.py"
_VERSION_INFO = re.compile(r"^version_info\s*=\s*\(\s*(\d+)\s*,\s*(\d+)", re.MULTILINE)


def source_version(gunicorn: Path) -> tuple[int, int] | None:
    """(major, minor) of the gunicorn at `gunicorn` as its package's `__init__.py`
    writes it, read as text (nothing of a site's venv is run); None if there is not
    exactly one such file or it says no version."""
    found = list(gunicorn.parent.parent.glob(SOURCE))
    if len(found) != 1:
        return None
    try:
        with found[0].open("rb") as handle:
            text = handle.read(64 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return None
    match = _VERSION_INFO.search(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


class Gunicorns:
    """Which gunicorns take --control-socket, asked once per file version: from their
    package metadata, else from their package's source read as text. A site's venv
    is never run to find out (it would run the site's code as hostd's user)."""

    def __init__(self) -> None:
        self._versions: dict[tuple[Path, float], tuple[int, int]] = {}

    def version(self, path: Path) -> tuple[int, int]:
        try:
            key = (path, path.stat().st_mtime)
        except OSError:
            return (0, 0)
        if key not in self._versions:
            found = installed_version(path) or source_version(path)
            self._versions[key] = found or (0, 0)
        return self._versions[key]

    def takes_control_socket(self, path: Path) -> bool:
        return self.version(path) >= CONTROL_SOCKET_SINCE


def host_facts(layout: Layout, settings: Settings, gunicorns: Gunicorns) -> HostFacts:
    """The facts rendering needs about this machine under `settings`."""
    gunicorn = Path(tool("gunicorn"))
    control = {gunicorn} if gunicorns.takes_control_socket(gunicorn) else set()
    templates = os.environ.get("HOSTD_TEMPLATES")
    return HostFacts(
        layout=layout,
        listen=settings.http.listen,
        http_port=settings.http.port,
        https_port=settings.http.https_port,
        cores=os.cpu_count() or 1,
        gunicorn=gunicorn,
        python=Path(sys.executable),
        control_socket_gunicorns=frozenset(control),
        nginx_user=_nginx_user(layout),
        templates=Path(templates) if templates else None,
        max_workers=settings.workers.max_total,
        ipv6=_listens_ipv6(layout, settings),
        machine_directives=_machine_directives(layout),
    )


def _listens_ipv6(layout: Layout, settings: Settings) -> bool:
    """System mode on every IPv4 address of a machine with IPv6: on [::] too, as
    Debian's default site did before hostd's catch-all replaced it."""
    if layout.mode is not Mode.SYSTEM or settings.http.listen not in ("0.0.0.0", "*"):
        return False
    try:
        return bool(Path("/proc/net/if_inet6").read_text().strip())
    except OSError:
        return False


def _machine_directives(layout: Layout) -> frozenset[str]:
    """The hash sizes the machine's nginx.conf sets itself (hostd's include then does not)."""
    if layout.machine is None:
        return frozenset()
    try:
        return directives_set(layout.machine.nginx_conf.read_text())
    except OSError:
        return frozenset()


def _nginx_user(layout: Layout) -> str | None:
    """Embedded nginx started by root runs its workers as root too, like the apps."""
    if layout.mode is Mode.EMBEDDED and os.geteuid() == 0:
        return "root"
    return None


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def gunicorn_config() -> str:
    """hostd's gunicorn.conf.py: the wrapper that gives each app the client nginx saw."""
    return (templates_dir() / GUNICORN_CONFIG).read_text()


def prepare_site_folders(sites: Mapping[str, Site], facts: HostFacts) -> None:
    """The folders `sites` need, with their owners; OSError if they cannot be made.

    Sockets: embedded, the run folder is the invoking user's alone (nginx runs as
    that user too); system, each site's run folder belongs to its user and to
    nginx's group, mode 0750. Either way only nginx and root reach an app."""
    layout = facts.layout
    system = layout.mode is Mode.SYSTEM
    config = gunicorn_config()
    current = layout.gunicorn_conf.read_text() if layout.gunicorn_conf.exists() else None
    if current != config:
        write_atomic(layout.gunicorn_conf, config)
    adm = adm_group() if system else None
    if not system:
        layout.run_dir.mkdir(parents=True, exist_ok=True)
        layout.run_dir.chmod(0o700)
    nginx_group = _group_id(facts.nginx_group) if system else None
    for name, site in sites.items():
        logs = layout.site_log_dir(name)
        if system:
            prepare_log_folder(logs, adm)
        else:
            logs.mkdir(parents=True, exist_ok=True, mode=0o750)
        if system:
            run = layout.site_run_dir(name)
            run.mkdir(parents=True, exist_ok=True, mode=0o750)
            user = pwd.getpwnam(program_user(site, facts) or "root")
            group = user.pw_gid if nginx_group is None else nginx_group
            os.chown(run, user.pw_uid, group)
            run.chmod(0o750)


def _group_id(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


class LocalHost:
    """The real `hostd.apply.ports.Host`."""

    def __init__(self, facts: HostFacts, gunicorns: Gunicorns) -> None:
        self.facts = facts
        self.gunicorns = gunicorns

    def user_exists(self, name: str) -> bool:
        return user_exists(name)

    def prepare(self, sites: Mapping[str, Site]) -> None:
        try:
            prepare_site_folders(sites, self.facts)
        except (OSError, KeyError) as exc:  # KeyError: a user gone since it was checked
            raise HostdError(f"cannot prepare the sites' folders: {exc}") from exc

    def takes_control_socket(self, gunicorn: Path) -> bool:
        return self.gunicorns.takes_control_socket(gunicorn)
