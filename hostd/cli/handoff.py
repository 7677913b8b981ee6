"""`hostd reload SITE…` handed to the running daemon, from a command that imports next
to nothing: the command line is read here by hand, the run folder found by name
(`hostd.core.run_folder`), the request written and the daemon signalled before
anything else is imported (`hostd.edges.reload_inbox`); a deploy's new version starts
booting that much sooner. Anything else (another option, an option written in a
form not read here, no daemon that takes requests) goes to the whole command line's
parser, and `hostd.cli.apply` reloads in the command.
"""

from __future__ import annotations

import os
import sys

from hostd.core.run_folder import UP_LOCK, run_folder
from hostd.edges.reload_inbox import ask, daemon_taking_requests
from hostd.edges.up_lock import instance_running

REPLY_TIMEOUT = 900.0  # an apply that issues certificates takes minutes
EXIT_ERROR = 3  # hostd could not act (hostd.errors.EXIT_ERROR, not imported here)
VALUED = ("--home", "--root")


def reload_by_daemon(argv: list[str]) -> int | None:
    """The exit code of `hostd reload ARGV` answered by the daemon, or None if it
    cannot answer it."""
    parsed = read_reload_arguments(argv)
    if parsed is None:
        return None
    home, root, as_json, sites = parsed
    run = run_folder(home, root)
    pid = daemon_taking_requests(run)
    if pid is None or not instance_running(os.path.join(run, UP_LOCK)):
        return None
    try:
        reply = ask(run, pid, sites, as_json, REPLY_TIMEOUT)
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
    return int(reply.code)


def read_reload_arguments(argv: list[str]) -> tuple[str | None, str, bool, list[str]] | None:
    """(home, root, --json, sites) of `hostd reload ARGV` as the command's parser reads
    it (--home and --root also from HOSTD_HOME and HOSTD_ROOT); None for anything it
    is not sure to read alike: an unknown or abbreviated option, a missing value, no
    site."""
    values: dict[str, str] = {}
    as_json = False
    sites: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--json":
            as_json = True
        elif word in VALUED:
            value = next(words, None)
            if value is None or value.startswith("-"):
                return None
            values[word] = value
        elif word.partition("=")[0] in VALUED and "=" in word:
            option, _, value = word.partition("=")
            values[option] = value
        elif word.startswith("-"):
            return None
        else:
            sites.append(word)
    if not sites:
        return None
    home = values.get("--home") or os.environ.get("HOSTD_HOME") or None
    root = values.get("--root") or os.environ.get("HOSTD_ROOT") or "/"
    return home, root, as_json, sites
