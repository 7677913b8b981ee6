"""Where the running daemon serves its figures (`run/metrics.json`), and reading them."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from hostd.core.layout import Layout
from hostd.edges.fs import write_atomic
from hostd.errors import InstanceError

TIMEOUT = 5.0


def address_file(layout: Layout) -> Path:
    return layout.run_dir / "metrics.json"


def record_address(layout: Layout, url: str) -> None:
    write_atomic(address_file(layout), json.dumps({"url": url}) + "\n", 0o644)


def forget_address(layout: Layout) -> None:
    address_file(layout).unlink(missing_ok=True)


def figures_url(layout: Layout) -> str:
    """The base URL of the running daemon's figures. Raises InstanceError."""
    path = address_file(layout)
    try:
        url = json.loads(path.read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InstanceError(
            f"no figures: no hostd daemon serves them for {layout.home} ({path} is missing; "
            "`hostd up` or `hostd watch` collects them)"
        ) from None
    return str(url)


def fetch_figures(layout: Layout) -> dict[str, Any]:
    """What the daemon's /figures.json answers now. Raises InstanceError."""
    url = figures_url(layout) + "/figures.json"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            data = json.loads(answer.read())
    except (OSError, ValueError) as exc:
        raise InstanceError(f"no figures: {url} did not answer: {exc}") from exc
    if not isinstance(data, dict):
        raise InstanceError(f"no figures: {url} answered something else than figures")
    return data
