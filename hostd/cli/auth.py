"""`hostd auth add|remove|list SITE [USER]`: the users of a site's `basic_auth`.

nginx reads the file on every request, so a change needs no reload.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from hostd.cli.common import out, view_of
from hostd.core.layout import Mode
from hostd.core.site import SITE_NAME
from hostd.edges.htpasswd import check_user, hashed, read_users, write_users
from hostd.errors import EXIT_OK, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    auth = sub.add_parser("auth", help="the users of a site's basic authentication")
    actions = auth.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[common], help="add a user or set its password")
    add.add_argument("site", metavar="SITE")
    add.add_argument("user", metavar="USER")
    add.add_argument("--stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=run_add)
    remove = actions.add_parser("remove", parents=[common], help="remove a user")
    remove.add_argument("site", metavar="SITE")
    remove.add_argument("user", metavar="USER")
    remove.set_defaults(handler=run_remove)
    listing = actions.add_parser("list", parents=[common], help="the site's user names")
    listing.add_argument("site", metavar="SITE")
    listing.set_defaults(handler=run_list)


def _site(name: str) -> str:
    if not SITE_NAME.match(name):
        raise UsageError(f"bad site name {name!r}")
    return name


def _reader(args: argparse.Namespace) -> str | None:
    """Who else must read the file: system nginx's workers (www-data)."""
    layout, _ = view_of(args)
    return "www-data" if layout.mode is Mode.SYSTEM else None


def run_add(args: argparse.Namespace) -> int:
    layout, _ = view_of(args)
    site, user = _site(args.site), check_user(args.user)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password for {user} on {site}: ")
        if password != getpass.getpass("Again: "):
            raise UsageError("the two passwords differ")
    else:
        raise UsageError("no terminal to ask for the password: pipe it in with --stdin")
    file = layout.site_auth_file(site)
    users = read_users(file)
    users[user] = hashed(password)
    write_users(file, users, _reader(args))
    out(f"{site}: user {user} set in {file}")
    return EXIT_OK


def run_remove(args: argparse.Namespace) -> int:
    layout, _ = view_of(args)
    site, user = _site(args.site), check_user(args.user)
    file = layout.site_auth_file(site)
    users = read_users(file)
    if users.pop(user, None) is None:
        raise UsageError(f"{site} has no user {user!r}")
    write_users(file, users, _reader(args))
    out(f"{site}: user {user} removed")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    layout, _ = view_of(args)
    for user in sorted(read_users(layout.site_auth_file(_site(args.site)))):
        out(user)
    return EXIT_OK
