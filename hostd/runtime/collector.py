"""The figures collector: reads on in every live site's access log, hostd.log and
Supervisor, and keeps the figures (`hostd.core.figures`) in memory.

Each access log is followed from where it was at start (`hostd.edges.logfiles.Follower`:
offsets kept, a new inode is a rotation and the renamed file is read to its end, a
shorter file is a truncation), so a big log is never read again from its start.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hostd.core.accessline import parse_request
from hostd.core.figures import Health, SiteFigures
from hostd.core.layout import Layout
from hostd.core.logline import line_time
from hostd.core.site import Site, Tls
from hostd.edges.certstore import read_certificate
from hostd.edges.generations import GenerationStore
from hostd.edges.logfiles import Follower, Position
from hostd.edges.supervisor import XmlRpcSupervisor
from hostd.errors import HostdError

POLL_EVERY = 0.5  # seconds between two reads of the logs
PROGRAMS_EVERY = 1.0
CERTS_EVERY = 60.0
TAIL_BYTES = 1 << 20  # a log's last MiB is read when hostd starts following it
logger = logging.getLogger("hostd")


def tail_position(path: Path, most: int) -> Position | None:
    """Where to start reading `path` so that at most its last `most` bytes are read,
    at the start of a line; None if there is no such file."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_size <= most:
                return Position(info.st_ino, 0)
            handle.seek(info.st_size - most)
            skipped = handle.readline()  # the rest of a line cut in two
            return Position(info.st_ino, info.st_size - most + len(skipped))
    except OSError:
        return None


class Collector:
    """Every live site's figures and hostd's own health, updated by `poll()`."""

    def __init__(
        self,
        layout: Layout,
        store: GenerationStore,
        supervisor: XmlRpcSupervisor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.layout = layout
        self.clock = clock
        self.lock = threading.Lock()
        self.store = store
        self.supervisor = supervisor
        self.sites: dict[str, SiteFigures] = {}
        self.followers: dict[str, Follower] = {}
        self.live_sites: dict[str, Site] = {}
        self.live_target: str | None = None
        self.health = Health()
        self.events = Follower({"hostd": layout.hostd_log})  # from now on
        self.next_programs = 0.0
        self.next_certs = 0.0

    # -- reading -------------------------------------------------------------------

    def poll(self) -> None:
        """One pass: the live sites, new log lines, programs, certificates."""
        self._follow_live_sites()
        for name, follower in list(self.followers.items()):
            requests = [r for line in follower.poll() if (r := parse_request(line.text))]
            if requests:
                with self.lock:
                    self.sites[name].add_all(requests)
        for line in self.events.poll():
            self._observe_event(line.text)
        now = time.monotonic()
        if now >= self.next_programs:
            self.next_programs = now + PROGRAMS_EVERY
            self._observe_programs()
        if now >= self.next_certs:
            self.next_certs = now + CERTS_EVERY
            self._observe_certificates()

    def _follow_live_sites(self) -> None:
        try:
            target = os.readlink(self.layout.live_link)
        except OSError:
            return
        if target == self.live_target:
            return
        try:
            live = self.store.live()
        except (HostdError, OSError, ValueError) as exc:
            logger.warning("figures: cannot read the live generation: %s", exc)
            return
        if live is None:
            return
        self.live_target = target
        self.live_sites = dict(live.sites)
        self.next_certs = 0.0
        with self.lock:
            self.health.generation = live.id
            for name in set(self.followers) - set(live.sites):
                self.followers.pop(name).close()
                self.sites.pop(name, None)
            for name in set(live.sites) - set(self.followers):
                path = self.layout.site_log_dir(name) / "access.log"
                where = tail_position(path, TAIL_BYTES)
                self.followers[name] = Follower(
                    {"access": path}, {"access": where} if where else {}
                )
                self.sites[name] = SiteFigures()

    def _observe_event(self, text: str) -> None:
        try:
            record = json.loads(text)
        except ValueError:
            return
        if isinstance(record, dict):
            with self.lock:
                self.health.observe(record, line_time(text))

    def _observe_programs(self) -> None:
        try:
            programs = self.supervisor.all_info()
        except HostdError:
            programs = {}
        with self.lock:
            for name, figures in self.sites.items():
                info = programs.get(name)
                if info is None:
                    figures.observe_program("absent", None, None)
                else:
                    figures.observe_program(
                        info.state, info.pid or None, float(info.start) if info.start else None
                    )

    def _observe_certificates(self) -> None:
        found: dict[str, float | None] = {}
        for name, site in self.live_sites.items():
            cert = (
                read_certificate(self.layout.certificate_dir(name))
                if site.tls is Tls.AUTO
                else None
            )
            found[name] = cert.not_after.timestamp() if cert else None
        with self.lock:
            for name, not_after in found.items():
                if name in self.sites:
                    self.sites[name].cert_not_after = not_after

    def close(self) -> None:
        for follower in self.followers.values():
            follower.close()
        self.events.close()

    # -- what it serves ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every figure as plain data (what /figures.json answers)."""
        now = self.clock()
        with self.lock:
            sites = {}
            for name, figures in sorted(self.sites.items()):
                figures.crash_loops = self.health.crash_loops.get(name, 0)
                sites[name] = figures.summary(now)
            return {"time": now, "health": self.health.summary(), "sites": sites}

    def run(self, stopping: threading.Event) -> None:
        """Poll until `stopping` is set; a bug in a pass is logged, never the end."""
        while not stopping.is_set():
            try:
                self.poll()
            except Exception:  # the figures never take the daemon down
                logger.exception("figures: a pass failed")
            stopping.wait(POLL_EVERY)
