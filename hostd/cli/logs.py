"""`hostd logs SITE`: a site's logs, merged in time order, followed; and `--rotate`."""

from __future__ import annotations

import argparse
import re
import time

from hostd.cli.common import out, view_of
from hostd.core.layout import Layout, Mode
from hostd.core.logline import SOURCES, LogFilter, parse_since
from hostd.core.logrotate import config_path
from hostd.edges.host import tool
from hostd.edges.logfiles import follow, read_history, site_log_folders, site_logs
from hostd.edges.logrotate import rotate
from hostd.edges.runner import SubprocessRunner
from hostd.errors import EXIT_OK, UsageError

DEFAULT_LINES = 20  # hostd logs -n


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    logs = sub.add_parser(
        "logs",
        parents=[common],
        help="a site's logs; or rotate every site's logs",
        description="A site's app, access, error and hostd logs, each line prefixed by its "
        "source and merged in time order.",
    )
    logs.add_argument("site", metavar="SITE", nargs="?")
    logs.add_argument(
        "-n",
        "--lines",
        type=int,
        help=f"last N lines of each log (default {DEFAULT_LINES}; with --since or --grep: all)",
    )
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C ends)"
    )
    logs.add_argument(
        "--source",
        action="append",
        metavar="SOURCE",
        help=f"only this log: {', '.join(SOURCES)} or a worker process's name "
        "(repeatable; default: all)",
    )
    logs.add_argument(
        "--since",
        type=_since,
        metavar="WHEN",
        help="only lines written since WHEN: 30s, 10m, 2h, 1d, 1w ago or an ISO time "
        "(local unless it has a zone); undated lines count with the line before",
    )
    logs.add_argument(
        "--grep", type=_pattern, metavar="PATTERN", help="only lines matching this regex"
    )
    logs.add_argument(
        "--rotate",
        action="store_true",
        help="embedded: rotate every site's logs now with logrotate (what is due)",
    )
    logs.add_argument("--force", action="store_true", help="with --rotate: rotate even if not due")
    logs.set_defaults(handler=run_logs)


def run_logs(args: argparse.Namespace) -> int:
    layout, _ = view_of(args)
    if args.rotate or args.force:
        return _rotate_logs(layout, args)
    if args.site is None:
        raise UsageError("name a SITE, or rotate every site's logs with --rotate")
    known_sites = site_log_folders(layout)
    if args.site not in known_sites:
        known = ", ".join(known_sites)
        raise UsageError(
            f"no logs for site {args.site!r} in {layout.log_root} (known: {known or 'none'})"
        )
    sources = tuple(dict.fromkeys(args.source or SOURCES))
    processes = {p.stem for p in layout.site_log_dir(args.site).glob("*.log")} - set(SOURCES)
    unknown = [s for s in sources if s not in SOURCES and s not in processes]
    if unknown:
        known = ", ".join([*SOURCES, *sorted(processes)])
        raise UsageError(f"unknown log source {unknown[0]!r} (known here: {known})")
    paths = site_logs(layout, args.site, sources)
    keep = LogFilter(since=args.since, pattern=args.grep)
    count = args.lines if args.lines is not None else (None if keep.active else DEFAULT_LINES)
    lines, ends = read_history(paths, count, keep)
    for line in lines:
        out(line.shown())
    if args.follow:
        live = LogFilter(pattern=args.grep)  # what arrives now is recent by definition
        try:
            for line in follow(paths, ends):
                if live.admits(line):
                    out(line.shown())
        except KeyboardInterrupt:
            pass  # Ctrl-C is how -f ends
    return EXIT_OK


def _rotate_logs(layout: Layout, args: argparse.Namespace) -> int:
    if args.site is not None or not args.rotate:
        raise UsageError("--rotate [--force] rotates every site's logs: no SITE")
    if layout.mode is not Mode.EMBEDDED:
        raise UsageError(
            "--rotate rotates an embedded instance's logs (give --home); in system mode Debian's "
            "daily logrotate rotates them through /etc/logrotate.d/hostd, which hostd watch "
            "installs (logrotate -f /etc/logrotate.d/hostd rotates now)"
        )
    sites = site_log_folders(layout)
    done = rotate(layout, sites, SubprocessRunner(), tool("logrotate"), force=args.force)
    if done.output.strip():
        out(done.output.rstrip())
    how = "forced" if args.force else "whatever is due"
    out(f"logrotate ran ({how}) for {len(sites)} site(s) with {config_path(layout)}")
    return EXIT_OK


def _since(text: str) -> float:
    try:
        return parse_since(text, time.time())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _pattern(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular expression: {exc}") from None
