"""`hostd init` and `hostd init --undo`: attach hostd to this machine, or detach it."""

from __future__ import annotations

import argparse
import os

from hostd.cli.common import home_of, out, root_of
from hostd.core.layout import layout_for
from hostd.edges.inputs import load_settings
from hostd.edges.machine_init import init, undo
from hostd.errors import EXIT_OK, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    parser = sub.add_parser(
        "init",
        parents=[common],
        help="system mode: put hostd's files and hooks in place (as root); --undo takes them out",
        description="Create /etc/hostd (hostd.toml, sites.d), the systemd unit, the tmpfiles.d "
        "entry and the logrotate file, and hook hostd into the machine's nginx and Supervisor. "
        "Idempotent. --undo removes what it added and puts back what it moved.",
    )
    parser.add_argument("--undo", action="store_true", help="take out what hostd init put in")
    parser.set_defaults(handler=run_init)


def run_init(args: argparse.Namespace) -> int:
    if home_of(args) is not None:
        raise UsageError("hostd init sets up system mode; an embedded instance needs none")
    if os.geteuid() != 0:
        raise UsageError("hostd init writes to /etc: run it as root (sudo hostd init)")
    layout = layout_for(None, root=root_of(args))
    if args.undo:
        for line in undo(layout) or ["nothing of hostd's was in place"]:
            out(line)
        out("next: service nginx reload; supervisorctl update (stops hostd's programs); "
            "systemctl daemon-reload")  # fmt: skip
        return EXIT_OK

    def boot() -> None:
        from hostd.runtime.wiring import wire

        wire(layout, load_settings(layout.config_file, layout.mode)).reconciler.boot()

    changes = init(layout, boot)
    for line in changes:
        out(line)
    if not changes:
        out("hostd init: everything is in place already (nothing changed)")
        return EXIT_OK
    out("next: systemctl daemon-reload && systemctl enable --now hostd")
    out("  (hostd watch then has nginx and Supervisor serve the sites; without systemd, "
        "see the README)")  # fmt: skip
    return EXIT_OK
