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
from collections.abc import Collection, Mapping

from hostd.apply.candidate import Preview, Renderer, preview
from hostd.apply.golive import GoLive
from hostd.apply.ports import Ports
from hostd.apply.validate import Validator
from hostd.core.builtin import Builtin
from hostd.core.facts import HostFacts
from hostd.core.generation import Generation
from hostd.core.plan import Change, make_plan
from hostd.core.processes import site_of_program
from hostd.core.program import DOWN_STATES
from hostd.core.report import ApplyReport, Outcome, SiteResult
from hostd.core.selection import reverted
from hostd.errors import HostdError, NginxError, SiteError, SitesFolderError, SupervisorError


class Reconciler:
    """Applies the site files over `ports`, rendering with `facts`.

    `builtin` is hostd's own dashboard as the runtime last read it from hostd.toml;
    the runtime sets it anew when it reads hostd.toml again.
    """

    def __init__(self, ports: Ports, facts: HostFacts, builtin: Builtin) -> None:
        self.ports = ports
        self.facts = facts
        self.builtin = builtin
        self.renderer = Renderer(facts, ports.host, ports.certs)
        self.validator = Validator(self.renderer, ports.checker, ports.host, ports.generations)
        self.golive = GoLive(
            self.renderer, ports.generations, ports.supervisor, ports.nginx, ports.apps,
            ports.events,
        )  # fmt: skip

    def live(self) -> Generation | None:
        return self.ports.generations.live()

    def preview(self, only: Collection[str] | None = None) -> Preview:
        """What an apply of `only` (default: every site) would do now."""
        loaded = self.ports.sites.load()
        return preview(loaded, self.live(), self.builtin, self.renderer, only)

    # -- starting ---------------------------------------------------------------------

    def boot(self) -> Generation:
        """Make the last good sites live under the current settings (daemons not up yet).

        If they no longer pass validation, start empty; the next apply brings back
        every site that is still good.
        """
        with self.ports.lock.held():
            live = self.live()
            sites = live.sites if live else {}
            files = self.renderer.files(sites)
            if live is not None and files == live.files:
                return live
            if sites and (error := self.validator.refusal(sites)) is not None:
                self.ports.events.emit("boot-without-sites", error=error)
                sites, files = {}, self.renderer.files({})
            if (error := self.validator.refusal(sites)) is not None:
                raise HostdError(f"cannot start: the base configuration is refused: {error}")
            generation = self.ports.generations.write(files, sites, base=live)
            self.ports.generations.switch(generation)
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
            except SupervisorError as exc:
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
        rejected = dict(candidate.selection.rejected)
        sites = candidate.selection.sites
        if not candidate.plan.is_empty:
            sites, refused = self.validator.accepted(sites, live.sites, candidate.plan.touched)
            rejected.update(refused)
        if make_plan(live.files, self.renderer.files(sites), live.sites, sites).is_empty:
            return _report(None, live, rejected, {}, only)
        switched = self.golive.switch(sites, live)
        failures = dict(switched.failures)
        if switched.refusal is None and failures:
            sites = reverted(sites, failures, live.sites)
            switched = self.golive.switch(sites, switched.generation)
            for name, why in switched.failures.items():
                failures[name] += f"; its last good version did not start either: {why}"
        if switched.refusal is not None:
            return self.golive.roll_back(live, switched.generation, switched.refusal, only)
        generation = switched.generation
        if (set(live.sites) | set(failures)) - set(generation.sites):  # else none to remove
            self.golive.remove_programs(set(live.sites) | set(generation.sites) | set(failures))
        self.ports.generations.prune()
        return _report(generation, live, rejected, failures, only)

    def _reload_code(self, report: ApplyReport) -> None:
        """Named sites whose configuration did not change get their code reloaded."""
        live = self.live()
        for index, result in enumerate(report.sites):
            if result.outcome is not Outcome.UNCHANGED or live is None:
                continue
            site = live.sites[result.name]
            problem = self.ports.code.reload(site)
            report.sites[index] = (
                SiteResult(site.name, Outcome.RELOADED)
                if problem is None
                else SiteResult(site.name, Outcome.FAILED, problem, held=True)
            )

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
                f"site-{result.outcome.value}",
                level=logging.DEBUG,
                site=result.name,
                generation=report.generation,
                detail=result.detail or None,
                held=result.held or None,
            )


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
