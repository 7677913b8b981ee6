"""The options every command takes to address an instance (kept light: the command
that hands a reload to the running daemon imports this and little else)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def common_options() -> argparse.ArgumentParser:
    """--home and --root, which every command takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", help="home folder of an embedded instance (or HOSTD_HOME); none: system mode"
    )
    common.add_argument(
        "--root", help="system mode below another root folder (or HOSTD_ROOT), for tests"
    )
    return common


def root_of(args: argparse.Namespace) -> Path:
    return Path(args.root or os.environ.get("HOSTD_ROOT") or "/")


def home_of(args: argparse.Namespace) -> Path | None:
    home = args.home or os.environ.get("HOSTD_HOME")
    return Path(home) if home else None


def reload_arguments(reload: argparse.ArgumentParser) -> None:
    """What `hostd reload` takes after its common options."""
    reload.add_argument("sites", nargs="*", metavar="SITE", help="only these sites")
    reload.add_argument("--json", action="store_true", help="machine-readable output")
