"""The machine side of `hostd export`: frozen requirements from a site's venv, the
app root's files and digest, and writing the output tree.

A venv is not relocatable, so it is never copied: its `pip freeze` becomes the
image's `requirements.txt`, and the image builds its own venv from it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path

from hostd.core.kubernetes.objects import SECRET_FILE
from hostd.core.site import Site
from hostd.edges.runner import Runner, SubprocessRunner
from hostd.errors import SiteError, UsageError

MARKER = ".hostd-export"
_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?(==| @ )")


def app_files(site: Site) -> list[Path]:
    """The files of the app root that go into the image, relative and sorted: no
    venv (a folder with pyvenv.cfg, or the site's own venv), no bytecode, no VCS."""
    root = site.app.root
    out: list[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in _SKIP_DIRS
            and not (here / d / "pyvenv.cfg").exists()
            and (here / d) != site.app.venv
        )
        out += [(here / f).relative_to(root) for f in files if not f.endswith((".pyc", ".pyo"))]
    return sorted(out)


def app_digest(site: Site) -> str:
    """A digest of the app root's files, names and contents."""
    digest = hashlib.sha256()
    for rel in app_files(site):
        digest.update(f"{rel.as_posix()}\0".encode())
        digest.update((site.app.root / rel).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def frozen_requirements(site: Site, runner: Runner | None = None) -> str:
    """The site's requirements, pinned: its venv's `pip freeze` (gunicorn added if the
    venv lacks it), or, for a site on hostd's own environment, Flask and gunicorn at
    hostd's versions."""
    ours = {"flask": f"Flask=={version('flask')}", "gunicorn": f"gunicorn=={version('gunicorn')}"}
    if site.app.venv is None:
        lines = [ours["flask"], ours["gunicorn"]]
        head = "# the app runs on hostd's own Flask and gunicorn (the site has no venv)"
    else:
        python = site.app.venv / "bin" / "python"
        argv = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check",
                "freeze", "--exclude-editable"]  # fmt: skip
        done = (runner or SubprocessRunner()).run(argv, timeout=120)
        lines = [line for line in done.output.splitlines() if _REQUIREMENT.match(line)]
        local = [line for line in lines if " @ file:" in line]
        if local:
            raise SiteError(
                f"the venv {site.app.venv} has packages installed from local files, which "
                f"an image cannot install: {', '.join(sorted(local))}",
                file=site.file,
                key="app.venv",
            )
        if not any(line.lower().startswith("gunicorn==") for line in lines):
            lines.append(ours["gunicorn"])
        head = f"# pip freeze of the site's venv ({site.app.venv})"
    return "\n".join([head, *sorted(lines, key=str.lower)]) + "\n"


def write_tree(out: Path, files: Mapping[str, str], sites: Mapping[str, Site]) -> None:
    """Write the export to `out`, replacing an earlier export there as a whole; a
    folder that holds anything else is refused."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise UsageError(f"{out} exists and is not an earlier hostd export: choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            os.chmod(path, 0o600 if path.name == SECRET_FILE else 0o644)
        for name, site in sites.items():
            target = staging / "build" / name / "app"
            for file in app_files(site):
                (target / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(site.app.root / file, target / file)
            target.mkdir(parents=True, exist_ok=True)
        (staging / MARKER).write_text("written by hostd export; replaced whole by the next\n")
        os.chmod(staging, 0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
