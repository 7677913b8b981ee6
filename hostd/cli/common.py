"""What every command shares: the options that address an instance, and printing."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hostd.core.layout import Layout
from hostd.core.report import ApplyReport, report_lines
from hostd.core.settings import Settings
from hostd.edges.inputs import instance_view

Subparsers = "argparse._SubParsersAction[argparse.ArgumentParser]"


def out(text: str) -> None:
    print(text, flush=True)


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


def view_of(args: argparse.Namespace) -> tuple[Layout, Settings]:
    """The running instance's view if there is one, else the files' own."""
    sites_dir = getattr(args, "sites_dir", None)
    return instance_view(home_of(args), root_of(args), Path(sites_dir) if sites_dir else None)


def print_report(report: ApplyReport, *, changes_only: bool = False) -> list[str]:
    """Print what an apply did; the lines printed."""
    lines = [line.text for line in report_lines(report, changes_only=changes_only)]
    for line in lines:
        out(line)
    return lines
