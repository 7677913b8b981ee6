"""Putting an instance together: layout, settings, edges and the orchestrator.

The CLI and the runtime both build their `Reconciler` here, so a `hostd reload`
in another process sees exactly what `hostd up` sees.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hostd.certbot import Certbot
from hostd.certs import CertManager
from hostd.errors import InstanceError, SettingsError
from hostd.events import EventLog
from hostd.instance import Instance
from hostd.layout import MAX_SOCKET_PATH, Layout, Mode, embedded_layout, system_layout
from hostd.lock import instance_running
from hostd.model import SAFE_PATH
from hostd.nginx import NginxProcess
from hostd.reconcile import Edges, Reconciler
from hostd.runner import Runner, SubprocessRunner
from hostd.settings import Settings, load_settings, with_overrides
from hostd.store import GenerationStore, write_atomic
from hostd.supervisor import XmlRpcSupervisor


def tool(name: str) -> str:
    """An executable from hostd's own environment, else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise InstanceError(f"{name} is not installed (looked beside {sys.executable} and on PATH)")
    return found


_versions: dict[tuple[Path, float], tuple[int, int]] = {}


def gunicorn_version(path: Path, runner: Runner) -> tuple[int, int]:
    """(major, minor) of the gunicorn at `path`, asked once per file version."""
    try:
        key = (path, path.stat().st_mtime)
    except OSError:
        return (0, 0)
    if key not in _versions:
        done = runner.run([str(path), "--version"], timeout=30, check=False)
        match = re.search(r"(\d+)\.(\d+)", done.output)
        _versions[key] = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    return _versions[key]


def takes_control_socket(path: Path, runner: Runner) -> bool:
    """True if the gunicorn at `path` is 25.1 or newer (has --control-socket)."""
    return gunicorn_version(path, runner) >= (25, 1)


@dataclass(frozen=True)
class Runtime:
    """What `hostd up` recorded about itself: how others reach it."""

    pid: int
    sites_dir: Path
    listen: str
    http_port: int
    https_port: int

    def to_json(self) -> str:
        data = {**self.__dict__, "sites_dir": str(self.sites_dir)}
        return json.dumps(data, indent=2) + "\n"


def read_runtime(layout: Layout) -> Runtime | None:
    try:
        data: dict[str, Any] = json.loads(layout.runtime_file.read_text())
        return Runtime(
            pid=int(data["pid"]),
            sites_dir=Path(data["sites_dir"]),
            listen=str(data["listen"]),
            http_port=int(data["http_port"]),
            https_port=int(data["https_port"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_runtime(layout: Layout, runtime: Runtime) -> None:
    write_atomic(layout.runtime_file, runtime.to_json(), 0o644)


def layout_for(home: Path | None, sites_dir: Path | None = None, root: Path = Path("/")) -> Layout:
    """The embedded layout of `home`, or without one the system layout below `root`."""
    if home is None:
        layout = system_layout(root.absolute())
        return replace(layout, sites_dir=sites_dir.absolute()) if sites_dir else layout
    layout = embedded_layout(home, sites_dir)
    for path in (layout.home, layout.sites_dir):
        if not SAFE_PATH.match(str(path)):
            raise SettingsError(f"{path}: hostd needs paths of letters, digits and ._/@+,=~- only")
    socket = layout.site_socket("x" * 63)
    if len(str(socket)) > MAX_SOCKET_PATH:
        raise SettingsError(
            f"home {layout.home} is too long for unix socket paths "
            f"({len(str(socket))} > {MAX_SOCKET_PATH} bytes); use a shorter --home"
        )
    return layout


def running_layout(home: Path | None, root: Path = Path("/")) -> tuple[Layout, Settings]:
    """Layout and settings of the instance running on `home`; InstanceError if none."""
    layout = layout_for(home, root=root)
    runtime = read_runtime(layout)
    if runtime is None or not instance_running(layout.up_lock):
        hint = f"hostd up --home {home}" if home else "systemctl start hostd"
        raise InstanceError(f"no hostd instance is running on {layout.home} (start it: {hint})")
    layout = replace(layout, sites_dir=runtime.sites_dir)
    settings = load_settings(layout.config_file, layout.mode)
    settings = with_overrides(
        settings, listen=runtime.listen, http_port=runtime.http_port,
        https_port=runtime.https_port,
    )  # fmt: skip
    return layout, settings


def make_instance(layout: Layout, settings: Settings, runner: Runner) -> Instance:
    gunicorn = Path(tool("gunicorn"))
    control = {gunicorn} if takes_control_socket(gunicorn, runner) else set()
    templates = os.environ.get("HOSTD_TEMPLATES")
    return Instance(
        layout=layout,
        listen=settings.http.listen,
        http_port=settings.http.port,
        https_port=settings.http.https_port,
        cores=os.cpu_count() or 1,
        gunicorn=gunicorn,
        control_socket_gunicorns=frozenset(control),
        nginx_user=_nginx_user(layout),
        templates=Path(templates) if templates else None,
    )


def _nginx_user(layout: Layout) -> str | None:
    """Embedded nginx started by root runs its workers as root too, like the apps."""
    if layout.mode is Mode.EMBEDDED and os.geteuid() == 0:
        return "root"
    return None


def make_reconciler(layout: Layout, settings: Settings, runner: Runner | None = None) -> Reconciler:
    runner = runner or SubprocessRunner()
    instance = make_instance(layout, settings, runner)
    machine = layout.machine
    nginx = NginxProcess(
        runner,
        binary=tool("nginx"),
        prefix=None if machine else layout.nginx_prefix,
        pid_file=layout.nginx_pid,
        error_log=machine.nginx_error_log if machine else layout.log_root / "nginx-error.log",
        address=instance.probe_host,
        port=instance.http_port,
        main_conf=machine.nginx_conf if machine else None,
    )
    edges = Edges(
        store=GenerationStore(layout.state_dir),
        nginx=nginx,
        supervisor=XmlRpcSupervisor(layout.supervisor_socket),
        events=EventLog(layout),
        runner=runner,
    )
    return Reconciler(
        layout,
        instance,
        edges,
        start_timeout=settings.apply.start_timeout,
        control_socket=lambda path: takes_control_socket(path, runner),
    )


def make_cert_manager(
    layout: Layout, settings: Settings, runner: Runner | None = None
) -> CertManager:
    certbot = Certbot(runner or SubprocessRunner(), tool("certbot"), layout, settings.acme)
    return CertManager(layout, settings.acme, certbot, EventLog(layout), settings.http.port)
