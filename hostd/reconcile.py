"""The one orchestrator: site files in, live sites out, as a transaction.

    load -> select -> render -> plan -> validate (isolating bad sites) -> write
         -> switch -> start changed programs -> reload nginx, verify it (while the
         apps boot) -> verify the apps (a failing one goes back) -> remove dropped
         programs -> record

Any site that fails a step is held at its last good version (or left out if
new) while every other change goes live. If nginx will not take the result,
everything switches back to the previous generation.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from hostd.certs import servable, tls_sites
from hostd.crashloop import CRASH_LOOPS, Action, CrashLoopGuard, crash_loops_json
from hostd.dashboard.site import with_dashboard
from hostd.errors import (
    HostdError,
    LockError,
    NginxConfigError,
    NginxError,
    SiteError,
    SupervisorError,
)
from hostd.events import EventLog
from hostd.files import SUPERVISOR, Files
from hostd.folders import prepare_site_folders, unknown_users
from hostd.graceful import reload_code
from hostd.instance import Instance
from hostd.layout import Layout
from hostd.lock import held_lock
from hostd.model import Site
from hostd.nginx import Nginx
from hostd.plan import Change, Plan, Selection, make_plan, select_sites
from hostd.render import gunicorn_of, render_shared, render_site, served_fingerprint
from hostd.report import ApplyReport, Outcome, SiteResult
from hostd.runner import Runner
from hostd.sites import load_sites
from hostd.state import record_report
from hostd.store import Generation, GenerationStore, write_atomic, write_tree
from hostd.supervisor import Supervisor, check_config
from hostd.verify import AppVerifier

PROGRAMS = f"{SUPERVISOR}programs/"


@dataclass
class Edges:
    store: GenerationStore
    nginx: Nginx
    supervisor: Supervisor
    events: EventLog
    runner: Runner


@dataclass(frozen=True)
class Preview:
    """What an apply would do now, without doing it."""

    selection: Selection
    plan: Plan
    live_files: Files
    files: Files


class Reconciler:
    def __init__(
        self,
        layout: Layout,
        instance: Instance,
        edges: Edges,
        *,
        start_timeout: float = 30.0,
        control_socket: Callable[[Path], bool] = lambda path: False,
    ) -> None:
        self.layout = layout
        self.instance = instance
        self.edges = edges
        self.start_timeout = start_timeout
        self.control_socket = control_socket
        self._rendered: dict[tuple[object, ...], dict[str, str]] = {}

    # -- reading ------------------------------------------------------------

    def live(self) -> Generation | None:
        return self.edges.store.live()

    def preview(self, only: Collection[str] | None = None) -> Preview:
        live = self.live()
        live_sites = live.sites if live else {}
        live_files = live.files if live else {}
        selection = select_sites(load_sites(self.layout.sites_dir), live_sites, only)
        selection = with_dashboard(selection, self.layout, live_sites, only)
        new = {n: s for n, s in selection.sites.items() if live_sites.get(n) != s}
        if refused := unknown_users(new, self.instance):
            sites = _reverted(selection.sites, refused, live_sites)
            selection = Selection(sites, {**selection.rejected, **refused})
        files = self._render(selection.sites)
        return Preview(selection, make_plan(live_files, files, live_sites, selection.sites),
                       live_files, files)  # fmt: skip

    # -- applying -----------------------------------------------------------

    def boot(self) -> Generation:
        """Make the last good sites live under the current settings (daemons not up yet).

        If they no longer pass validation, start empty; the next apply brings back
        every site that is still good.
        """
        with held_lock(self.layout.apply_lock):
            live = self.live()
            sites = live.sites if live else {}
            files = self._render(sites)
            if live is not None and files == live.files:
                return live
            if sites and (error := self._check(sites)) is not None:
                self.edges.events.emit("boot-without-sites", error=error)
                sites, files = {}, self._render({})
            if (error := self._check(sites)) is not None:
                raise HostdError(f"cannot start: the base configuration is refused: {error}")
            generation = self.edges.store.write(files, sites, base=live)
            self.edges.store.switch(generation)
            return generation

    def apply(self, only: Collection[str] | None = None) -> ApplyReport:
        """Bring the live sites in line with the site files; never raises for a site."""
        with held_lock(self.layout.apply_lock):
            try:
                report = self._apply(only)
            except (HostdError, OSError) as exc:  # OSError: a full or failing disk
                live = self.live()
                report = ApplyReport(generation=live.id if live else None, error=str(exc))
                self.edges.events.emit("apply-error", error=str(exc))
        live = self.live()
        keep = set(live.sites if live else {}) | set(load_sites(self.layout.sites_dir))
        try:
            record_report(self.layout.state_file, report, keep)
        except OSError as exc:
            self.edges.events.emit("state-not-recorded", error=str(exc))
        for result in report.sites:
            if result.outcome is Outcome.UNCHANGED:
                continue
            self.edges.events.emit(
                f"site-{result.outcome.value}",
                level=logging.DEBUG,
                site=result.name,
                generation=report.generation,
                detail=result.detail or None,
                held=result.held or None,
            )
        return report

    def _apply(self, only: Collection[str] | None) -> ApplyReport:
        report = self._apply_files(only)
        if only and report.error is None:
            self._reload_code(report)
        return report

    def _reload_code(self, report: ApplyReport) -> None:
        """Named sites whose configuration did not change get their code reloaded."""
        live = self.live()
        for index, result in enumerate(report.sites):
            if result.outcome is not Outcome.UNCHANGED or live is None:
                continue
            site = live.sites[result.name]
            problem = reload_code(site, self.instance, self.edges.runner, self.edges.supervisor)
            report.sites[index] = (
                SiteResult(site.name, Outcome.RELOADED)
                if problem is None
                else SiteResult(site.name, Outcome.FAILED, problem, held=True)
            )

    def resume(self) -> list[str]:
        """After hostd starts next to running daemons: every live site known to
        Supervisor and started, nginx serving the live generation. What went wrong."""
        live = self.live()
        if live is None:
            return []
        problems: list[str] = []
        with held_lock(self.layout.apply_lock):
            prepare_site_folders(live.sites, self.instance)
            try:
                self._start_programs(live.sites)
                for name, info in self.edges.supervisor.all_info().items():
                    if name in live.sites and info.state in ("STOPPED", "EXITED", "FATAL"):
                        self.edges.supervisor.start(name)
            except SupervisorError as exc:
                problems.append(str(exc))
            try:
                self._reload_nginx(live.files)
            except NginxError as exc:
                problems.append(str(exc))
        return problems

    def guard_programs(self, guard: CrashLoopGuard) -> None:
        """Stop programs that crash-loop; start them again when their delay is over."""
        try:
            with held_lock(self.layout.apply_lock, timeout=0):
                self._guard_programs(guard)
        except (LockError, SupervisorError):
            return  # an apply is running, or supervisord is down: next time

    def _guard_programs(self, guard: CrashLoopGuard) -> None:
        live = self.live()
        sites = live.sites if live else {}
        supervisor = self.edges.supervisor
        now = time.time()
        for name, info in supervisor.all_info().items():
            if name not in sites:
                continue
            action = guard.observe(name, info.state, float(info.start), now)
            retry = guard.retries.get(name)
            if action is Action.STOP and retry is not None:
                supervisor.stop(name)
                self.edges.events.emit(
                    "crash-loop", site=name, reason=retry.reason,
                    next_attempt=_iso(retry.next_at), attempts=retry.attempts,
                )  # fmt: skip
            elif action is Action.START and retry is not None:
                supervisor.start(name)
                self.edges.events.emit("crash-loop-retry", site=name, attempt=retry.attempts)
        for name in set(guard.retries) - set(sites):
            guard.forget(name)
        text = crash_loops_json(guard)
        path = self.layout.state_dir / CRASH_LOOPS
        if not path.exists() or path.read_text() != text:
            write_atomic(path, text, 0o644)

    def _apply_files(self, only: Collection[str] | None) -> ApplyReport:
        live = self.live()
        if live is None:
            raise HostdError("no live generation yet: start the instance with `hostd up`")
        preview = self.preview(only)
        rejected = dict(preview.selection.rejected)
        sites = preview.selection.sites
        if not preview.plan.is_empty:
            sites, refused = self._validated(sites, live.sites, preview.plan)
            rejected.update(refused)
        if make_plan(live.files, self._render(sites), live.sites, sites).is_empty:
            return _report(None, live, rejected, {}, only)
        generation, failures, refusal = self._go_live(sites, live)
        if refusal is None and failures:
            sites = _reverted(sites, failures, live.sites)
            generation, again, refusal = self._go_live(sites, generation)
            for name, why in again.items():
                failures[name] += f"; its last good version did not start either: {why}"
        if refusal is not None:
            return self._roll_back(live, generation, refusal, only)
        self._remove_programs(set(live.sites) | set(generation.sites) | set(failures))
        self.edges.store.prune()
        return _report(generation, live, rejected, failures, only)

    def _render(self, sites: Mapping[str, Site], root: Path | None = None) -> dict[str, str]:
        """The files serving `sites` when read from `root` (default: the live link)."""
        venvs = {gunicorn_of(site, self.instance) for site in sites.values() if site.app.venv}
        newer = {path for path in venvs if self.control_socket(path)}
        certificates = {
            name: cert
            for name, site in tls_sites(sites).items()
            if (cert := servable(self.layout, site)) is not None
        }
        instance = replace(
            self.instance,
            control_socket_gunicorns=self.instance.control_socket_gunicorns | newer,
            config_root=root,
            certificates=certificates,
        )
        files: dict[str, str] = {}
        for name in sorted(sites):
            files.update(self._site_files(sites[name], instance))
        return {**files, **render_shared(files, instance)}

    def _site_files(self, site: Site, instance: Instance) -> dict[str, str]:
        """render_site, remembered: an apply renders every site several times."""
        key = (site, instance.certificates.get(site.name), instance.control_socket_gunicorns)
        if key not in self._rendered:
            if len(self._rendered) > 4096:
                self._rendered.clear()
            self._rendered[key] = render_site(site, instance)
        return self._rendered[key]

    def _check(self, sites: Mapping[str, Site]) -> str | None:
        """Why nginx or Supervisor refuse a generation serving `sites`, or None.

        Program files the live generation holds passed Supervisor's parser when they
        went live; only new and changed ones are parsed again. (Its handling of
        includes is quadratic: 1,000 program files take 3.5 s.)
        """
        prepare_site_folders(sites, self.instance)
        scratch = self.layout.state_dir / "check"
        shutil.rmtree(scratch, ignore_errors=True)
        live = self.live()
        checked = live.files if live else {}
        files = {
            rel: text
            for rel, text in self._render(sites, root=scratch).items()
            if not (rel.startswith(PROGRAMS) and checked.get(rel) == text)
        }
        try:
            write_tree(scratch, files)
            self.edges.nginx.check(scratch / "nginx" / "nginx.conf")
            check_config(scratch / "supervisor" / "supervisord.conf")
        except (NginxConfigError, SupervisorError) as exc:
            return str(exc)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return None

    def _validated(
        self, sites: dict[str, Site], live: Mapping[str, Site], plan: Plan
    ) -> tuple[dict[str, Site], dict[str, SiteError]]:
        """`sites` without the changes nginx or Supervisor refuse, one site at a time."""
        if self._check(sites) is None:
            return sites, {}
        changed = plan.touched
        good = {n: s for n, s in sites.items() if n not in changed}
        good.update({n: live[n] for n in changed if n in live})
        if (error := self._check(good)) is not None:
            raise HostdError(f"the configuration is refused even without this change: {error}")
        refused: dict[str, SiteError] = {}
        for name in changed:
            trial = {**good, name: sites[name]}
            if (error := self._check(trial)) is None:
                good = trial
            else:
                refused[name] = SiteError(f"refused by the server: {error}", file=sites[name].file)
        return good, refused

    def _go_live(
        self, sites: Mapping[str, Site], current: Generation
    ) -> tuple[Generation, dict[str, str], NginxError | None]:
        """Write and switch to a generation serving `sites`, start what changed, reload
        nginx while the apps boot, then verify them. Returns the generation, the apps
        that did not come up, and nginx's refusal if it would not take the generation."""
        generation = self.edges.store.write(self._render(sites), sites, base=current)
        self.edges.store.switch(generation)
        started = self._start_programs(set(current.sites) | set(sites))
        try:
            self._reload_nginx(generation.files)
        except NginxError as exc:
            return generation, {}, exc
        verifier = AppVerifier(self.layout, self.edges.supervisor, self.start_timeout)
        failures = verifier.failures([sites[n] for n in started if n in sites])
        return generation, failures, None

    def _start_programs(self, ours: Collection[str]) -> list[str]:
        """Apply Supervisor's pending changes for added and changed site programs."""
        supervisor = self.edges.supervisor
        diff = supervisor.reload_config()
        for group in diff.changed:
            if group in ours:
                supervisor.remove(group)
                supervisor.add(group)
        for group in diff.added:
            if group in ours:
                supervisor.add(group)
        return [g for g in (*diff.changed, *diff.added) if g in ours]

    def _remove_programs(self, ours: Collection[str]) -> None:
        diff = self.edges.supervisor.reload_config()
        for group in diff.removed:
            if group in ours:
                self.edges.supervisor.remove(group)

    def _reload_nginx(self, files: Files) -> None:
        expected = served_fingerprint(files)
        if self.edges.nginx.served_fingerprint() != expected:
            self.edges.nginx.reload(expected)

    def _roll_back(
        self, live: Generation, failed: Generation, error: NginxError,
        only: Collection[str] | None,
    ) -> ApplyReport:  # fmt: skip
        """Switch everything back to `live` after nginx refused `failed`."""
        self.edges.events.emit("rollback", generation=failed.id, to=live.id, error=str(error))
        self.edges.store.switch(live)
        ours = set(live.sites) | set(failed.sites)
        self._start_programs(ours)
        self._remove_programs(ours)
        detail = f"rolled back: {error}"
        try:
            self._reload_nginx(live.files)
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


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(when))


def _reverted(
    sites: Mapping[str, Site], names: Collection[str], live: Mapping[str, Site]
) -> dict[str, Site]:
    """`sites` with each of `names` back at its live version, or left out if new."""
    out = {n: s for n, s in sites.items() if n not in names}
    out.update({n: live[n] for n in names if n in live})
    return out


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
