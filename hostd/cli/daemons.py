"""`hostd up` and `hostd watch`, the two long-running commands, and `hostd restart`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from hostd.cli.common import home_of, out, root_of
from hostd.core.layout import layout_for
from hostd.core.report import ApplyReport, report_lines
from hostd.core.settings import with_overrides
from hostd.edges.inputs import load_settings, running_instance
from hostd.errors import EXIT_OK, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    up = sub.add_parser("up", parents=[common], help="run an embedded instance in the foreground")
    up.add_argument("--sites", default="sites.d", help="folder of site files (default ./sites.d)")
    up.add_argument("--listen", help="address to listen on (default 127.0.0.1)")
    up.add_argument("--http-port", type=int, help="HTTP port (default 8080)")
    up.add_argument("--https-port", type=int, help="HTTPS port (default 8443)")
    up.add_argument(
        "--no-watch", action="store_true",
        help="do not watch the sites folder: apply on start, hostd reload, SIGHUP and rescans",
    )  # fmt: skip
    up.set_defaults(handler=run_up)
    watch = sub.add_parser(
        "watch", parents=[common], help="the system-mode daemon (what hostd.service runs)"
    )
    watch.set_defaults(handler=run_watch)
    restart = sub.add_parser(
        "restart", parents=[common],
        help="restart the running hostd in place: nginx, supervisord and the sites run on",
    )  # fmt: skip
    restart.add_argument("--timeout", type=float, default=300.0,
                         help="seconds to wait for it to serve again (default 300)")  # fmt: skip
    restart.set_defaults(handler=run_restart)


def run_up(args: argparse.Namespace) -> int:
    from hostd.runtime.embedded import EmbeddedRuntime

    logging.basicConfig(level=logging.INFO, format="hostd: %(message)s", stream=sys.stderr)
    layout = layout_for(home_of(args) or Path(".hostd"), Path(args.sites))
    settings = with_overrides(
        load_settings(layout.config_file, layout.mode),
        listen=args.listen, http_port=args.http_port, https_port=args.https_port,
    )  # fmt: skip
    runtime = EmbeddedRuntime(
        layout, settings, say=lambda t: out(f"hostd: {t}"), applied=news_printer(),
        watch=not args.no_watch,
    )  # fmt: skip
    return runtime.run()


def run_watch(args: argparse.Namespace) -> int:
    from hostd.runtime.system import SystemRuntime

    logging.basicConfig(level=logging.INFO, format="hostd: %(message)s", stream=sys.stderr)
    if home_of(args) is not None:
        raise UsageError("hostd watch is the system-mode daemon; use hostd up with --home")
    layout = layout_for(None, root=root_of(args))
    settings = load_settings(layout.config_file, layout.mode)
    runtime = SystemRuntime(
        layout, settings, say=lambda t: out(f"hostd: {t}"), applied=news_printer()
    )
    return runtime.run()


def run_restart(args: argparse.Namespace) -> int:
    from hostd.runtime.restart import restart_running

    layout, _ = running_instance(home_of(args), root_of(args))
    pid, took = restart_running(layout, args.timeout)
    out(f"hostd (pid {pid}) restarted in place in {took:.2f}s; nginx, supervisord and "
        "the sites ran on")  # fmt: skip
    return EXIT_OK


def news_printer() -> Callable[[ApplyReport], None]:
    """Print an apply's lines only when they say something new (rescans are quiet)."""
    said: list[str] = []

    def applied(report: ApplyReport) -> None:
        lines = [line.text for line in report_lines(report, changes_only=True)]
        if lines and lines != said:
            for line in lines:
                out(line)
        said[:] = lines

    return applied
