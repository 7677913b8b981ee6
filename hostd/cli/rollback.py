"""`hostd rollback SITE`: the site serves again the version it served before its
last switch, through the running instance's transaction."""

from __future__ import annotations

import argparse
import json

from hostd.cli.common import home_of, out, print_report, root_of
from hostd.core.machine_output import reload_json
from hostd.edges.inputs import running_instance
from hostd.errors import EXIT_OK, EXIT_PROBLEM, UsageError
from hostd.runtime.wiring import make_reconciler


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    rollback = sub.add_parser(
        "rollback", parents=[common],
        help="serve a site's previous version again (at once while its slot is warm)",
    )  # fmt: skip
    rollback.add_argument("site", metavar="SITE", help="the site to roll back")
    rollback.add_argument("--json", action="store_true", help="machine-readable output")
    rollback.set_defaults(handler=run_rollback)


def run_rollback(args: argparse.Namespace) -> int:
    layout, settings = running_instance(home_of(args), root_of(args))
    reconciler = make_reconciler(layout, settings)
    live = reconciler.live()
    known = sorted(live.sites if live else {})
    if args.site not in known:
        raise UsageError(f"unknown site: {args.site} (live: {', '.join(known) or 'none'})")
    report = reconciler.rollback(args.site)
    if args.json:
        data = reload_json(report)
        data["command"] = "rollback"
        out(json.dumps(data, indent=2))
    else:
        print_report(report)
    return EXIT_OK if report.ok else EXIT_PROBLEM
