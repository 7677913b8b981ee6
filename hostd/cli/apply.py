"""`hostd reload [SITE...]`: apply the site files now, through the running instance's
transaction."""

from __future__ import annotations

import argparse
import json

from hostd.cli.common import home_of, out, print_report, root_of
from hostd.core.machine_output import reload_json
from hostd.core.report import report_lines
from hostd.edges.inputs import load_sites, running_instance
from hostd.edges.reload_queue import ReloadQueue
from hostd.errors import EXIT_OK, EXIT_PROBLEM, UsageError
from hostd.runtime.wiring import make_reconciler


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    reload = sub.add_parser("reload", parents=[common], help="apply the site files now")
    reload.add_argument("sites", nargs="*", metavar="SITE", help="only these sites")
    reload.add_argument("--json", action="store_true", help="machine-readable output")
    reload.set_defaults(handler=run_reload)


def run_reload(args: argparse.Namespace) -> int:
    layout, settings = running_instance(home_of(args), root_of(args))
    reconciler = make_reconciler(layout, settings)
    only = set(args.sites) or None
    if only:
        live = reconciler.live()
        known = set(load_sites(layout.sites_dir)) | set(live.sites if live else {})
        unknown = sorted(only - known)
        if unknown:
            raise UsageError(
                f"unknown site(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
    if only is None:  # calls that arrive during an apply share the next one

        def apply() -> tuple[dict[str, list[str]], bool]:
            report = reconciler.apply(None)
            text = [line.text for line in report_lines(report)]
            return {"text": text, "json": [json.dumps(reload_json(report), indent=2)]}, report.ok

        forms, ok = ReloadQueue(layout.run_dir, layout.apply_lock).coalesced(apply)
        for line in forms["json" if args.json else "text"]:
            out(line)
        return EXIT_OK if ok else EXIT_PROBLEM
    report = reconciler.apply(only)
    if args.json:
        out(json.dumps(reload_json(report), indent=2))
    else:
        print_report(report)
    return EXIT_OK if report.ok else EXIT_PROBLEM
