"""Going live: write and switch to a generation, start what changed, reload nginx
while the apps boot, verify them; and switching everything back when nginx will
not take a generation.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from hostd.apply.candidate import Renderer
from hostd.apply.ports import Apps, Events, Generations, Nginx, Sockets, Supervisor
from hostd.core.generation import Files, Generation
from hostd.core.plan import Change, make_plan
from hostd.core.processes import site_of_program
from hostd.core.render import served_fingerprint
from hostd.core.report import ApplyReport, Outcome, SiteResult
from hostd.core.site import Site
from hostd.core.slots import sites_on_b, slot_of
from hostd.errors import NginxError


@dataclass(frozen=True)
class Switched:
    """A generation made live: the apps that did not come up, or nginx's refusal."""

    generation: Generation
    failures: dict[str, str]
    refusal: NginxError | None = None


class GoLive:
    def __init__(
        self,
        renderer: Renderer,
        generations: Generations,
        supervisor: Supervisor,
        nginx: Nginx,
        apps: Apps,
        events: Events,
        sockets: Sockets,
    ) -> None:
        self.sockets = sockets
        self.renderer = renderer
        self.generations = generations
        self.supervisor = supervisor
        self.nginx = nginx
        self.apps = apps
        self.events = events

    def switch(
        self, sites: Mapping[str, Site], current: Generation, slots_b: frozenset[str] | None = None
    ) -> Switched:
        """Write and switch to a generation serving `sites` (with `slots_b` in slot b;
        default: as rendered last), start what changed beside what serves, reload
        nginx while the apps boot, verify them through their own slots' sockets, then
        send each verified site's traffic to its new slot. The old slots keep running
        until `remove_programs`."""
        if slots_b is not None:
            self.renderer.slots_b = slots_b
        on_b = self.renderer.slots_b
        generation = self.generations.write(self.renderer.files(sites), sites, base=current)
        self.generations.switch(generation)
        started = self.start_programs(set(current.sites) | set(sites))
        try:
            self.reload_nginx(generation.files)
        except NginxError as exc:
            return Switched(generation, {}, exc)
        names = sorted({site_of_program(g) for g in started} & set(sites))
        verified = {n: sites[n] for n in names}
        failures = self.apps.failures(
            list(verified.values()), on_b, self.renderer.served_https(verified)
        )
        for name in names:
            if name not in failures:
                self.sockets.point(name, slot_of(name, on_b))
        return Switched(generation, failures)

    def point_all(self, generation: Generation) -> None:
        """Every site of `generation` served by the slot the generation names."""
        on_b = sites_on_b(generation.files, generation.sites)
        for name in generation.sites:
            self.sockets.point(name, slot_of(name, on_b))

    def start_programs(self, ours: Collection[str]) -> list[str]:
        """Apply Supervisor's pending changes for added and changed site programs;
        the programs started."""
        diff = self.supervisor.reload_config()
        for group in diff.changed:
            if site_of_program(group) in ours:
                self.supervisor.remove(group)
                self.supervisor.add(group)
        for group in diff.added:
            if site_of_program(group) in ours:
                self.supervisor.add(group)
        return [g for g in (*diff.changed, *diff.added) if site_of_program(g) in ours]

    def remove_programs(self, ours: Collection[str]) -> None:
        """Stop and forget the programs of `ours` the live generation no longer has:
        an old slot drains (gunicorn finishes what it serves, up to its graceful
        timeout) and stops."""
        diff = self.supervisor.reload_config()
        for group in diff.removed:
            if site_of_program(group) in ours:
                self.supervisor.remove(group)

    def reload_nginx(self, files: Files) -> None:
        """Reload nginx unless it serves `files` already. Raises NginxError."""
        expected = served_fingerprint(files)
        if self.nginx.served_fingerprint() != expected:
            self.nginx.reload(expected)
            self.events.emit("nginx-reloaded", level=logging.DEBUG, fingerprint=expected)

    def roll_back(
        self, live: Generation, failed: Generation, error: NginxError,
        only: Collection[str] | None,
    ) -> ApplyReport:  # fmt: skip
        """Switch everything back to `live` after nginx refused `failed`."""
        self.events.emit("rollback", generation=failed.id, to=live.id, error=str(error))
        self.generations.switch(live)
        ours = set(live.sites) | set(failed.sites)
        self.start_programs(ours)
        self.remove_programs(ours)
        detail = f"rolled back: {error}"
        try:
            self.reload_nginx(live.files)
        except NginxError as again:
            detail += f"; the previous configuration did not reload either: {again}"
        plan = make_plan(live.files, failed.files, live.sites, failed.sites)
        results = [
            SiteResult(p.name, Outcome.FAILED, detail, held=p.name in live.sites)
            if p.change is not Change.UNCHANGED
            else SiteResult(p.name, Outcome.UNCHANGED)
            for p in plan.sites
            if only is None or p.name in only
        ]
        return ApplyReport(live.id, results, rolled_back=True, error=str(error))
