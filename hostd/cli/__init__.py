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

import sys

TYPE_CHECKING = False  # typing's own costs the handed reload more than the rest of it
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence  # collections: ~1.5 ms of the handed reload

GROUPS = (
    "daemons",
    "apply",
    "rollback",
    "inspect",
    "certs",
    "logs",
    "dashboard",
    "auth",
    "authoring",
    "maintenance",
    "figures",
    "export",
    "doctor",
    "init",
)


def build_parser() -> argparse.ArgumentParser:
    import argparse
    import importlib

    from hostd.cli.common import common_options

    parser = argparse.ArgumentParser(
        prog="hostd", description="Serve Flask/WSGI sites from one YAML file each."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = common_options()
    for name in GROUPS:  # imported here: `hostd reload SITE` may not need them at all
        importlib.import_module(f"hostd.cli.{name}").register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["reload"]:
        from hostd.cli.handoff import reload_by_daemon

        handed = reload_by_daemon(given[1:])
        if handed is not None:
            return handed
    from hostd.errors import EXIT_INTERRUPTED, EXIT_OK, HostdError, error_line

    args = build_parser().parse_args(given)
    try:
        code: int = args.handler(args)
        return code
    except HostdError as exc:
        command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
        print(error_line(exc, command), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
