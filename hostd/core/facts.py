"""The facts about this host that rendering needs besides the sites themselves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hostd.core.certificate import Certificate
from hostd.core.layout import Layout
from hostd.core.settings import HttpSettings


@dataclass(frozen=True)
class HostFacts:
    layout: Layout
    listen: str = "127.0.0.1"
    http_port: int = 8080
    https_port: int = 8443
    cores: int = 1
    gunicorn: Path = Path("/usr/bin/gunicorn")  # used by sites without a venv
    python: Path = Path("/usr/bin/python3")  # hostd's own: starts programs with an env_file
    # gunicorn executables new enough (>= 25.1) to take --control-socket
    control_socket_gunicorns: frozenset[Path] = field(default_factory=frozenset)
    nginx_user: str | None = None  # embedded as root: run workers as the invoking user
    nginx_workers: int = 2
    default_user: str = "www-data"  # system mode: who runs a site without `user:`
    nginx_group: str = "www-data"  # system mode: the group of nginx's workers (Debian's)
    mime_types: Path = Path("/etc/nginx/mime.types")
    templates: Path | None = None  # another templates folder (HOSTD_TEMPLATES)
    # where nginx and supervisord read this generation from; a scratch copy for checks
    config_root: Path | None = None
    # site -> the certificate its HTTPS block serves (only servable ones)
    certificates: Mapping[str, Certificate] = field(default_factory=dict)
    # system mode: also listen on IPv6 ([::]:port), as Debian's default site did
    ipv6: bool = False
    # system mode: http-level directives the machine's nginx.conf sets itself, which
    # hostd's include must then leave alone (nginx refuses a duplicate)
    machine_directives: frozenset[str] = field(default_factory=frozenset)

    # the sites whose web program runs in slot b (`hostd.core.slots`)
    slots_b: frozenset[str] = field(default_factory=frozenset)

    max_workers: int = 0  # box-wide cap on all sites' gunicorn workers; 0: none

    @property
    def auto_workers(self) -> int:
        return 2 * self.cores + 1

    @property
    def nginx_error_log(self) -> Path:
        """nginx's own error log: the machine's in system mode (even for checks)."""
        machine = self.layout.machine
        return machine.nginx_error_log if machine else self.layout.log_root / "nginx-error.log"

    @property
    def config_dir(self) -> Path:
        return self.config_root or self.layout.live_link

    @property
    def probe_host(self) -> str:
        """The address hostd itself uses to reach its nginx."""
        return HttpSettings(listen=self.listen).probe_host
