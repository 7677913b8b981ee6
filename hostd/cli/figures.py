"""`hostd stats SITE [--json]` and `hostd top`: the figures the running daemon collects
(`hostd.runtime.metrics` serves them; `hostd.edges.figures_source` reads them)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time

from hostd.cli.common import out, view_of
from hostd.core.figures_text import stats_text, top_text
from hostd.edges.figures_source import fetch_figures
from hostd.errors import EXIT_OK, UsageError

CLEAR = "\x1b[H\x1b[2J"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    stats = sub.add_parser(
        "stats", parents=[common], help="a site's traffic, errors, latency, restarts"
    )
    stats.add_argument("site", metavar="SITE")
    stats.add_argument("--json", action="store_true", help="machine-readable, with the series")
    stats.set_defaults(handler=run_stats)

    top = sub.add_parser("top", parents=[common], help="every site live: req/s, 5xx/s, p95")
    top.add_argument(
        "-d", "--delay", type=float, default=2.0, help="seconds between refreshes (default 2)"
    )
    top.add_argument(
        "-n", "--iterations", type=int, default=0, help="stop after N refreshes (0: Ctrl-C)"
    )
    top.set_defaults(handler=run_top)


def run_stats(args: argparse.Namespace) -> int:
    layout, _ = view_of(args)
    figures = fetch_figures(layout)
    sites = figures.get("sites", {})
    if args.site not in sites:
        known = ", ".join(sorted(sites)) or "none"
        raise UsageError(f"no figures for site {args.site!r} (live sites: {known})")
    if args.json:
        out(json.dumps({"site": args.site, "time": figures["time"], **sites[args.site]}, indent=2))
    else:
        out(stats_text(args.site, sites[args.site]))
    return EXIT_OK


def run_top(args: argparse.Namespace) -> int:
    if args.delay <= 0 or args.iterations < 0:
        raise UsageError("--delay must be positive and --iterations 0 or more")
    layout, _ = view_of(args)
    live = sys.stdout.isatty()
    shown = 0
    while True:
        width = shutil.get_terminal_size().columns if live else 1000
        frame = top_text(fetch_figures(layout), width)
        sys.stdout.write((CLEAR if live else "") + frame + "\n" + ("" if live else "\n"))
        sys.stdout.flush()
        shown += 1
        if args.iterations and shown >= args.iterations:
            return EXIT_OK
        time.sleep(args.delay)
