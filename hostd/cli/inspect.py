"""`hostd check`, `hostd plan` and `hostd status`: looking, never touching.

They read through `hostd.queries` and the records; none builds the transaction or
runs a process, so they work without a running instance and without nginx.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hostd.cli.common import out, view_of
from hostd.core.machine_output import check_json, plan_json
from hostd.core.plan import Change, plan_diff
from hostd.core.selection import select_sites
from hostd.core.timing import local_time, uptime
from hostd.edges.generations import GenerationStore
from hostd.edges.inputs import load_site
from hostd.errors import EXIT_OK, EXIT_PROBLEM, SiteError
from hostd.queries.plan import pending, sites_now
from hostd.queries.status import SiteStatus, collect_status


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    check = sub.add_parser("check", parents=[common], help="validate site files, change nothing")
    check.add_argument("files", nargs="*", metavar="FILE")
    check.add_argument("--sites", dest="sites_dir", help="folder of site files")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=run_check)

    plan = sub.add_parser("plan", parents=[common], help="show what reload would change")
    plan.add_argument("--sites", dest="sites_dir", help="folder of site files")
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.set_defaults(handler=run_plan)

    status = sub.add_parser("status", parents=[common], help="per-site state")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=run_status)


def run_check(args: argparse.Namespace) -> int:
    layout, _ = view_of(args)
    live = GenerationStore(layout.state_dir).live() if layout.state_dir.exists() else None
    now = sites_now(layout, live)
    loaded = dict(now.sites) if now.problem is None else {}
    for file in args.files:
        path = Path(file).absolute()
        try:
            loaded[path.stem] = load_site(path)
        except SiteError as exc:
            loaded[path.stem] = exc
    selection = select_sites(loaded, live.sites if live else {})
    wanted = {Path(f).stem for f in args.files} if args.files else set(loaded)
    code = EXIT_PROBLEM if wanted & set(selection.rejected) or now.problem else EXIT_OK
    if args.json:
        document = check_json(wanted, selection.sites, selection.rejected)
        if now.problem:
            document.update(ok=False, sites_folder=now.problem)
        out(json.dumps(document, indent=2))
        return code
    if now.problem:
        out(f"sites folder: {now.problem}")
    for name in sorted(wanted):
        if name in selection.rejected:
            out(f"invalid: {selection.rejected[name]}")
        elif name in selection.sites:
            out(f"ok: {name} ({', '.join(selection.sites[name].domains)})")
    if not loaded and not now.problem:
        out(f"no site files in {layout.sites_dir}")
    return code


def run_plan(args: argparse.Namespace) -> int:
    preview, problem = pending(*view_of(args))
    code = EXIT_PROBLEM if problem else EXIT_OK
    if args.json:
        diff = plan_diff(preview.live_files, preview.files)
        document = plan_json(preview.plan, preview.selection.rejected, diff)
        if problem:
            document["sites_folder"] = problem
        out(json.dumps(document, indent=2))
        return code
    if problem:
        out(f"sites folder: {problem}")
    for site in preview.plan.sites:
        if site.name in preview.selection.rejected:
            continue
        if site.change is not Change.UNCHANGED:
            parts = [
                part
                for part, on in (("nginx", site.nginx_changed), ("program", site.program_changed))
                if on
            ]
            out(f"{site.name}: {site.change.value} ({', '.join(parts)})")
        else:
            out(f"{site.name}: unchanged")
    for name, error in sorted(preview.selection.rejected.items()):
        out(f"{name}: rejected: {error}")
    diff = plan_diff(preview.live_files, preview.files)
    if diff:
        out("")
        sys.stdout.write(diff)
    elif preview.plan.is_empty:
        out("nothing to change")
    return code


def version_line(site: SiteStatus) -> str:
    """Which version serves, from which slot, and what a rollback returns to."""
    text = f"version {site.version} live in slot {site.slot}"
    back = site.previous
    if back is not None:
        how = f"warm until {local_time(back['warm_until'], '%H:%M:%S')}" if back["warm"] else "cold"
        text += f"; previous: version {back['version']} in slot {back['slot']} ({how})"
    if site.held_by_rollback:
        text += "; rolled back: the site file's version waits until the file changes"
    return text


def run_status(args: argparse.Namespace) -> int:
    status = collect_status(*view_of(args))
    if args.json:
        out(json.dumps(status.to_json(), indent=2))
        return EXIT_OK
    out(f"generation {status.generation}; nginx: {status.nginx}; supervisord: {status.supervisor}")
    out(f"hostd: {status.daemon}")
    for warning in status.warnings:
        out(f"warning: {warning}")
    for site in status.sites:
        pid = f" pid {site.pid}" if site.pid else ""
        pid += f" slot {site.slot}" if site.slot else ""
        out(
            f"{site.name:<20} {site.program}{pid} up {uptime(site.since)}  "
            f"{' '.join(site.domains) or '-'}  last apply: {site.outcome or '-'}"
            + (f"  certificate until {site.cert_expires}" if site.cert_expires else "")
        )
        for process, info in site.processes.items():
            pid = f" pid {info['pid']}" if info["pid"] else ""
            looping = " (crash loop)" if info["crash_loop"] else ""
            out(f"{'':<20} process {process}: {info['program']}{pid}{looping}")
        if site.version is not None:
            out(f"{'':<20} {version_line(site)}")
        if site.paused is not None:
            out(f"{'':<20} paused (503 maintenance page): {site.paused}")
        if site.crash_loop:
            loop = site.crash_loop
            when = local_time(loop["next_attempt"], "%H:%M:%S")
            out(f"{'':<20} crash loop: {loop['reason']}; next start at {when}")
        if site.error:
            out(f"{'':<20} error: {site.error}")
        elif site.last_error:
            out(f"{'':<20} last error: {site.last_error}")
    return EXIT_OK
