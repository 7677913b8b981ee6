"""A generation as data: every generated file by its path inside the generation,
and the sites it serves.

    nginx/nginx.conf, nginx/hostd.conf, nginx/default.conf, nginx/sites/<site>.conf
    supervisor/supervisord.conf, supervisor/programs/<site>.conf,
    supervisor/all-programs.conf (what supervisord reads: every program file in one)
    supervisor/programs/<site>.trial.conf, supervisor/programs/<site>.warm.conf
        (a new version's web program on trial beside the live one; the previous
        version's, kept warm for a rollback: where Supervisor's include finds them)
    slots/versions.json (each site's version and the one before it)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hostd.core.site import Site

Files = Mapping[str, str]

NGINX = "nginx/"
SUPERVISOR = "supervisor/"
PROGRAMS = f"{SUPERVISOR}programs/"
# every program file in one: Supervisor's include of many files is quadratic
ALL_PROGRAMS = f"{SUPERVISOR}all-programs.conf"
SLOTS = "slots/"
VERSIONS = f"{SLOTS}versions.json"
TRIAL = ".trial.conf"  # a program file of a site's new version on trial
WARM = ".warm.conf"  # a program file of a site's previous version, kept warm


@dataclass(frozen=True)
class Generation:
    """One complete generation as written to disk: never changed once written."""

    id: int
    path: Path
    files: dict[str, str]
    sites: dict[str, Site]

    @property
    def name(self) -> str:
        return f"{self.id:06d}"


def nginx_site_path(site: str) -> str:
    return f"{NGINX}sites/{site}.conf"


def program_path(site: str) -> str:
    return f"{PROGRAMS}{site}.conf"


def site_paths(site: str) -> tuple[str, str]:
    return nginx_site_path(site), program_path(site)


def all_programs(files: Files) -> str:
    """The program files among `files` (with the web programs on trial or kept warm),
    in path order, as the one file supervisord reads."""
    return "".join(files[rel] for rel in sorted(files) if rel.startswith(PROGRAMS))


def slot_file(relative: str) -> bool:
    """True for what hostd keeps of a site's versions (a web program on trial or
    kept warm, the versions), as opposed to what the site files ask for."""
    return relative.startswith(SLOTS) or (
        relative.startswith(PROGRAMS) and relative.endswith((TRIAL, WARM))
    )


def nginx_files(files: Files) -> dict[str, str]:
    return {path: text for path, text in files.items() if path.startswith(NGINX)}


def file_mode(relative: str) -> int:
    """Program files and the manifest carry app environments: owner only."""
    return 0o644 if relative.startswith(NGINX) else 0o600


def fingerprint(files: Files) -> str:
    """A short digest of `files`, independent of dict order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode())
        digest.update(b"\0")
        digest.update(files[path].encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
