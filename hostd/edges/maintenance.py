"""Which sites are paused, and with which message: a record that survives restarts.

`hostd pause` and `hostd resume` write it; every load of the site files applies it
(`with_pauses`), so the next render serves the maintenance page, or the app again.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

from hostd.core.site import Site
from hostd.edges.fs import write_atomic
from hostd.errors import SiteError


def read_pauses(file: Path) -> dict[str, str]:
    """Site -> maintenance message; empty if nothing is paused or the record is unreadable."""
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def set_pause(file: Path, site: str, message: str | None) -> None:
    """Pause `site` with `message`, or resume it (None)."""
    pauses = read_pauses(file)
    if message is None:
        pauses.pop(site, None)
    else:
        pauses[site] = message
    file.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(file, json.dumps(pauses, indent=2, sort_keys=True) + "\n", 0o644)


def with_pauses(sites: Mapping[str, Site | SiteError], file: Path) -> dict[str, Site | SiteError]:
    """`sites`, the paused ones marked with their message; a refused site's error
    carries its pause (or none), for the last good version it holds."""
    pauses = read_pauses(file)
    out: dict[str, Site | SiteError] = {}
    for name, entry in sites.items():
        if isinstance(entry, SiteError):
            out[name] = entry.with_pause(pauses.get(name))
        elif name in pauses:
            out[name] = dataclasses.replace(entry, paused=pauses[name])
        else:
            out[name] = entry
    return out
