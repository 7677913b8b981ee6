"""Going live: write and switch to a generation, start what changed, reload nginx
while the apps boot, verify them, and only then name each new version live and
switch its traffic to it; returning a site to its warm previous version; and
switching everything back when nginx will not take a generation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from hostd.apply.candidate import Renderer
from hostd.apply.ports import Apps, Events, Generations, Nginx, Sockets, Supervisor
from hostd.core.generation import Files, Generation, program_path
from hostd.core.plan import Change, make_plan
from hostd.core.processes import site_of_program
from hostd.core.render import served_fingerprint
from hostd.core.report import ApplyReport, Outcome, SiteResult
from hostd.core.site import Site
from hostd.core.slots import (
    Version,
    cooled,
    flipped,
    kept_warm,
    rolled_back_version,
    sites_on_b,
    slot_of,
    switched_version,
    trial_path,
    versions_of,
    warm_path,
    warm_sites,
    web_program,
    web_section,
    with_slots,
)
from hostd.errors import NginxError


@dataclass(frozen=True)
class Switched:
    """A generation made live: the apps that did not come up, or nginx's refusal."""

    generation: Generation
    failures: dict[str, str]
    refusal: NginxError | None = None
    moving: frozenset[str] = frozenset()  # sites whose new version was on trial


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
        warm_seconds: float = 0.0,
    ) -> None:
        self.sockets = sockets
        self.warm_seconds = warm_seconds
        self.renderer = renderer
        self.generations = generations
        self.supervisor = supervisor
        self.nginx = nginx
        self.apps = apps
        self.events = events
        self._holding_warm = False  # warm versions retired but still running

    def start_early(self, sites: Mapping[str, Site], names: Collection[str]) -> frozenset[str]:
        """Start the web program of each of `names` (sites new to the live generation)
        now, as the generation serving `sites` will name it, so that it boots while
        its checks run and that generation is written; the sites started (none where
        supervisord cannot). `switch` gates them with the rest; `stop_early` ends the
        ones that did not go live."""
        files = self.renderer.files(sites)  # as the generation will have them (cached)
        on_b = self.renderer.slots_b
        programs = {
            web_program(n, slot_of(n, on_b)): web_section(files[program_path(n)], n)
            for n in sorted(names)
            if program_path(n) in files
        }
        return frozenset(site_of_program(g) for g in self.supervisor.start_early(programs))

    def stop_early(self, early: Collection[str]) -> None:
        """Stop and forget the early programs of sites the live generation does not have."""
        if not early:
            return
        live = self.generations.live()
        ours = set(early) - set(live.sites if live else ())
        if ours:
            self.remove_programs(ours)

    def switch(
        self, sites: Mapping[str, Site], current: Generation, slots_b: frozenset[str] | None = None,
        back_to: str | None = None, early: Collection[str] = (),
    ) -> Switched:  # fmt: skip
        """Go live with `sites` (with `slots_b` in slot b; default: as rendered last).

        A site whose slot changes starts its new version on trial in that slot while
        the live generation still names its old version: the generation written
        first serves every other change (nginx reloaded while the apps boot), and
        only once a new version passes its health gate does a second generation name
        it and send its traffic there. So the live generation never names a slot
        that did not pass its gate, whenever hostd stops. A version that fails is
        stopped and the site stays on its live one: its failure is in `failures`.
        The old slot of a switched site is kept warm for `warm_seconds` (for
        `hostd rollback`), or drains and stops once the traffic left it.
        `back_to` names a site returning to its previous version (a rollback);
        `early` the new sites `start_early` started. nginx reloads as soon as the
        first generation is live, while the programs start and the apps are gated:
        a new site's socket is pointed once its app answers, and the switch goes on
        once nginx serves the generation too. A warm version whose slot a new one takes
        is held running until the switch is done (its stop would take the new version's
        CPU while it boots). Where nothing but new versions changes and they all started
        before it (`_start_trials`), no first generation is written: the live one, which
        names their old versions, stands for it."""
        try:
            return self._switch(sites, current, slots_b, back_to, early)
        finally:
            if self._holding_warm:
                self._holding_warm = False
                self.supervisor.stop_retired()

    def _switch(
        self, sites: Mapping[str, Site], current: Generation, slots_b: frozenset[str] | None = None,
        back_to: str | None = None, early: Collection[str] = (),
    ) -> Switched:  # fmt: skip
        """The switch itself (`switch` then stops the warm versions it held running)."""
        if slots_b is not None:
            self.renderer.slots_b = slots_b
        on_b = self.renderer.slots_b
        now = time.time()
        live_b = sites_on_b(current.files, current.sites)
        moving = {n for n in on_b ^ live_b if n in sites and n in current.sites}
        versions = versions_of(current.files, current.sites)
        for name in moving:  # its warm slot, if any, is where its new version starts
            versions[name] = cooled(versions[name])
        for name, version in versions.items():  # a rollback's hold ends as the site changes
            if sites.get(name) not in (None, current.sites[name]):
                versions[name] = replace(version, held_from=None)
        trial: dict[str, str] = {}
        if moving:  # each new version's web program, as the second generation names it
            final = self.renderer.files(sites)
            trial = {trial_path(n): web_section(final[program_path(n)], n) for n in moving}
        first = {**sites, **{n: current.sites[n] for n in moving}}
        self.renderer.slots_b = on_b ^ frozenset(moving)
        kept = kept_warm(current.files, versions, set(first) - moving, now)
        trials = self._start_trials(moving, trial, current, on_b)
        # where the new versions are all the change and all booting already, the first
        # generation would differ from the live one in slot files alone: its write and
        # supervisord's reread of it would only take CPU from their boot
        only_trials = (
            bool(moving)
            and {site_of_program(g) for g in trials} == moving
            and first == dict(current.sites)
        )
        try:
            generation = (
                current if only_trials else self._write(first, current, {**kept, **trial}, versions)
            )
        except BaseException:
            self._stop_trials(trials)
            raise
        with ThreadPoolExecutor(max_workers=1) as pool:
            reloading = pool.submit(self.reload_nginx, generation.files)
            started = [] if only_trials else self.start_programs(set(current.sites) | set(sites))
            names = sorted(
                ({site_of_program(g) for g in started} | moving | set(early)) & set(sites)
            )
            verified = {n: sites[n] for n in names}
            failures = self.apps.failures(
                list(verified.values()), on_b, self.renderer.served_https(verified)
            )
            for name in names:
                if name not in failures and name not in moving:
                    self.sockets.point(name, slot_of(name, on_b))
            try:
                reloading.result()
            except NginxError as exc:
                return Switched(generation, {}, exc, frozenset(moving))
        if not moving:
            return Switched(generation, failures)
        passed = moving - set(failures)
        second = {**sites, **{n: current.sites[n] for n in moving & set(failures)}}
        self.renderer.slots_b = on_b ^ frozenset(moving & set(failures))
        left_at = time.time()
        warm_until = left_at + self.warm_seconds if self.warm_seconds > 0 else None
        for name in passed:
            was = current.sites[name].to_dict()
            versions[name] = (
                rolled_back_version(versions[name], was, warm_until, left_at, hold=True)
                if name == back_to
                else switched_version(versions[name], was, warm_until, left_at)
            )
            if warm_until is not None:
                kept[warm_path(name)] = web_section(current.files[program_path(name)], name)
        settle = warm_until is None
        early_point = not settle and self._serves_already(second, generation)
        if early_point:
            # the traffic moves now; the old slots stay warm, and a hostd that stops
            # before the second generation is written comes back to the first one
            # (or the live one), whose slots still run
            for name in sorted(passed):
                self.sockets.point(name, slot_of(name, on_b), settle=False)
        try:
            generation = self._write(second, generation, kept, versions)
        except BaseException:
            if only_trials:  # as when the first generation cannot be written
                back = {n: slot_of(n, live_b) for n in passed} if early_point else {}
                self._stop_trials(trials, moved_back=back)
            raise
        try:  # a server block the new versions change (their nginx is the old one so far)
            self.reload_nginx(generation.files)
        except NginxError as exc:
            return Switched(generation, failures, exc, frozenset(moving))
        for name in sorted(passed):
            self.sockets.point(name, slot_of(name, on_b), settle=settle)
        # the new versions' worker processes start; old slots not kept warm drain
        # and stop, and so do the new versions that failed
        self.start_programs(passed, remove=moving)
        return Switched(generation, failures, moving=frozenset(moving))

    def _serves_already(self, sites: Mapping[str, Site], generation: Generation) -> bool:
        """True if nginx, serving `generation`, serves `sites` as rendered now too."""
        return served_fingerprint(self.renderer.files(sites)) == served_fingerprint(
            generation.files
        )

    def _start_trials(
        self, moving: Collection[str], trial: Mapping[str, str], current: Generation,
        on_b: Collection[str],
    ) -> list[str]:  # fmt: skip
        """Start each new version of `moving` in its slot (on_b: as it will be) before
        the generation naming it is written, so that it boots meanwhile; the groups
        started (none where supervisord cannot: the generation's reread starts them).
        A previous version kept warm in that slot is retired, unwaited for and held
        running until the switch is done, and its socket path removed: it serves
        nothing, the new version starts afresh there (on new code too, where only
        code changed), and only the new version answers its gate."""
        for name in sorted(set(moving) & warm_sites(current.files)):
            self.supervisor.retire(web_program(name, slot_of(name, on_b)), stop=False)
            self._holding_warm = True
            self.sockets.vacate(name, slot_of(name, on_b))  # the gate reaches the new one
        programs = {web_program(n, slot_of(n, on_b)): trial[trial_path(n)] for n in sorted(moving)}
        return self.supervisor.start_early(programs) if programs else []

    def _stop_trials(
        self, trials: Collection[str], moved_back: Mapping[str, str] | None = None
    ) -> None:
        """Stop the new versions started (`trials`, their groups) that will not go
        live, each site of `moved_back` pointed at its live slot (the value) first."""
        for name, slot in sorted((moved_back or {}).items()):
            self.sockets.point(name, slot, settle=False)
        for group in trials:
            self.supervisor.remove(group)

    def _write(
        self, sites: Mapping[str, Site], base: Generation, kept: Mapping[str, str],
        versions: Mapping[str, Version],
    ) -> Generation:  # fmt: skip
        """Write and switch to a generation serving `sites` as rendered now, with the
        slot files `kept` and each site's version (new sites: version 1)."""
        files = self.renderer.files(sites)
        fresh = versions_of(files, sites)
        for name, version in versions.items():
            if name in fresh and version.slot == fresh[name].slot:
                fresh[name] = version
        generation = self.generations.write(with_slots(files, kept, fresh), sites, base=base)
        self.generations.switch(generation)
        return generation

    def back_to_warm(self, name: str, previous: Site, current: Generation) -> Generation | None:
        """`name` served again by its previous version's warm slot: one generation
        naming it, one link rename, nginx reloaded if its server block differs. None
        if the warm program is not what that version renders now (the host's facts
        changed): it must start anew."""
        now = time.time()
        versions = versions_of(current.files, current.sites)
        sites = {**current.sites, name: previous}
        self.renderer.slots_b = flipped(sites_on_b(current.files, current.sites), {name})
        files = self.renderer.files(sites)
        warm = current.files.get(warm_path(name), "")
        if web_section(files[program_path(name)], name) != web_section(warm, name):
            return None
        kept = kept_warm(current.files, versions, set(sites) - {name}, now)
        warm_until = now + self.warm_seconds if self.warm_seconds > 0 else None
        if warm_until is not None:
            kept[warm_path(name)] = web_section(current.files[program_path(name)], name)
        hold = current.sites[name] != previous  # the site file still says the other one
        versions[name] = rolled_back_version(
            versions[name], current.sites[name].to_dict(), warm_until, now, hold
        )
        generation = self._write(sites, current, kept, versions)
        slot = slot_of(name, self.renderer.slots_b)
        self.sockets.point(name, slot, settle=warm_until is None)
        self.start_programs({name}, remove={name})  # its worker processes, if they differ
        self.reload_nginx(generation.files)
        return generation

    def point_all(self, generation: Generation) -> None:
        """Every site of `generation` served by the slot the generation names."""
        on_b = sites_on_b(generation.files, generation.sites)
        for name in generation.sites:
            self.sockets.point(name, slot_of(name, on_b))

    def start_programs(self, ours: Collection[str], remove: Collection[str] = ()) -> list[str]:
        """Apply Supervisor's pending changes for added and changed site programs
        (and for the removed ones of the sites in `remove`: they drain and stop);
        the programs started."""
        diff = self.supervisor.reload_config()
        for group in diff.removed:
            if site_of_program(group) in remove:
                self.supervisor.remove(group)
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
        self, live: Generation, failed: Switched, error: NginxError,
        only: Collection[str] | None,
    ) -> ApplyReport:  # fmt: skip
        """Switch everything back to `live` after nginx refused `failed`: the sites
        it changes, and those whose new versions were on trial, are reported."""
        moving = failed.moving
        failed_generation = failed.generation
        self.events.emit("rollback", generation=failed_generation.id, to=live.id, error=str(error))
        self.generations.switch(live)
        self.point_all(live)
        ours = set(live.sites) | set(failed_generation.sites)
        self.start_programs(ours)
        self.remove_programs(ours)
        detail = f"rolled back: {error}"
        try:
            self.reload_nginx(live.files)
        except NginxError as again:
            detail += f"; the previous configuration did not reload either: {again}"
        plan = make_plan(live.files, failed_generation.files, live.sites, failed_generation.sites)
        results = [
            SiteResult(p.name, Outcome.FAILED, detail, held=p.name in live.sites)
            if p.change is not Change.UNCHANGED or p.name in moving
            else SiteResult(p.name, Outcome.UNCHANGED)
            for p in plan.sites
            if only is None or p.name in only
        ]
        return ApplyReport(live.id, results, rolled_back=True, error=str(error))
