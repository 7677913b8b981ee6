"""What every command shares: the options that address an instance, and printing."""

from __future__ import annotations

import argparse
from pathlib import Path

from hostd.cli.options import home_of, root_of
from hostd.core.layout import Layout
from hostd.core.report import ApplyReport, report_lines
from hostd.core.settings import Settings
from hostd.edges.inputs import instance_view

Subparsers = "argparse._SubParsersAction[argparse.ArgumentParser]"


def out(text: str) -> None:
    print(text, flush=True)


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
