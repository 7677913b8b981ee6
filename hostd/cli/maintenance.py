"""`hostd pause SITE [--message TEXT]` and `hostd resume SITE`: maintenance.

While a site is paused nginx answers every request but ACME challenges with a 503
page and `Retry-After`; the app keeps running. The state is recorded in the
instance's home, so it survives restarts; a running instance applies it at once.
"""

from __future__ import annotations

import argparse

from hostd.cli.common import home_of, out, print_report, root_of, view_of
from hostd.core.maintenance import DEFAULT_MESSAGE, MAX_MESSAGE
from hostd.edges.inputs import load_sites, running_instance
from hostd.edges.maintenance import set_pause
from hostd.errors import EXIT_OK, EXIT_PROBLEM, InstanceError, UsageError
from hostd.runtime.wiring import make_reconciler


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    pause = sub.add_parser("pause", parents=[common], help="serve a maintenance page (503)")
    pause.add_argument("site", metavar="SITE")
    pause.add_argument("--message", default=DEFAULT_MESSAGE, help="the text of the page")
    pause.set_defaults(handler=run_pause)
    resume = sub.add_parser("resume", parents=[common], help="serve a paused site again")
    resume.add_argument("site", metavar="SITE")
    resume.set_defaults(handler=run_resume)


def run_pause(args: argparse.Namespace) -> int:
    if len(args.message) > MAX_MESSAGE:
        raise UsageError(f"the message has more than {MAX_MESSAGE} characters")
    return _switch(args, args.message, "paused")


def run_resume(args: argparse.Namespace) -> int:
    return _switch(args, None, "resumed")


def _switch(args: argparse.Namespace, message: str | None, done: str) -> int:
    layout, _ = view_of(args)
    if args.site not in load_sites(layout.sites_dir):
        raise UsageError(f"unknown site {args.site!r} (no site file in {layout.sites_dir})")
    set_pause(layout.maintenance_file, args.site, message)
    try:
        running, settings = running_instance(home_of(args), root_of(args))
    except InstanceError:
        out(f"{args.site}: {done}; applies when hostd starts")
        return EXIT_OK
    report = make_reconciler(running, settings).apply({args.site})
    print_report(report)
    out(f"{args.site}: {done}")
    return EXIT_OK if report.ok else EXIT_PROBLEM
