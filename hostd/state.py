"""The per-site record of the last apply, kept on disk for `hostd status`."""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from hostd.report import ApplyReport, Outcome
from hostd.store import write_atomic


def read_state(path: Path) -> dict[str, dict[str, Any]]:
    """Site name -> its last recorded result; empty if nothing was recorded."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    sites = data.get("sites", {}) if isinstance(data, dict) else {}
    return sites if isinstance(sites, dict) else {}


def record_report(path: Path, report: ApplyReport, keep: Collection[str]) -> None:
    """Merge `report` into the state file; sites not in `keep` are forgotten."""
    sites = {name: entry for name, entry in read_state(path).items() if name in keep}
    now = time.time()
    for result in report.sites:
        if result.outcome is Outcome.REMOVED:
            sites.pop(result.name, None)
            continue
        previous = sites.get(result.name, {})
        entry = {
            "outcome": result.outcome.value,
            "detail": result.detail,
            "held": result.held,
            "generation": report.generation,
            "at": now,
            "last_error": previous.get("last_error"),
            "last_error_at": previous.get("last_error_at"),
        }
        if result.outcome.is_problem:
            entry["last_error"], entry["last_error_at"] = result.detail, now
        sites[result.name] = entry
    payload = {"sites": sites, "last_apply": {"at": now, "generation": report.generation,
               "ok": report.ok, "error": report.error}}  # fmt: skip
    write_atomic(path, json.dumps(payload, indent=2) + "\n", 0o600)
