"""The one transaction: site files in, live sites out.

    preview (load, select, render, plan) -> validate, isolating refused sites
        -> go live: write, switch, start changed programs, reload nginx while the
           apps boot, verify the apps -> a failing app goes back to its last good
           version -> remove dropped programs -> record

Any site that fails a step is held at its last good version (or left out if new)
while every other change goes live. If nginx will not take the result, everything
switches back to the previous generation. Every effect goes through a port
(`hostd.apply.ports`), so each branch here runs against fakes too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping

from hostd.apply.candidate import Preview, Renderer, preview
from hostd.apply.golive import GoLive
from hostd.apply.ports import Ports
from hostd.apply.validate import Validator
from hostd.core.builtin import Builtin
from hostd.core.facts import HostFacts
from hostd.core.generation import Files, Generation, program_path
from hostd.core.plan import Change, make_plan
from hostd.core.processes import program_name, site_of_program
from hostd.core.program import DOWN_STATES
from hostd.core.report import ApplyReport, Outcome, SiteResult
from hostd.core.selection import reverted
from hostd.core.site import Site, site_from_dict
from hostd.core.slots import (
    Previous,
    cooled,
    flipped,
    kept_warm,
    live_programs,
    sites_on_b,
    versions_of,
    warm_path,
    warm_sites,
    web_program,
    web_section,
    with_slots,
)
from hostd.errors import (
    HostdError,
    LockError,
    NginxError,
    RollbackError,
    SiteError,
    SitesFolderError,
    SupervisorError,
)


class Reconciler:
    """Applies the site files over `ports`, rendering with `facts`.

    `builtin` is hostd's own dashboard as the runtime last read it from hostd.toml;
    the runtime sets it anew when it reads hostd.toml again.
    """

    def __init__(
        self, ports: Ports, facts: HostFacts, builtin: Builtin, warm_seconds: float = 0.0
    ) -> None:
        self.ports = ports
        self.facts = facts
        self.builtin = builtin
        self.renderer = Renderer(facts, ports.host, ports.certs)
        self.validator = Validator(self.renderer, ports.checker, ports.host, ports.generations)
        self.golive = GoLive(
            self.renderer, ports.generations, ports.supervisor, ports.nginx, ports.apps,
            ports.events, ports.sockets, warm_seconds,
        )  # fmt: skip

    def live(self) -> Generation | None:
        return self.ports.generations.live()

    def preview(self, only: Collection[str] | None = None) -> Preview:
        """What an apply of `only` (default: every site) would do now."""
        live = self.live()
        loaded = held_back_by_rollback(self.ports.sites.load(), live)
        return preview(loaded, live, self.builtin, self.renderer, only)

    # -- starting ---------------------------------------------------------------------

    def boot(self) -> Generation:
        """Make the last good sites live under the current settings (daemons not up yet).

        If they no longer pass validation, start empty; the next apply brings back
        every site that is still good.
        """
        with self.ports.lock.held():
            live = self.live()
            sites = live.sites if live else {}
            if live is not None:  # each site in the slot that served it
                self.renderer.slots_b = sites_on_b(live.files, live.sites)
            files = self.renderer.files(sites)
            # versions kept; a slot on trial or warm is not kept by a new start
            versions = versions_of(live.files, live.sites) if live else {}
            files = with_slots(files, {}, {n: cooled(v) for n, v in versions.items()})
            if live is not None and files == live.files:
                self.ports.host.prepare(live.sites)
                self.golive.point_all(live)  # nginx reaches the slot the generation names
                return live
            if sites and (error := self.validator.refusal(sites)) is not None:
                self.ports.events.emit("boot-without-sites", error=error)
                sites, files = {}, with_slots(self.renderer.files({}), {}, {})
            if (error := self.validator.refusal(sites)) is not None:
                raise HostdError(f"cannot start: the base configuration is refused: {error}")
            generation = self.ports.generations.write(files, sites, base=live)
            self.ports.generations.switch(generation)
            self.ports.host.prepare(generation.sites)
            self.golive.point_all(generation)
            return generation

    def resume(self) -> list[str]:
        """After hostd starts next to running daemons: every live site known to
        Supervisor and started, nginx serving the live generation. What went wrong."""
        live = self.live()
        if live is None:
            return []
        problems: list[str] = []
        supervisor = self.ports.supervisor
        with self.ports.lock.held():
            self.ports.host.prepare(live.sites)
            try:
                self.golive.start_programs(live.sites)
                for name, info in supervisor.all_info().items():
                    if site_of_program(name) in live.sites and info.state in DOWN_STATES:
                        supervisor.start(name)
                # a switch cut short: exactly the slot the live generation names serves
                self.golive.point_all(live)
                self.golive.remove_programs(live.sites)
            except (SupervisorError, HostdError) as exc:
                problems.append(str(exc))
            try:
                self.golive.reload_nginx(live.files)
            except NginxError as exc:
                problems.append(str(exc))
        return problems

    # -- applying ---------------------------------------------------------------------

    def apply(self, only: Collection[str] | None = None) -> ApplyReport:
        """Bring the live sites in line with the site files; never raises for a site.

        A failure of the apply as a whole (a refused base, a full or failing disk, a
        daemon down) is the report's error, recorded like any result.
        """
        with self.ports.lock.held():
            try:
                report = self._apply(only)
            except (HostdError, OSError) as exc:  # OSError: a full or failing disk
                report = ApplyReport(generation=self._live_id(), error=str(exc))
                self.ports.events.emit("apply-error", error=str(exc))
        self._record(report)
        return report

    def _apply(self, only: Collection[str] | None) -> ApplyReport:
        report = self._apply_files(only)
        if only and report.error is None:
            self._reload_code(report)
        return report

    def _apply_files(self, only: Collection[str] | None) -> ApplyReport:
        live = self.live()
        if live is None:
            raise HostdError("no live generation yet: start the instance with `hostd up`")
        candidate = self.preview(only)
        early = self._start_early(candidate.selection.sites, live)
        try:
            return self._apply_candidate(live, candidate, only, early)
        finally:
            self.golive.stop_early(early)

    def _start_early(self, sites: Mapping[str, Site], live: Generation) -> frozenset[str]:
        """New sites boot while they are checked and their generation is written (not
        those with a release command: it runs before their app); where that cannot be
        (their folders, supervisord), they start with the generation, whose checks
        then say why."""
        new = {n: site for n, site in sites.items() if n not in live.sites and not site.release}
        if not new:
            return frozenset()
        try:
            self.ports.host.prepare(new)
            return self.golive.start_early(sites, new)
        except HostdError:
            return frozenset()

    def _apply_candidate(
        self, live: Generation, candidate: Preview, only: Collection[str] | None,
        early: frozenset[str],
    ) -> ApplyReport:  # fmt: skip
        rejected = dict(candidate.selection.rejected)
        sites = candidate.selection.sites
        if not candidate.plan.is_empty:
            sites, refused = self.validator.accepted(sites, live.sites, candidate.plan.touched)
            rejected.update(refused)
        rendered = self.renderer.files(sites)  # each site in its live slot
        if make_plan(live.files, rendered, live.sites, sites).is_empty:
            return _report(None, live, rejected, {}, only)
        live_b = self.renderer.slots_b
        moving = new_versions(rendered, live.files, set(sites) & set(live.sites))
        held = self._release(sites, moving | (set(sites) - set(live.sites)))
        if held:
            sites = reverted(sites, held, live.sites)
            moving -= set(held)
        switched = self.golive.switch(sites, live, flipped(live_b, moving), early=early)
        failures = {**held, **switched.failures}
        # a new version that failed its gate never went live; others go back now
        if switched.refusal is None and set(switched.failures) - moving:
            sites = reverted(sites, switched.failures, live.sites)
            back = held_back(self.renderer.slots_b, live_b, switched.failures)
            switched = self.golive.switch(sites, switched.generation, back)
            for name, why in switched.failures.items():
                failures[name] += f"; its last good version did not start either: {why}"
        if switched.refusal is not None:
            return self.golive.roll_back(live, switched, switched.refusal, only)
        generation = switched.generation
        gone = (set(live.sites) | set(failures)) - set(generation.sites)
        before = live_programs(live.files, live.sites)
        after = live_programs(generation.files, generation.sites)
        dropped = {p for p in before - after if site_of_program(p) not in moving}
        if gone or dropped:  # programs to remove (old slots drained as they switched)
            self.golive.remove_programs(set(live.sites) | set(generation.sites) | set(failures))
        self.ports.generations.prune()
        return _report(generation, live, rejected, failures, only)

    def _reload_code(self, report: ApplyReport) -> None:
        """Named sites whose configuration did not change get their code reloaded: a
        new version in the other slot, health-gated, switched to, the old one drained."""
        live = self.live()
        if live is None:
            return
        names = [
            r.name for r in report.sites if r.outcome is Outcome.UNCHANGED and r.name in live.sites
        ]
        if not names:
            return
        problems = self._redeploy(live, names)
        for index, result in enumerate(report.sites):
            if result.name not in names:
                continue
            problem = problems.get(result.name)
            report.sites[index] = (
                SiteResult(result.name, Outcome.RELOADED)
                if problem is None
                else SiteResult(result.name, Outcome.FAILED, problem, held=True)
            )
        report.generation = self._live_id()

    def _redeploy(self, live: Generation, names: Collection[str]) -> dict[str, str]:
        """Start `names` anew in their other slots; site -> why one stays where it was."""
        live_b = sites_on_b(live.files, live.sites)
        held = self._release(live.sites, names)
        names = [name for name in names if name not in held]
        if not names:
            return held
        switched = self.golive.switch(live.sites, live, flipped(live_b, names))
        if switched.refusal is not None:
            self.golive.roll_back(live, switched, switched.refusal, names)
            return {**held, **{name: f"rolled back: {switched.refusal}" for name in names}}
        problems = {
            name: f"the new version failed its health gate, the live one keeps serving: {why}"
            for name, why in switched.failures.items()
        }
        for name in names:
            if name not in problems and (why := self._restart_processes(live.sites[name])):
                problems[name] = why
        self.ports.generations.prune()
        return {**held, **problems}

    # -- rollback and warm slots ------------------------------------------------------

    def rollback(self, name: str) -> ApplyReport:
        """Return `name` to the version it served before its last switch: at once
        from its warm slot, else started anew in its other slot through the health
        gate (without its release command: that version's ran when it first went
        live). Raises RollbackError when there is nothing to return to."""
        with self.ports.lock.held():
            report = self._rollback(name)
        self._record(report)
        return report

    def _rollback(self, name: str) -> ApplyReport:
        live = self.live()
        if live is None or name not in live.sites:
            raise RollbackError(f"{name} is not a live site: there is no version to go back to")
        version = versions_of(live.files, live.sites)[name]
        back = version.previous
        if back is None:
            raise RollbackError(
                f"{name} has no previous version: version {version.number} is the only one "
                "it served since hostd kept versions"
            )
        previous = site_from_dict(back.site)
        warm = self._is_warm(live, name, back)
        if not warm and previous == live.sites[name]:
            raise RollbackError(
                f"{name}'s previous version {back.number} differs only in its code, and its "
                f"slot {back.slot} has stopped: hostd keeps no old code; put it back and "
                f"run `hostd reload {name}`"
            )
        self.ports.events.emit("rollback-started", site=name, version=back.number,
                               slot=back.slot, warm=warm)  # fmt: skip
        generation = self.golive.back_to_warm(name, previous, live) if warm else None
        how = "from its warm slot"
        if generation is None:
            how = "started anew"
            problem = self._cold_rollback(live, name, previous)
            if problem is not None:
                return ApplyReport(
                    self._live_id(), [SiteResult(name, Outcome.FAILED, problem, held=True)]
                )
            generation = self.live() or live
        self.ports.generations.prune()
        detail = f"version {back.number} serves again in slot {back.slot}, {how}"
        return ApplyReport(generation.id, [SiteResult(name, Outcome.ROLLED_BACK, detail)])

    def _cold_rollback(self, live: Generation, name: str, previous: Site) -> str | None:
        """The previous version of `name` started in its other slot; why it did not
        go live, or None."""
        sites = {**live.sites, name: previous}
        live_b = sites_on_b(live.files, live.sites)
        switched = self.golive.switch(sites, live, flipped(live_b, {name}), back_to=name)
        if switched.refusal is not None:
            self.golive.roll_back(live, switched, switched.refusal, {name})
            return f"rolled back: {switched.refusal}"
        if name in switched.failures:
            return (
                "the previous version failed its health gate, the live one keeps serving: "
                + switched.failures[name]
            )
        return None  # its worker processes restarted with the switch, as they changed

    def _is_warm(self, live: Generation, name: str, back: Previous) -> bool:
        """True if `name`'s previous version `back` still runs in its slot, warm."""
        if warm_path(name) not in live.files or not back.warm(time.time()):
            return False
        try:
            info = self.ports.supervisor.info(web_program(name, back.slot))
        except SupervisorError:
            return False
        return info is not None and back.runs_in(info.state, float(info.start), time.time())

    def stop_cold_slots(self) -> list[str]:
        """Stop each warm slot whose time is up; the sites whose slot stopped. Skipped
        (an empty list) while an apply runs: it does the same."""
        if not self._cold_slots():  # the lock only when there is something to do
            return []
        try:
            with self.ports.lock.held(timeout=0):
                return self._stop_cold_slots()
        except LockError:
            return []

    def _cold_slots(self) -> list[str]:
        """The sites whose warm slot's time is up."""
        live = self.live()
        if live is None or not warm_sites(live.files):
            return []
        versions = versions_of(live.files, live.sites)
        kept = kept_warm(live.files, versions, live.sites, time.time())
        return sorted(warm_sites(live.files) - warm_sites(kept))

    def failing_apps(self, names: Collection[str]) -> dict[str, str]:
        """Site -> why its live app does not answer, for each of `names` that does not
        within the start timeout; each asked as an apply's check asks a new version,
        through the slot its generation names. For apps started anew by a supervisord
        started again. Raises SupervisorError."""
        live = self.live()
        if live is None:
            return {}
        sites = [live.sites[name] for name in names if name in live.sites]
        on_b = sites_on_b(live.files, live.sites)
        return self.ports.apps.failures(sites, on_b, self.renderer.served_https(live.sites))

    def end_warm_slots(self) -> list[str]:
        """Stop every warm slot; the sites whose slot stopped. For a supervisord
        started afresh: it started them anew, on whatever code is on disk now, so
        they are not the previous versions any more (a rollback starts those anew)."""
        with self.ports.lock.held():
            return self._stop_cold_slots(every=True)

    def _stop_cold_slots(self, every: bool = False) -> list[str]:
        live = self.live()
        ended = sorted(warm_sites(live.files)) if live and every else self._cold_slots()
        if live is None or not ended:
            return []
        versions = versions_of(live.files, live.sites)
        kept = {} if every else kept_warm(live.files, versions, live.sites, time.time())
        for name in ended:
            if name in versions:
                versions[name] = cooled(versions[name])
        files = with_slots(live.files, kept, versions)
        generation = self.ports.generations.write(files, live.sites, base=live)
        self.ports.generations.switch(generation)
        self.golive.remove_programs(ended)
        for name in ended:
            self.ports.events.emit("warm-slot-stopped", site=name)
        return ended

    def _release(self, sites: Mapping[str, Site], names: Collection[str]) -> dict[str, str]:
        """Run the `release:` command of each of `names` that has one, before its new
        version starts; site -> why it is held at its live version. Each output goes
        to the site's hostd.log."""
        held: dict[str, str] = {}
        for name in sorted(names):
            site = sites[name]
            if site.release is None:
                continue
            done = self.ports.releases.run(site)
            self.ports.events.emit(
                "release" if done.ok else "release-failed", site=name,
                level=logging.INFO if done.ok else logging.WARNING,
                command=site.release, output=done.output[-4000:],
            )  # fmt: skip
            if not done.ok:
                lines = [line for line in done.output.splitlines() if line.strip()]
                held[name] = (
                    f"release command failed, the live version keeps serving: "
                    f"{lines[-1] if lines else done.output} (its output is in hostd.log)"
                )
        return held

    def _restart_processes(self, site: Site) -> str | None:
        """Restart the site's worker processes, which have no slots, on the new code."""
        for name, _ in site.processes:
            program = program_name(site.name, name)
            try:
                self.ports.supervisor.stop(program)
                self.ports.supervisor.start(program)
            except SupervisorError as exc:
                return f"could not restart process {name}: {exc}"
        return None

    def _live_id(self) -> int | None:
        try:
            live = self.live()
        except HostdError:
            return None
        return live.id if live else None

    def _site_names(self) -> set[str]:
        """The sites the folder names now; none if it cannot say (SitesFolderError)."""
        try:
            return set(self.ports.sites.load())
        except SitesFolderError:
            return set()

    def _record(self, report: ApplyReport) -> None:
        """Remember the report for `hostd status`, and log every change."""
        events = self.ports.events
        try:
            live = self.live()
            keep = set(live.sites if live else {}) | self._site_names()
            self.ports.journal.record(report, keep)
        except (HostdError, OSError) as exc:
            events.emit("state-not-recorded", error=str(exc))
        # one line per apply, for the figures (applies, last result, generation)
        events.emit("applied", level=logging.DEBUG, generation=report.generation, ok=report.ok)
        for result in report.sites:
            if result.outcome is Outcome.UNCHANGED:
                continue
            events.emit(
                f"site-{result.outcome.value.replace(' ', '-')}",
                level=logging.DEBUG,
                site=result.name,
                generation=report.generation,
                detail=result.detail or None,
                held=result.held or None,
            )


def held_back_by_rollback(
    loaded: Mapping[str, Site | SiteError], live: Generation | None
) -> dict[str, Site | SiteError]:
    """`loaded` with each site a rollback returned to its previous version held at
    that version while its file still says the version rolled back from."""
    out = dict(loaded)
    if live is None:
        return out
    for name, version in versions_of(live.files, live.sites).items():
        site = out.get(name)
        held = version.held_from  # the site file's version a rollback held back, if any
        if held is not None and isinstance(site, Site) and held == site.to_dict():
            out[name] = live.sites[name]
    return out


def new_versions(rendered: Files, live: Files, names: Collection[str]) -> set[str]:
    """The sites among `names` whose web programs change: each starts in its other
    slot. (A change of worker processes only restarts those, as it always did.)"""
    return {
        n
        for n in names
        if web_section(rendered.get(program_path(n), ""), n)
        != web_section(live.get(program_path(n), ""), n)
    }


def held_back(
    on_b: frozenset[str], live_b: frozenset[str], failed: Collection[str]
) -> frozenset[str]:
    """The sites in slot b once the `failed` ones return to their live slots."""
    return frozenset(n for n in on_b if n not in failed) | (live_b & set(failed))


_OUTCOME = {
    Change.ADDED: Outcome.ADDED,
    Change.CHANGED: Outcome.CHANGED,
    Change.REMOVED: Outcome.REMOVED,
    Change.UNCHANGED: Outcome.UNCHANGED,
}


def _report(
    generation: Generation | None,
    live: Generation,
    rejected: Mapping[str, SiteError],
    failures: Mapping[str, str],
    only: Collection[str] | None,
) -> ApplyReport:
    """One result per site, in name order; `generation` None when nothing changed."""
    final = generation or live
    plan = make_plan(live.files, final.files, live.sites, final.sites)
    outcomes = {p.name: _OUTCOME[p.change] for p in plan.sites}
    results: list[SiteResult] = []
    for name in sorted(set(outcomes) | set(rejected) | set(failures)):
        if only is not None and name not in only:
            continue
        held = name in final.sites
        if name in rejected:
            results.append(SiteResult(name, Outcome.REJECTED, str(rejected[name]), held))
        elif name in failures:
            results.append(SiteResult(name, Outcome.FAILED, failures[name], held))
        else:
            results.append(SiteResult(name, outcomes[name]))
    return ApplyReport(final.id, results)
