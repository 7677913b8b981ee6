"""Fakes of every port of the transaction, shipped with hostd (as httpx ships its
MockTransport), so the reconciler runs in memory: no disk, no daemon, no process.

    ports = FakePorts.empty()
    reconciler = in_memory_reconciler(ports)
    ports.sites.files["blog"] = parse_site(...)
    report = reconciler.apply()

Each fake records what was asked of it, and fails only where a test tells it to;
`FakeRunner` fails loudly on any command nobody prepared.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostd.apply.ports import Ports
from hostd.apply.reconciler import Reconciler
from hostd.core.builtin import Builtin
from hostd.core.certificate import Attempts, Certificate
from hostd.core.facts import HostFacts
from hostd.core.generation import PROGRAMS, Files, Generation
from hostd.core.layout import embedded_layout
from hostd.core.program import ConfigDiff, ProgramInfo
from hostd.core.release import Released
from hostd.core.report import ApplyReport
from hostd.core.site import Site
from hostd.edges.runner import Completed
from hostd.edges.supervisor_rpc import options_of
from hostd.errors import CommandError, HostdError, LockError, NginxError, SiteError

MEMORY = Path("/hostd-in-memory")


@dataclass
class FakeRunner:
    """Answers only the commands a test prepared; anything else fails loudly."""

    answers: dict[tuple[str, ...], tuple[int, str]] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def expect(self, argv: Sequence[str], returncode: int = 0, output: str = "") -> None:
        self.answers[tuple(argv)] = (returncode, output)

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        check: bool = True,
        cwd: Path | None = None,
    ) -> Completed:
        key = tuple(argv)
        self.calls.append(key)
        if key not in self.answers:
            raise AssertionError(f"FakeRunner: nobody prepared {list(argv)}")
        returncode, output = self.answers[key]
        if check and returncode != 0:
            raise CommandError(argv, returncode, output)
        return Completed(key, returncode, output)


@dataclass
class FakeSiteFiles:
    """The sites folder: site name -> the site its file defines, or why it is refused."""

    files: dict[str, Site | SiteError] = field(default_factory=dict)

    def load(self) -> dict[str, Site | SiteError]:
        return dict(self.files)


@dataclass
class MemoryGenerations:
    """Generations kept in a dict; `failing` makes every write fail as a full disk would."""

    generations: dict[int, Generation] = field(default_factory=dict)
    live_id: int | None = None
    failing: str | None = None  # e.g. "No space left on device"
    switches: list[int] = field(default_factory=list)

    def live(self) -> Generation | None:
        return self.generations.get(self.live_id) if self.live_id is not None else None

    def write(
        self, files: Files, sites: Mapping[str, Site], base: Generation | None = None
    ) -> Generation:
        gen_id = max(self.generations, default=0) + 1
        if self.failing is not None:
            raise HostdError(f"cannot write generation {gen_id:06d}: {self.failing}")
        generation = Generation(gen_id, MEMORY / f"{gen_id:06d}", dict(files), dict(sites))
        self.generations[gen_id] = generation
        return generation

    def switch(self, generation: Generation) -> None:
        self.live_id = generation.id
        self.switches.append(generation.id)

    def prune(self) -> None:
        for gen_id in sorted(self.generations)[:-5]:
            if gen_id != self.live_id:
                del self.generations[gen_id]


@dataclass
class FakeChecker:
    """Refuses every generation one of whose files mentions a text in `refused`, as
    nginx -t would refuse a bad directive."""

    refused: set[str] = field(default_factory=set)
    root: Path = MEMORY / "check"
    checked: list[Files] = field(default_factory=list)

    def refusal(self, files: Files) -> str | None:
        self.checked.append(dict(files))
        for path, text in sorted(files.items()):
            for bad in sorted(self.refused):
                if bad in text:
                    return f'nginx: [emerg] refused "{bad}" in {self.root / path}'
        return None


@dataclass
class FakeNginx:
    """Serves whatever fingerprint it was last reloaded to; `refusing` makes every reload
    fail, as an nginx that keeps its old configuration would."""

    served: str | None = None
    refusing: bool = False
    reloads: list[str] = field(default_factory=list)

    def served_fingerprint(self) -> str | None:
        return self.served

    def reload(self, expected_fingerprint: str) -> None:
        self.reloads.append(expected_fingerprint)
        if self.refusing:
            raise NginxError("nginx did not take the new configuration: [emerg] refused")
        self.served = expected_fingerprint


@dataclass
class FakeSupervisor:
    """supervisord over the live generation's program files: a reread compares them
    with what it runs, as the real one compares its config files."""

    generations: MemoryGenerations
    running: dict[str, str] = field(default_factory=dict)  # group -> its program file
    programs: dict[str, ProgramInfo] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    _pids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    def _wanted(self) -> dict[str, str]:
        """Each `[program:NAME]` of the live program files by NAME, as supervisord
        groups them; the first of a file carries the file's leading comments."""
        live = self.generations.live()
        files = live.files if live else {}
        wanted: dict[str, str] = {}
        for path, text in files.items():
            if not path.startswith(PROGRAMS):
                continue
            starts = [m.start() for m in re.finditer(r"^\[program:", text, re.MULTILINE)]
            if not starts:
                wanted[path.removeprefix(PROGRAMS).removesuffix(".conf")] = text
                continue
            bounds = [0, *starts[1:], len(text)]
            for begin, end in itertools.pairwise(bounds):
                section = text[begin:end]
                name = re.search(r"^\[program:([^\]]+)\]", section, re.MULTILINE)
                assert name is not None
                wanted[name.group(1)] = section
        return wanted

    def reload_config(self) -> ConfigDiff:
        wanted = self._wanted()
        kept = set(wanted) & set(self.running)
        return ConfigDiff(
            added=tuple(sorted(set(wanted) - set(self.running))),
            changed=tuple(
                sorted(n for n in kept if options_of(self.running[n]) != options_of(wanted[n]))
            ),
            removed=tuple(sorted(set(self.running) - set(wanted))),
        )

    def start_early(self, programs: Mapping[str, str]) -> list[str]:
        started = [group for group in programs if group not in self.running]
        for group in started:
            self.calls.append(f"early {group}")
            self.running[group] = programs[group]
            self.programs[group] = ProgramInfo(group, "RUNNING", next(self._pids), "", "", 1)
        return started

    def add(self, group: str) -> None:
        self.calls.append(f"add {group}")
        self.running[group] = self._wanted()[group]
        self.programs[group] = ProgramInfo(group, "RUNNING", next(self._pids), "", "", 1)

    def remove(self, group: str) -> None:
        self.calls.append(f"remove {group}")
        self.running.pop(group, None)
        self.programs.pop(group, None)

    def retire(self, group: str, stop: bool = True) -> None:
        self.calls.append(f"retire {group}" if stop else f"retire {group} held")
        self.running.pop(group, None)
        self.programs.pop(group, None)

    def stop_retired(self) -> None:
        self.calls.append("stop retired")

    def info(self, group: str) -> ProgramInfo | None:
        return self.programs.get(group)

    def all_info(self) -> dict[str, ProgramInfo]:
        return dict(self.programs)

    def signal(self, group: str, signame: str) -> None:
        self.calls.append(f"signal {signame} {group}")

    def start(self, group: str) -> None:
        self.calls.append(f"start {group}")

    def stop(self, group: str) -> None:
        self.calls.append(f"stop {group}")


@dataclass
class FakeApps:
    """Every app comes up, except where `failure(site)` says why not."""

    failure: Callable[[Site], str | None] = lambda site: None
    verified: list[list[str]] = field(default_factory=list)

    def failures(
        self, sites: Sequence[Site], on_b: Collection[str] = (), https: Collection[str] = ()
    ) -> dict[str, str]:
        self.verified.append([site.name for site in sites])
        return {site.name: why for site in sites if (why := self.failure(site)) is not None}


@dataclass
class FakeReleases:
    """Every release succeeds, except the sites `failing` names (with its output)."""

    failing: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)

    def run(self, site: Site) -> Released:
        self.ran.append(site.name)
        if site.name in self.failing:
            return Released(False, self.failing[site.name])
        return Released(True, f"released {site.name}")


@dataclass
class FakeSockets:
    """Each site's stable socket: the slot it points at, and every switch in order."""

    pointed: dict[str, str] = field(default_factory=dict)
    switches: list[str] = field(default_factory=list)
    vacated: list[str] = field(default_factory=list)  # site:slot, in order

    def vacate(self, site: str, slot: str) -> None:
        self.vacated.append(f"{site}:{slot}")

    def point(self, site: str, slot: str, *, settle: bool = True) -> None:
        if self.pointed.get(site) != slot:
            self.switches.append(f"{site}:{slot}")
        self.pointed[site] = slot


@dataclass
class FakeHost:
    users: set[str] = field(default_factory=lambda: {"root", "www-data"})
    control_socket: set[Path] = field(default_factory=set)
    prepared: list[list[str]] = field(default_factory=list)

    def user_exists(self, name: str) -> bool:
        return name in self.users

    def prepare(self, sites: Mapping[str, Site]) -> None:
        self.prepared.append(sorted(sites))

    def takes_control_socket(self, gunicorn: Path) -> bool:
        return gunicorn in self.control_socket


@dataclass
class FakeCertStore:
    certificates: dict[str, Certificate] = field(default_factory=dict)
    tried: dict[str, Attempts] = field(default_factory=dict)

    def current(self, site: str) -> Certificate | None:
        return self.certificates.get(site)

    def attempts(self, site: str) -> Attempts:
        return self.tried.get(site, Attempts())

    def record_attempts(self, site: str, attempts: Attempts) -> None:
        self.tried[site] = attempts


@dataclass
class MemoryJournal:
    """Keeps every report; `failing` makes recording fail as a full disk would."""

    reports: list[ApplyReport] = field(default_factory=list)
    failing: bool = False

    def record(self, report: ApplyReport, keep: Collection[str]) -> None:
        if self.failing:
            raise HostdError("cannot record the apply: No space left on device")
        self.reports.append(report)


@dataclass
class RecordingEvents:
    events: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)

    def emit(
        self, event: str, site: str | None = None, *, level: int = logging.INFO, **fields: Any
    ) -> None:
        self.events.append((event, site, fields))

    def named(self, event: str) -> list[tuple[str, str | None, dict[str, Any]]]:
        return [entry for entry in self.events if entry[0] == event]


@dataclass
class FakeLock:
    """A lock that is free unless `busy`; counts how often it was held."""

    busy: bool = False
    holds: int = 0

    @contextlib.contextmanager
    def held(self, timeout: float = 300.0) -> Iterator[None]:
        if self.busy:
            raise LockError(f"another apply held the lock for over {timeout:.0f}s")
        self.holds += 1
        yield


@dataclass
class FakeCertbot:
    """Issues into `store` unless `failing` holds certbot's output for a site."""

    store: FakeCertStore
    issue: Callable[[str, Sequence[str]], Certificate]
    failing: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def obtain(self, site: str, domains: Sequence[str]) -> str:
        self.calls.append(site)
        if site in self.failing:
            raise CommandError(["certbot", "certonly"], 1, self.failing[site])
        self.store.certificates[site] = self.issue(site, domains)
        return f"Successfully received certificate for {site}"


@dataclass
class FakePreflight:
    problems: dict[str, str] = field(default_factory=dict)  # domain -> problem

    def problem(self, domains: Sequence[str]) -> str | None:
        return next((self.problems[d] for d in domains if d in self.problems), None)


@dataclass
class FakePorts:
    """Every port of the transaction as a fake, reachable by its concrete type."""

    sites: FakeSiteFiles
    generations: MemoryGenerations
    checker: FakeChecker
    nginx: FakeNginx
    supervisor: FakeSupervisor
    apps: FakeApps
    sockets: FakeSockets
    releases: FakeReleases
    host: FakeHost
    certs: FakeCertStore
    journal: MemoryJournal
    events: RecordingEvents
    lock: FakeLock

    @classmethod
    def empty(cls) -> FakePorts:
        generations = MemoryGenerations()
        return cls(
            sites=FakeSiteFiles(),
            generations=generations,
            checker=FakeChecker(),
            nginx=FakeNginx(),
            supervisor=FakeSupervisor(generations),
            apps=FakeApps(),
            sockets=FakeSockets(),
            releases=FakeReleases(),
            host=FakeHost(),
            certs=FakeCertStore(),
            journal=MemoryJournal(),
            events=RecordingEvents(),
            lock=FakeLock(),
        )

    def ports(self) -> Ports:
        return Ports(
            sites=self.sites, generations=self.generations, checker=self.checker,
            nginx=self.nginx, supervisor=self.supervisor, apps=self.apps,
            sockets=self.sockets, releases=self.releases,
            host=self.host, certs=self.certs, journal=self.journal, events=self.events,
            lock=self.lock,
        )  # fmt: skip


def memory_facts() -> HostFacts:
    """Host facts for an instance that lives nowhere."""
    layout = embedded_layout(MEMORY / "home", MEMORY / "sites.d")
    return HostFacts(layout=layout, cores=1, gunicorn=MEMORY / "bin" / "gunicorn")


def in_memory_reconciler(fakes: FakePorts, builtin: Builtin | None = None) -> Reconciler:
    """A reconciler over `fakes`, booted: its first generation (no sites) is live."""
    facts = memory_facts()
    reconciler = Reconciler(fakes.ports(), facts, builtin or Builtin(facts.layout.config_file))
    reconciler.boot()
    return reconciler
