"""What `hostd init` (and `hostd watch`, which puts the same hooks in) changed on the
machine, so that `hostd init --undo` takes out exactly that and puts back what was
moved: /var/lib/hostd/init.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hostd.core.layout import Layout
from hostd.edges.fs import write_atomic


def record_path(layout: Layout) -> Path:
    return layout.state_dir / "init.json"


def read_record(layout: Layout) -> dict[str, Any]:
    try:
        data = json.loads(record_path(layout).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(layout: Layout, key: str, value: Any) -> None:
    """Record `value` under `key`; the first record of a key stays (it is the original)."""
    data = read_record(layout)
    if key in data:
        return
    data[key] = value
    record_path(layout).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(record_path(layout), json.dumps(data, indent=2) + "\n", 0o644)


def remember_created(layout: Layout, path: Path) -> None:
    data = read_record(layout)
    created = list(data.get("created", []))
    if str(path) not in created:
        created.append(str(path))
        data["created"] = created
        record_path(layout).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(record_path(layout), json.dumps(data, indent=2) + "\n", 0o644)
