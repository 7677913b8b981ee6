"""A generation as data: every generated file, by path relative to the generation."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

Files = Mapping[str, str]

NGINX = "nginx/"
SUPERVISOR = "supervisor/"


def nginx_site_path(site: str) -> str:
    return f"{NGINX}sites/{site}.conf"


def program_path(site: str) -> str:
    return f"{SUPERVISOR}programs/{site}.conf"


def site_paths(site: str) -> tuple[str, str]:
    return nginx_site_path(site), program_path(site)


def nginx_files(files: Files) -> dict[str, str]:
    return {path: text for path, text in files.items() if path.startswith(NGINX)}


def fingerprint(files: Files) -> str:
    """A short digest of `files`, independent of dict order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode())
        digest.update(b"\0")
        digest.update(files[path].encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
