"""`hostd dashboard passwd USER`: the web dashboard's users."""

from __future__ import annotations

import argparse
import getpass
import sys

from hostd.cli.common import out, view_of
from hostd.errors import EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    dashboard = sub.add_parser("dashboard", help="the web dashboard's users")
    actions = dashboard.add_subparsers(dest="action", required=True, metavar="ACTION")
    passwd = actions.add_parser(
        "passwd", parents=[common], help="set a user's password (creates the user)"
    )
    passwd.add_argument("user", metavar="USER")
    passwd.add_argument(
        "--stdin", action="store_true", help="read the password from standard input (scripts)"
    )
    passwd.set_defaults(handler=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    """`hostd dashboard passwd USER`: set a dashboard password, creating the user. A
    bad name or password is a UsageError (exit 2)."""
    from hostd.dashboard.passwd import set_password
    from hostd.dashboard.users import UserError, check_name, check_password

    layout, settings = view_of(args)
    name = check_name(args.user)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"New dashboard password for {name}: ")
        if check_password(password) != getpass.getpass("Again: "):
            raise UserError("the two passwords differ")
    else:
        raise UserError("no terminal to ask for the password: pipe it in with --stdin")
    for line in set_password(layout, settings, name, password):
        out(line)
    return EXIT_OK
