"""The composition root: the one place that builds real edges and hands them to the
transaction.

The daemon, `hostd reload`, `hostd certs renew` and the dashboard's reload button
all build their `Reconciler` here, so a `hostd reload` in another process applies
exactly what `hostd up` applies.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass

from hostd.apply.ports import Ports
from hostd.apply.reconciler import Reconciler
from hostd.apply.renewal import CertManager
from hostd.core.facts import HostFacts
from hostd.core.generation import ALL_PROGRAMS
from hostd.core.layout import Layout, Mode
from hostd.core.settings import Settings
from hostd.edges.certbot import CertbotCommand
from hostd.edges.certstore import CertFolder
from hostd.edges.checker import ScratchChecker
from hostd.edges.events import EventLog
from hostd.edges.generations import GenerationStore
from hostd.edges.host import Gunicorns, LocalHost, host_facts, tool
from hostd.edges.inputs import SiteFolder, builtin_site
from hostd.edges.locks import FileLock
from hostd.edges.nginx import NginxProcess
from hostd.edges.notifier import Notifier
from hostd.edges.preflight import HttpPreflight
from hostd.edges.records import HEALED, SITES_FOLDER, StateJournal, record_healing
from hostd.edges.release import ReleaseCommand
from hostd.edges.runner import Runner, SubprocessRunner
from hostd.edges.slot_link import SocketLinks
from hostd.edges.supervisor import XmlRpcSupervisor
from hostd.edges.verify import AppVerifier
from hostd.runtime.collector import Collector


@dataclass(frozen=True)
class Wired:
    """An instance put together: the transaction and the real edges the daemons use."""

    reconciler: Reconciler
    nginx: NginxProcess
    supervisor: XmlRpcSupervisor
    events: EventLog


def nginx_of(layout: Layout, facts: HostFacts, runner: Runner) -> NginxProcess:
    """The instance's nginx: the private one of `hostd up`, or the machine's."""
    machine = layout.machine
    return NginxProcess(
        runner,
        binary=tool("nginx"),
        prefix=None if machine else layout.nginx_prefix,
        pid_file=layout.nginx_pid,
        error_log=machine.nginx_error_log if machine else layout.log_root / "nginx-error.log",
        address=facts.probe_host,
        port=facts.http_port,
        main_conf=machine.nginx_conf if machine else None,
    )


def state_healer(events: EventLog) -> Callable[[str], None]:
    """How the generation store says what damage it healed: a warning in hostd.log,
    and an entry in state/healed.json that `hostd status` shows."""
    record = events.layout.state_dir / HEALED

    def healed(detail: str) -> None:
        events.emit("state-healed", level=logging.WARNING, detail=detail)
        try:
            record_healing(record, detail)
        except OSError as exc:  # a full disk: hostd.log still has it
            events.emit("state-not-recorded", error=str(exc))

    return healed


def wire(layout: Layout, settings: Settings, runner: Runner | None = None) -> Wired:
    runner = runner or SubprocessRunner()
    gunicorns = Gunicorns()
    facts = host_facts(layout, settings, gunicorns)
    nginx = nginx_of(layout, facts, runner)
    # an embedded supervisord has hostd's rpcinterface and reads one programs file
    programs = layout.live_link / ALL_PROGRAMS if layout.mode is Mode.EMBEDDED else None
    supervisor = XmlRpcSupervisor(layout.supervisor_socket, programs=programs)
    events = EventLog(layout)
    if settings.notify.enabled:
        notifier = Notifier(settings.notify, layout.state_dir / "alerts.json", platform.node())
        events.listeners.append(notifier.on_event)
    generations = GenerationStore(layout.state_dir, healed=state_healer(events))

    def live_sites() -> list[str]:
        live = generations.live()
        return list(live.sites) if live else []

    ports = Ports(
        sites=SiteFolder(
            layout.sites_dir,
            live_sites,
            layout,
            layout.state_dir / SITES_FOLDER,
            pauses=layout.maintenance_file,
        ),
        generations=generations,
        checker=ScratchChecker(layout.state_dir / "check", nginx),
        nginx=nginx,
        supervisor=supervisor,
        apps=AppVerifier(layout, supervisor, settings.apply.start_timeout),
        sockets=SocketLinks(layout),
        releases=ReleaseCommand(facts, runner),
        host=LocalHost(facts, gunicorns),
        certs=CertFolder(layout),
        journal=StateJournal(layout.state_file),
        events=events,
        lock=FileLock(layout.apply_lock),
    )
    reconciler = Reconciler(ports, facts, builtin_site(layout), settings.apply.warm_seconds)
    return Wired(reconciler, nginx, supervisor, events)


def make_reconciler(layout: Layout, settings: Settings, runner: Runner | None = None) -> Reconciler:
    return wire(layout, settings, runner).reconciler


def make_cert_manager(
    layout: Layout, settings: Settings, runner: Runner | None = None
) -> CertManager:
    acme = settings.acme
    certbot = CertbotCommand(runner or SubprocessRunner(), tool("certbot"), layout, acme)
    preflight = (
        HttpPreflight(layout.acme_webroot, settings.http.port, acme.resolver)
        if acme.preflight
        else None
    )
    return CertManager(
        CertFolder(layout), certbot, preflight, EventLog(layout), FileLock(layout.certbot_lock)
    )


def make_collector(layout: Layout) -> Collector:
    """The figures' collector, with edges of its own (it runs on its own thread)."""
    return Collector(
        layout, GenerationStore(layout.state_dir), XmlRpcSupervisor(layout.supervisor_socket, 5.0)
    )
