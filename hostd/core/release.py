"""What a site's `release:` command did. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Released:
    """Whether the command succeeded, and its output (stdout and stderr)."""

    ok: bool
    output: str
