"""`hostd reload SITE…` handed to the running daemon, from a command that imports
almost nothing of hostd (`hostd.edges.reload_inbox`): a deploy's new version starts
booting 0.2 s sooner. Where the daemon cannot take it (none runs, it does not take
requests, the command has options it does not know), `hostd.cli.apply` reloads here.
"""

from __future__ import annotations

import argparse
import sys

from hostd.cli.options import common_options, home_of, reload_arguments, root_of
from hostd.core.layout import layout_for
from hostd.edges.locks import instance_running
from hostd.edges.reload_inbox import ask, daemon_taking_requests
from hostd.errors import EXIT_ERROR, HostdError

REPLY_TIMEOUT = 900.0  # an apply that issues certificates takes minutes


def reload_by_daemon(argv: list[str]) -> int | None:
    """The exit code of `hostd reload ARGV` answered by the daemon, or None if it
    cannot answer it."""
    parser = argparse.ArgumentParser(prog="hostd reload", parents=[common_options()],
                                     add_help=False, exit_on_error=False)  # fmt: skip
    reload_arguments(parser)
    try:
        args, rest = parser.parse_known_args(argv)
    except (argparse.ArgumentError, SystemExit):
        return None  # the whole command line's parser says what is wrong
    if rest or not args.sites:
        return None
    try:
        layout = layout_for(home_of(args), root=root_of(args))
    except HostdError:
        return None  # said by the command's own path
    pid = daemon_taking_requests(layout.runtime_file)
    if pid is None or not instance_running(layout.up_lock):
        return None
    try:
        reply = ask(layout.run_dir, pid, args.sites, args.json, REPLY_TIMEOUT)
    except TimeoutError as exc:
        print(f"hostd: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ProcessLookupError:
        print(f"hostd: error: hostd (pid {pid}) stopped before it answered", file=sys.stderr)
        return EXIT_ERROR
    if reply is None:
        return None
    for line in reply.out:
        print(line, flush=True)
    for line in reply.err:
        print(line, file=sys.stderr)
    return reply.code
