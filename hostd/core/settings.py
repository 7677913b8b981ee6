"""HostFacts settings: hostd.toml parsed and checked, with command-line overrides. Pure;
`hostd.edges.inputs.load_settings` reads the file."""

from __future__ import annotations

import ipaddress
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hostd.core.layout import Mode
from hostd.errors import SettingsError

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
SYSTEM_METRICS_PORT = 9181  # `hostd watch` serves /metrics on 127.0.0.1:9181 by default


@dataclass(frozen=True)
class HttpSettings:
    listen: str = "127.0.0.1"
    port: int = 8080
    https_port: int = 8443

    @property
    def probe_host(self) -> str:
        """The address hostd itself uses to reach its nginx."""
        return "127.0.0.1" if self.listen in ("0.0.0.0", "*") else self.listen


@dataclass(frozen=True)
class AcmeSettings:
    server: str = LETS_ENCRYPT
    email: str = ""
    ca_bundle: str = ""
    staging: bool = False
    preflight: bool = True  # fetch a token through each domain before asking the CA
    resolver: str = ""  # "host:port" of a DNS server for the preflight; "" = the system's


@dataclass(frozen=True)
class ApplySettings:
    start_timeout: float = 30.0  # seconds a new app gets to answer
    # seconds the previous version's slot keeps running after a switch, for an
    # instant `hostd rollback`; 0: it drains and stops at once
    warm_seconds: float = 300.0


@dataclass(frozen=True)
class CrashLoopSettings:
    max_starts: int = 5  # starts within `window` seconds that make a crash loop
    window: float = 60.0
    base_delay: float = 10.0  # first wait before starting it again; doubles each time
    max_delay: float = 600.0


@dataclass(frozen=True)
class DashboardSettings:
    """hostd's web dashboard, served as the site `hostd-dashboard` (see hostd.core.builtin)."""

    enabled: bool = False
    domain: str = ""  # "" = dashboard.localhost when embedded; system mode needs one
    tls: str = "off"  # off | auto
    workers: int = 2


@dataclass(frozen=True)
class MetricsSettings:
    """Where the daemon serves its figures: /metrics (Prometheus) and /figures.json."""

    enabled: bool = True
    listen: str = "127.0.0.1"  # loopback by default
    port: int = 0  # 0: any free port (embedded), recorded in run/metrics.json


@dataclass(frozen=True)
class WorkerSettings:
    """Box-wide: the gunicorn workers of every site together (see hostd.core.capacity)."""

    max_total: int = 0  # 0: no cap


@dataclass(frozen=True)
class NotifySettings:
    """Alerts: one message per event (hostd.core.alerts), to a webhook and/or by e-mail."""

    webhook: str = ""  # an http(s) URL that gets a JSON body
    email_to: str = ""  # "" = no e-mail; several addresses separated by commas
    email_from: str = ""  # "" = hostd@<this machine's name>
    smtp_host: str = "localhost"  # the local MTA by default
    smtp_port: int = 25
    repeat_after: float = 86400.0  # seconds before the same alert is sent again

    @property
    def enabled(self) -> bool:
        return bool(self.webhook or self.email_to)


@dataclass(frozen=True)
class Settings:
    http: HttpSettings = field(default_factory=HttpSettings)
    acme: AcmeSettings = field(default_factory=AcmeSettings)
    apply: ApplySettings = field(default_factory=ApplySettings)
    crashloop: CrashLoopSettings = field(default_factory=CrashLoopSettings)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    workers: WorkerSettings = field(default_factory=WorkerSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)


def default_settings(mode: Mode) -> Settings:
    if mode is Mode.SYSTEM:
        return Settings(
            http=HttpSettings(listen="0.0.0.0", port=80, https_port=443),
            metrics=MetricsSettings(port=SYSTEM_METRICS_PORT),
        )
    return Settings()


def parse_settings(text: str, path: Path, mode: Mode) -> Settings:
    """The settings `text` (the content of `path`) holds, on top of the mode's defaults."""
    defaults = default_settings(mode)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}") from exc
    known = {
        "http": defaults.http,
        "acme": defaults.acme,
        "apply": defaults.apply,
        "crashloop": defaults.crashloop,
        "dashboard": defaults.dashboard,
        "metrics": defaults.metrics,
        "workers": defaults.workers,
        "notify": defaults.notify,
    }
    tables: dict[str, Any] = {}
    for name, table in data.items():
        if name not in known or not isinstance(table, dict):
            raise SettingsError(f"{path}: unknown table [{name}] (known: {', '.join(known)})")
        tables[name] = _table(path, name, known[name], table)
    settings = replace(defaults, **tables)
    return with_overrides(settings)


def _table(path: Path, name: str, default: Any, table: dict[str, Any]) -> Any:
    fields = default.__dataclass_fields__
    for key, value in table.items():
        if key not in fields:
            raise SettingsError(f"{path}: unknown key {name}.{key}")
        expected = type(getattr(default, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise SettingsError(f"{path}: {name}.{key} must be a {expected.__name__}")
        table[key] = value
    return replace(default, **table)


def with_overrides(
    settings: Settings,
    *,
    listen: str | None = None,
    http_port: int | None = None,
    https_port: int | None = None,
) -> Settings:
    """`settings` with command-line values on top, checked."""
    http = replace(
        settings.http,
        listen=listen if listen is not None else settings.http.listen,
        port=http_port if http_port is not None else settings.http.port,
        https_port=https_port if https_port is not None else settings.http.https_port,
    )
    try:
        ipaddress.IPv4Address(http.listen)
    except ValueError:
        raise SettingsError(f"http.listen must be an IPv4 address, not {http.listen!r}") from None
    for name, port in (("http.port", http.port), ("http.https_port", http.https_port)):
        if not 1 <= port <= 65535:
            raise SettingsError(f"{name} must be a port number from 1 to 65535, not {port}")
    if http.port == http.https_port:
        raise SettingsError("http.port and http.https_port must differ")
    metrics = settings.metrics
    try:
        ipaddress.IPv4Address(metrics.listen)
    except ValueError:
        raise SettingsError(
            f"metrics.listen must be an IPv4 address, not {metrics.listen!r}"
        ) from None
    if not 0 <= metrics.port <= 65535:
        raise SettingsError(f"metrics.port must be 0 (any free port) to 65535, not {metrics.port}")
    if not 0 < settings.apply.start_timeout < math.inf:
        raise SettingsError("apply.start_timeout must be a positive number of seconds")
    if not 0 <= settings.apply.warm_seconds < math.inf:
        raise SettingsError("apply.warm_seconds must be 0 (no warm slot) or a number of seconds")
    if settings.workers.max_total < 0:
        raise SettingsError("workers.max_total must be 0 (no cap) or a positive number")
    return replace(settings, http=http)
