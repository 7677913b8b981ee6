"""The command line: parse, call, print. The only place errors are printed.

One module per command group, each with `register()` (its subcommands) and its
`run_*` handlers. `main()` turns a HostdError into its class's exit code: 0 done;
1 a site was rejected or failed, an apply rolled back, or `check` found an invalid
file; 2 bad usage; 3 hostd could not act (no instance, a daemon unreachable, a bad
setting); 130 interrupted.

May import every layer (`core`, `edges`, `apply`, `queries`, `runtime`), and the
dashboard's user store for `hostd dashboard passwd`; nothing imports the CLI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hostd.cli import (
    apply,
    auth,
    authoring,
    certs,
    daemons,
    dashboard,
    doctor,
    export,
    figures,
    inspect,
    logs,
    maintenance,
    rollback,
)
from hostd.cli import init as init_command
from hostd.cli.common import common_options
from hostd.errors import EXIT_INTERRUPTED, EXIT_OK, HostdError, UsageError

GROUPS = (
    daemons,
    apply,
    rollback,
    inspect,
    certs,
    logs,
    dashboard,
    auth,
    authoring,
    maintenance,
    figures,
    export,
    doctor,
    init_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostd", description="Serve Flask/WSGI sites from one YAML file each."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = common_options()
    for group in GROUPS:
        group.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except UsageError as exc:
        command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
        print(f"hostd {command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except HostdError as exc:
        print(f"hostd: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
