"""hostd's web dashboard: a Flask app that hostd serves as the site `hostd-dashboard`.

`create_app()` is the factory gunicorn calls (`hostd.dashboard:create_app()`).
It reads through `hostd.queries` and applies through `hostd.runtime.wiring`; it may
import those, `hostd.apply`, `hostd.edges` and `hostd.core`, and nothing in hostd
imports it but the CLI's `hostd dashboard` command. Importing this package loads no
Flask extension: the app's modules load when it is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from hostd.dashboard.backend import Backend


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    home: Path | None = None,
    root: Path | None = None,
    sites_dir: Path | None = None,
    env: str | None = None,
    backend: Backend | None = None,
) -> Flask:
    """The dashboard of the instance at `home` (default: HOSTD_HOME), or of system mode
    below `root` (default: HOSTD_ROOT or /), in environment `env` (default:
    HOSTD_DASHBOARD_ENV or production); `config` overrides Flask settings."""
    from hostd.dashboard.app import build_app

    return build_app(config, home=home, root=root, sites_dir=sites_dir, env=env, backend=backend)
