"""Generations on disk: written completely, switched atomically, read back.

    state/generations/000042/{manifest.json, nginx/..., supervisor/...}
    state/live -> generations/000042

A generation is written under a temporary name, fsynced and renamed into place;
`live` is a symlink replaced with rename(2). A crash at any point leaves `live`
pointing at one complete generation.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hostd.core.generation import Files, Generation, file_mode
from hostd.core.site import Site, site_from_dict
from hostd.edges.fs import fsync_dir
from hostd.errors import HostdError

MANIFEST = "manifest.json"
KEEP_GENERATIONS = 5


class GenerationStore:
    """The real `hostd.apply.ports.Generations`: generation folders under `state_dir`."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "generations"
        self.live_link = state_dir / "live"
        self._cached: tuple[str, Generation] | None = None

    def live(self) -> Generation | None:
        """The generation `live` points at, or None before the first one.

        Generations never change once written, so the last one read is kept.
        """
        try:
            target = os.readlink(self.live_link)
        except FileNotFoundError:
            return None
        if self._cached is None or self._cached[0] != target:
            self._cached = (target, self.read(self.live_link.parent / target))
        return self._cached[1]

    def read(self, path: Path) -> Generation:
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            files = {rel: (path / rel).read_text() for rel in manifest["files"]}
        except (OSError, ValueError, KeyError) as exc:
            raise HostdError(f"generation {path} is unreadable: {exc}") from exc
        sites = {name: site_from_dict(data) for name, data in manifest["sites"].items()}
        return Generation(int(manifest["id"]), path, files, sites)

    def _next_id(self) -> int:
        ids = [int(p.name) for p in self.root.glob("[0-9]*") if p.name.isdigit()]
        return max(ids, default=0) + 1

    def write(
        self, files: Files, sites: Mapping[str, Site], base: Generation | None = None
    ) -> Generation:
        """A new complete generation on disk (not live yet).

        Files identical in `base` are hard links to it: written and synced once.
        A disk that is full or failing is a HostdError, and leaves no partial folder.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        gen_id = self._next_id()
        tmp = self.root / f".{gen_id:06d}.tmp"
        try:
            return self._write(gen_id, tmp, files, sites, base)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise HostdError(
                f"cannot write generation {gen_id:06d} in {self.root}: {exc.strerror or exc}"
            ) from exc

    def _write(
        self, gen_id: int, tmp: Path, files: Files, sites: Mapping[str, Site],
        base: Generation | None,
    ) -> Generation:  # fmt: skip
        final = self.root / f"{gen_id:06d}"
        shutil.rmtree(tmp, ignore_errors=True)
        for rel, text in files.items():
            if (
                base is not None
                and base.files.get(rel) == text
                and _link(base.path / rel, tmp / rel)
            ):
                continue
            _write_new(tmp / rel, text, file_mode(rel))
        manifest: dict[str, Any] = {
            "id": gen_id,
            "files": sorted(files),
            "sites": {name: site.to_dict() for name, site in sorted(sites.items())},
        }
        _write_new(tmp / MANIFEST, json.dumps(manifest, indent=2) + "\n", 0o600)
        for folder in sorted({(tmp / rel).parent for rel in files} | {tmp}, reverse=True):
            fsync_dir(folder)
        os.rename(tmp, final)
        fsync_dir(self.root)
        return Generation(gen_id, final, dict(files), dict(sites))

    def switch(self, generation: Generation) -> None:
        """Make `generation` live, atomically."""
        tmp = self.live_link.with_name(".live.tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(os.path.relpath(generation.path, self.live_link.parent), tmp)
        os.replace(tmp, self.live_link)
        fsync_dir(self.live_link.parent)

    def prune(self, keep: int = KEEP_GENERATIONS) -> None:
        """Remove all but the newest `keep` generations, never the live one."""
        live = self.live()
        done = sorted(p for p in self.root.glob("[0-9]*") if p.name.isdigit())
        for path in done[:-keep]:
            if live is None or path.resolve() != live.path.resolve():
                shutil.rmtree(path, ignore_errors=True)
        for stale in self.root.glob(".*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)


def _link(source: Path, target: Path) -> bool:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        return False
    return True


def _write_new(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
