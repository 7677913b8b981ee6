"""`hostd doctor`: what would break hosting on this box, before it does. One line per
check (ok, warning or problem, with the fix). Exit 0 when every check is ok, 1 when
one is a problem, 4 when some only warn, for monitoring.

`hostd doctor --render` renders every site into a scratch generation and validates it
as an apply would, without touching the live one: the check after an upgrade.
"""

from __future__ import annotations

import argparse
import json

from hostd.cli.common import out, view_of
from hostd.core.doctor import Finding, exit_code, worst
from hostd.queries.doctor import diagnose
from hostd.runtime.rehearsal import rehearse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    doctor = sub.add_parser(
        "doctor", parents=[common], help="check what would break hosting on this box"
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument(
        "--render",
        action="store_true",
        help="render and validate every site in a scratch generation (after an upgrade)",
    )
    doctor.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    layout, settings = view_of(args)
    findings = rehearse(layout, settings) if args.render else diagnose(layout, settings)
    level = worst(findings)
    if args.json:
        out(json.dumps({"level": level.value, "checks": [f.to_dict() for f in findings]},
                       indent=2))  # fmt: skip
    else:
        for finding in findings:
            out(finding_text(finding))
    return exit_code(level)


def finding_text(finding: Finding) -> str:
    line = f"{finding.level.value}: {finding.check}: {finding.summary}"
    return f"{line}\n  fix: {finding.fix}" if finding.fix else line
