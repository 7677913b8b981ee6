"""`hostd doctor --render`: every site rendered into a scratch generation and validated
as an apply validates a candidate (`hostd.apply.candidate.preview`, then
`hostd.apply.validate.Validator`: `nginx -t` and Supervisor's parser on a scratch copy),
with nothing live: all of it is checked, and nothing is switched, started or reloaded.
The check to run after upgrading nginx, certbot, Python or hostd.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hostd.apply.candidate import Renderer, preview
from hostd.apply.reconciler import held_back_by_rollback
from hostd.apply.validate import Validator
from hostd.core.doctor import Finding, Level
from hostd.core.generation import Files, Generation
from hostd.core.layout import Layout
from hostd.core.settings import Settings
from hostd.core.site import Site
from hostd.edges.certstore import CertFolder
from hostd.edges.checker import ScratchChecker
from hostd.edges.generations import GenerationStore
from hostd.edges.host import Gunicorns, LocalHost, host_facts
from hostd.edges.inputs import SiteFolder, builtin_site
from hostd.edges.runner import SubprocessRunner
from hostd.errors import HostdError, SitesFolderError
from hostd.runtime.wiring import nginx_of


class NothingLive:
    """The generations of a rehearsal: none is live, so every file is validated; none
    is ever written or switched."""

    def live(self) -> Generation | None:
        return None

    def write(self, files: Files, sites: Mapping[str, Site], base: Generation | None) -> Generation:
        raise HostdError("a rehearsal writes no generation")

    def switch(self, generation: Generation) -> None:
        raise HostdError("a rehearsal switches no generation")

    def prune(self) -> None:
        pass


def rehearse(layout: Layout, settings: Settings) -> list[Finding]:
    """One finding per site file (and hostd's dashboard): it renders and nginx and
    Supervisor take it, or why not."""
    try:
        live = GenerationStore(layout.state_dir).live() if layout.state_dir.exists() else None
    except HostdError:
        live = None
    if live is None:
        return [
            Finding(
                "render",
                Level.PROBLEM,
                f"no generation has gone live from {layout.state_dir} yet",
                "start hostd once (hostd up, or hostd watch); hostd check validates "
                "the site files meanwhile",
            )
        ]
    live_sites = dict(live.sites)
    folder = SiteFolder(layout.sites_dir, lambda: list(live_sites), layout, read_only=True)
    try:
        loaded = folder.load()
    except SitesFolderError as exc:
        return [Finding("render", Level.PROBLEM, str(exc), f"create {layout.sites_dir}")]
    gunicorns = Gunicorns()
    facts = host_facts(layout, settings, gunicorns)
    host = LocalHost(facts, gunicorns)
    renderer = Renderer(facts, host, CertFolder(layout))
    scratch = Path(tempfile.mkdtemp(prefix="render-", dir=_scratch_parent(layout)))
    try:
        checker = ScratchChecker(scratch / "check", nginx_of(layout, facts, SubprocessRunner()))
        validator = Validator(renderer, checker, host, NothingLive())
        # what an apply would render: a site a rollback holds stays at its version
        held = held_back_by_rollback(loaded, live)
        candidate = preview(held, live, builtin_site(layout), renderer)
        sites = candidate.selection.sites
        try:
            accepted, refused = validator.accepted(sites, {}, set(sites))
        except HostdError as exc:  # even no site is refused: the base configuration
            return [
                Finding(
                    "render",
                    Level.PROBLEM,
                    str(exc),
                    "nginx -t or supervisord cannot take hostd's own files: "
                    "see the message; reinstall or downgrade what was upgraded",
                )
            ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    found = []
    for name, error in sorted({**candidate.selection.rejected, **refused}.items()):
        found.append(
            Finding(
                f"render: {name}",
                Level.PROBLEM,
                str(error),
                "fix the site file; hostd check and hostd plan say more",
            )
        )
    for name in sorted(set(accepted) - set(candidate.selection.rejected)):
        found.append(
            Finding(f"render: {name}", Level.OK, "renders, and nginx -t and Supervisor take it")
        )
    if not found:
        found.append(
            Finding(
                "render",
                Level.OK,
                f"no site files in {layout.sites_dir}; hostd's own configuration validates",
            )
        )
    return found


def _scratch_parent(layout: Layout) -> Path | None:
    """Beside the apply's own scratch folder if it can be, else the temporary folder."""
    return layout.state_dir if layout.state_dir.is_dir() else None
