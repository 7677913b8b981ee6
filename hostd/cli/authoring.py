"""`hostd schema` and `hostd new SITE`: writing site files with help.

`schema` prints the JSON Schema of the site file (the one the wheel ships as
hostd/site.schema.json); `new` writes a commented starter file (its app's
folder and WSGI target are for the user to fill in).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hostd.cli.common import out, view_of
from hostd.core.schema import site_schema
from hostd.core.site import SITE_NAME, shown
from hostd.core.starter import starter_site
from hostd.errors import EXIT_OK, UsageError

# the schema as the wheel ships it, kept equal to `site_schema()` by the tests
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "site.schema.json"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    schema = sub.add_parser("schema", parents=[common], help="print the JSON Schema of site files")
    schema.set_defaults(handler=run_schema)
    new = sub.add_parser("new", parents=[common], help="write a commented starter site file")
    new.add_argument("site", metavar="SITE")
    new.add_argument("--sites", dest="sites_dir", help="folder of site files")
    new.add_argument("--domain", help="its first domain (default: SITE.localhost)")
    new.set_defaults(handler=run_new)


def run_schema(args: argparse.Namespace) -> int:
    out(json.dumps(site_schema(), indent=2))
    return EXIT_OK


def run_new(args: argparse.Namespace) -> int:
    if not SITE_NAME.match(args.site):
        raise UsageError(f"bad site name {args.site!r}: must match {shown(SITE_NAME)}")
    layout, _ = view_of(args)
    file: Path = layout.sites_dir / f"{args.site}.yaml"
    if file.exists():
        raise UsageError(f"{file} exists already")
    file.parent.mkdir(parents=True, exist_ok=True)
    domain = args.domain or f"{args.site}.localhost"
    file.write_text(starter_site(args.site, domain, str(SCHEMA_FILE)))
    out(f"wrote {file}: edit app.root and app.wsgi, then `hostd check {file}`")
    return EXIT_OK
