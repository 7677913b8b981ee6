"""Where every file of an instance lives: one object, so tests can move it all.

Embedded mode keeps everything under one home folder; system mode follows
Debian's layout (/etc/hostd, /var/lib/hostd, /var/log/<site>, /run/hostd).
Nothing here touches the disk.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from pathlib import Path

from hostd.core.run_folder import EMBEDDED_RUN, SYSTEM_RUN, UP_LOCK
from hostd.errors import SettingsError

# AF_UNIX paths are limited to 107 bytes plus the terminating NUL.
MAX_SOCKET_PATH = 107
# Characters allowed in any path that reaches nginx or Supervisor: no quoting needed.
SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/@+,=~-]*\Z")


class Mode(enum.Enum):
    EMBEDDED = "embedded"
    SYSTEM = "system"


@dataclass(frozen=True)
class Machine:
    """The machine's own nginx and supervisord that system mode plugs into (Debian paths)."""

    nginx_conf: Path
    nginx_hook: Path  # the one include hostd adds to nginx (conf.d is inside http{})
    nginx_default_site: Path  # Debian's default server, which would shadow hostd's catch-all
    nginx_pid: Path
    nginx_error_log: Path
    supervisor_conf: Path
    supervisor_socket: Path
    supervisord_pid: Path
    logrotate_conf: Path  # where system mode installs its log rotation
    # systemd-tmpfiles makes the sites' run folders at boot, before Supervisor starts
    tmpfiles_conf: Path = Path("/etc/tmpfiles.d/hostd.conf")
    systemd_unit: Path = Path("/etc/systemd/system/hostd.service")


def debian_machine(root: Path = Path("/")) -> Machine:
    return Machine(
        nginx_conf=root / "etc/nginx/nginx.conf",
        nginx_hook=root / "etc/nginx/conf.d/hostd.conf",
        nginx_default_site=root / "etc/nginx/sites-enabled/default",
        nginx_pid=root / "run/nginx.pid",
        nginx_error_log=root / "var/log/nginx/error.log",
        supervisor_conf=root / "etc/supervisor/supervisord.conf",
        supervisor_socket=root / "run/supervisor.sock",
        supervisord_pid=root / "run/supervisord.pid",
        logrotate_conf=root / "etc/logrotate.d/hostd",
        tmpfiles_conf=root / "etc/tmpfiles.d/hostd.conf",
        systemd_unit=root / "etc/systemd/system/hostd.service",
    )


@dataclass(frozen=True)
class Layout:
    mode: Mode
    home: Path
    config_file: Path
    sites_dir: Path
    state_dir: Path
    log_root: Path
    run_dir: Path
    acme_webroot: Path
    nginx_prefix: Path
    certbot_dir: Path  # certbot's --config-dir: live/<site>/ holds each site's certificate
    certbot_work: Path
    certbot_logs: Path
    machine: Machine | None = None  # system mode only

    @property
    def generations_dir(self) -> Path:
        return self.state_dir / "generations"

    @property
    def live_link(self) -> Path:
        return self.state_dir / "live"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def gunicorn_conf(self) -> Path:
        """An empty gunicorn config: hostd's flags rule, an app's gunicorn.conf.py does not."""
        return self.state_dir / "gunicorn.conf.py"

    @property
    def cert_state_dir(self) -> Path:
        """Per-site certificate attempts: survive restarts so backoff does too."""
        return self.state_dir / "certs"

    @property
    def certbot_lock(self) -> Path:
        return self.run_dir / "certbot.lock"

    def certificate_dir(self, site: str) -> Path:
        return self.certbot_dir / "live" / site

    @property
    def apply_lock(self) -> Path:
        return self.run_dir / "apply.lock"

    @property
    def up_lock(self) -> Path:
        return self.run_dir / UP_LOCK

    @property
    def runtime_file(self) -> Path:
        """Written by `hostd up` once it serves: pid, ports and sites folder."""
        return self.run_dir / "up.json"

    @property
    def handover_file(self) -> Path:
        """Written by a daemon restarting in place: the daemons its next self keeps."""
        return self.run_dir / "handover.json"

    @property
    def nginx_pid(self) -> Path:
        return self.machine.nginx_pid if self.machine else self.run_dir / "nginx.pid"

    @property
    def supervisord_pid(self) -> Path:
        return self.machine.supervisord_pid if self.machine else self.run_dir / "supervisord.pid"

    @property
    def nginx_conf(self) -> Path:
        """The main nginx config as nginx sees it: through the live link."""
        return self.live_link / "nginx" / "nginx.conf"

    @property
    def supervisord_conf(self) -> Path:
        return self.live_link / "supervisor" / "supervisord.conf"

    @property
    def supervisor_socket(self) -> Path:
        if self.machine:
            return self.machine.supervisor_socket
        return self.run_dir / "supervisor.sock"

    @property
    def hostd_log(self) -> Path:
        return self.log_root / "hostd.log"

    @property
    def maintenance_file(self) -> Path:
        """Paused sites and their messages (`hostd pause`), kept across restarts."""
        return self.state_dir / "maintenance.json"

    def site_auth_file(self, site: str) -> Path:
        """The bcrypt users of a site's basic authentication (`hostd auth`), read by nginx."""
        return self.state_dir / "auth" / f"{site}.htpasswd"

    def site_log_dir(self, site: str) -> Path:
        return self.log_root / site

    def site_run_dir(self, site: str) -> Path:
        """System mode: a folder the site's user owns, where its gunicorn binds."""
        return self.run_dir / site if self.mode is Mode.SYSTEM else self.run_dir

    def site_socket(self, site: str) -> Path:
        if self.mode is Mode.SYSTEM:
            return self.site_run_dir(site) / "app.sock"
        return self.run_dir / f"{site}.sock"

    def slot_socket(self, site: str, slot: str) -> Path:
        """Where the gunicorn of `site`'s `slot` binds; `site_socket` links to the live one."""
        if self.mode is Mode.SYSTEM:
            return self.site_run_dir(site) / f"app.{slot}.sock"
        return self.run_dir / f"{site}.{slot}.sock"

    def slot_control_socket(self, site: str, slot: str) -> Path:
        base = self.site_control_socket(site)
        return base if slot == "a" else base.with_name(f"{base.stem}.{slot}{base.suffix}")

    def site_control_socket(self, site: str) -> Path:
        if self.mode is Mode.SYSTEM:
            return self.site_run_dir(site) / "gunicorn.ctl"
        return self.run_dir / f"{site}.ctl"


def embedded_layout(home: Path, sites_dir: Path | None = None) -> Layout:
    """The layout of `hostd up`: everything below one home folder."""
    home = home.absolute()
    return Layout(
        mode=Mode.EMBEDDED,
        home=home,
        config_file=home / "hostd.toml",
        sites_dir=(sites_dir or Path("sites.d")).absolute(),
        state_dir=home / "state",
        log_root=home / "log",
        run_dir=home / EMBEDDED_RUN,
        acme_webroot=home / "acme",
        nginx_prefix=home / "nginx",
        certbot_dir=home / "letsencrypt" / "config",
        certbot_work=home / "letsencrypt" / "work",
        certbot_logs=home / "letsencrypt" / "logs",
    )


def system_layout(root: Path = Path("/")) -> Layout:
    """The production layout, optionally below another root (for tests)."""
    return Layout(
        mode=Mode.SYSTEM,
        home=root / "var/lib/hostd",
        config_file=root / "etc/hostd/hostd.toml",
        sites_dir=root / "etc/hostd/sites.d",
        state_dir=root / "var/lib/hostd",
        log_root=root / "var/log",
        run_dir=root / SYSTEM_RUN,
        acme_webroot=root / "var/lib/hostd/acme",
        nginx_prefix=root / "var/lib/hostd/nginx",
        certbot_dir=root / "etc/letsencrypt",
        certbot_work=root / "var/lib/letsencrypt",
        certbot_logs=root / "var/log/letsencrypt",
        machine=debian_machine(root),
    )


def layout_for(home: Path | None, sites_dir: Path | None = None, root: Path = Path("/")) -> Layout:
    """The embedded layout of `home`, or without one the system layout below `root`."""
    if home is None:
        layout = system_layout(root.absolute())
        return replace(layout, sites_dir=sites_dir.absolute()) if sites_dir else layout
    layout = embedded_layout(home, sites_dir)
    for path in (layout.home, layout.sites_dir):
        if not SAFE_PATH.match(str(path)):
            raise SettingsError(f"{path}: hostd needs paths of letters, digits and ._/@+,=~- only")
    socket = layout.slot_socket("x" * 63, "b")
    if len(str(socket)) > MAX_SOCKET_PATH:
        raise SettingsError(
            f"home {layout.home} is too long for unix socket paths "
            f"({len(str(socket))} > {MAX_SOCKET_PATH} bytes); use a shorter --home"
        )
    return layout
