"""The JSON that `check`, `plan` and `reload` print with `--json`: one versioned shape.

Every document has `"version": 1` and `"command"`; a later version only adds keys
or bumps the number. A rejected site carries its error as
`{"file", "line", "key", "message"}` so a tool can point at the line. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hostd.core.plan import Plan
from hostd.core.report import ApplyReport
from hostd.core.site import Site
from hostd.errors import SiteError

VERSION = 1


def error_json(error: SiteError) -> dict[str, Any]:
    return {
        "file": str(error.file) if error.file else None,
        "line": error.line,
        "key": error.key,
        "message": error.message,
    }


def check_json(
    names: Iterable[str], sites: Mapping[str, Site], rejected: Mapping[str, SiteError]
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for name in sorted(names):
        if name in rejected:
            entries.append({"name": name, "valid": False, "error": error_json(rejected[name])})
        elif name in sites:
            site = sites[name]
            entries.append({"name": name, "valid": True, "file": str(site.file),
                            "domains": list(site.domains), "error": None})  # fmt: skip
    return {
        "version": VERSION,
        "command": "check",
        "ok": all(e["valid"] for e in entries),
        "sites": entries,
    }


def plan_json(plan: Plan, rejected: Mapping[str, SiteError], diff: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {"name": s.name, "change": s.change.value, "nginx": s.nginx_changed,
         "program": s.program_changed, "error": None}
        for s in plan.sites
        if s.name not in rejected
    ]  # fmt: skip
    entries += [
        {"name": name, "change": "rejected", "nginx": False, "program": False,
         "error": error_json(error)}
        for name, error in sorted(rejected.items())
    ]  # fmt: skip
    return {
        "version": VERSION,
        "command": "plan",
        "empty": plan.is_empty,
        "sites": sorted(entries, key=lambda e: e["name"]),
        "diff": diff,
    }


def reload_json(report: ApplyReport) -> dict[str, Any]:
    return {
        "version": VERSION,
        "command": "reload",
        "ok": report.ok,
        "generation": report.generation,
        "rolled_back": report.rolled_back,
        "error": report.error,
        "sites": [
            {"name": r.name, "outcome": r.outcome.value, "held": r.held, "detail": r.detail}
            for r in report.sites
        ],
    }
