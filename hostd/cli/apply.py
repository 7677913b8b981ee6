"""`hostd reload [SITE...]`: apply the site files now, through the running instance's
transaction."""

from __future__ import annotations

import argparse
import json

from hostd.cli.common import home_of, out, root_of
from hostd.core.machine_output import reload_json
from hostd.core.report import report_lines
from hostd.edges.inputs import running_instance
from hostd.edges.reload_queue import ReloadQueue
from hostd.errors import EXIT_OK, EXIT_PROBLEM
from hostd.runtime.reloads import reload_named
from hostd.runtime.wiring import make_reconciler


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    reload = sub.add_parser("reload", parents=[common], help="apply the site files now")
    reload.add_argument("sites", nargs="*", metavar="SITE", help="only these sites")
    reload.add_argument("--json", action="store_true", help="machine-readable output")
    reload.set_defaults(handler=run_reload)


def run_reload(args: argparse.Namespace) -> int:
    """Here, not in the daemon (`hostd.cli.handoff` tried that first): a full reload,
    or named sites when no daemon takes requests."""
    layout, settings = running_instance(home_of(args), root_of(args))
    if args.sites:
        reply = reload_named(make_reconciler(layout, settings), layout, args.sites, args.json)
        for line in reply.out:
            out(line)
        return int(reply.code)
    reconciler = make_reconciler(layout, settings)

    def apply() -> tuple[dict[str, list[str]], bool]:  # calls during an apply share the next
        report = reconciler.apply(None)
        text = [line.text for line in report_lines(report)]
        return {"text": text, "json": [json.dumps(reload_json(report), indent=2)]}, report.ok

    forms, ok = ReloadQueue(layout.run_dir, layout.apply_lock).coalesced(apply)
    for line in forms["json" if args.json else "text"]:
        out(line)
    return EXIT_OK if ok else EXIT_PROBLEM
