"""`hostd doctor`: can this box carry its live sites? One line per check (ok, warning
or problem, with the fix); exit 0 when every check is ok, 1 otherwise, for monitoring."""

from __future__ import annotations

import argparse
import json

from hostd.cli.common import out, view_of
from hostd.errors import EXIT_OK, EXIT_PROBLEM
from hostd.queries.doctor import Level, gather, run_checks, worst


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    doctor = sub.add_parser(
        "doctor", parents=[common], help="check the box's limits against the live sites"
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    layout, settings = view_of(args)
    findings = run_checks(gather(layout, settings))
    level = worst(findings)
    if args.json:
        out(json.dumps({"level": level.value, "checks": [f.to_dict() for f in findings]},
                       indent=2))  # fmt: skip
    else:
        for finding in findings:
            line = f"{finding.level.value}: {finding.check}: {finding.summary}"
            out(f"{line}\n  fix: {finding.fix}" if finding.fix else line)
    return EXIT_OK if level is Level.OK else EXIT_PROBLEM
