"""The wheel carries the dashboard's templates, static files and settings."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_dashboard(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    names = set(zipfile.ZipFile(next(tmp_path.glob("hostd-*.whl"))).namelist())
    for name in (
        "hostd/dashboard/settings.toml",
        "hostd/dashboard/templates/base.html",
        "hostd/dashboard/templates/site.html",
        "hostd/dashboard/static/dashboard.js",
        "hostd/dashboard/static/dashboard.css",
    ):
        assert name in names
    assert not [name for name in names if "secrets" in name or name.endswith("users.json")]
