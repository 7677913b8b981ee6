"""Generations on disk: written completely, switched atomically, read back.

    state/generations/000042/{manifest.json, nginx/..., supervisor/...}
    state/live -> generations/000042

A generation is written under a temporary name, fsynced and renamed into place;
`live` is a symlink replaced with rename(2). A crash at any point leaves `live`
pointing at one complete generation.

Damage from outside (a power cut on a disk that lies about fsync, a hand edit) heals:
a `live` that is missing, dangling or not a link, or a live generation whose
manifest or files are damaged (each file's sha256 is in the manifest), makes the
newest intact generation live again; with none intact, there is no live generation
and the next start renders afresh from the site files. What was skipped is said.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
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

    def __init__(self, state_dir: Path, healed: Callable[[str], None] | None = None) -> None:
        self.root = state_dir / "generations"
        self.live_link = state_dir / "live"
        self.healed = healed or (lambda text: None)
        self._cached: tuple[str, Generation] | None = None

    def live(self) -> Generation | None:
        """The generation `live` points at, or None before the first one.

        Generations never change once written, so the last one read is kept. A
        damaged `live` heals (see the module's doc) instead of raising.
        """
        try:
            target = os.readlink(self.live_link)
        except FileNotFoundError:
            target, problem = None, "state/live is missing"
        except OSError:  # not a symlink
            target, problem = None, "state/live is not a symlink"
        if target is not None:
            if self._cached is not None and self._cached[0] == target:
                return self._cached[1]
            try:
                generation = self.read(self.live_link.parent / target)
            except HostdError as exc:
                problem = str(exc)
            else:
                self._cached = (target, generation)
                return generation
        return self._heal(problem)

    def _heal(self, problem: str) -> Generation | None:
        """The newest intact generation, made live again; None if there is none."""
        skipped: list[str] = []
        first_start = problem == "state/live is missing" and not self._done()
        for path in sorted(self._done(), reverse=True):
            try:
                generation = self.read(path)
            except HostdError as exc:
                skipped.append(str(exc))
                continue
            self._say(problem, skipped, f"generation {path.name} is live again")
            try:
                if not self.live_link.is_symlink():
                    _remove(self.live_link)
                self.switch(generation)
            except OSError:
                pass  # a reader without write access: the daemon heals it
            self._cached = None
            return generation
        if not first_start:
            self._say(problem, skipped, "no intact generation: starting afresh from the site files")
            with contextlib.suppress(OSError):
                _remove(self.live_link)
        return None

    def _say(self, problem: str, skipped: list[str], outcome: str) -> None:
        self.healed("; ".join([problem, *(f"skipped {text}" for text in skipped), outcome]))

    def _done(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob("[0-9]*") if p.name.isdigit() and p.is_dir()]

    def read(self, path: Path) -> Generation:
        """The generation in `path`; HostdError if anything in it is missing or damaged."""
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            files = {str(rel): (path / rel).read_text() for rel in manifest["files"]}
            for rel, digest in dict(manifest.get("sha256", {})).items():
                if _digest(files[rel]) != digest:
                    raise ValueError(f"{rel} does not match its checksum")
            sites = {name: site_from_dict(data) for name, data in manifest["sites"].items()}
            return Generation(int(manifest["id"]), path, files, sites)
        except HostdError as exc:
            raise HostdError(f"generation {path.name} is damaged: {exc}") from exc
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise HostdError(f"generation {path.name} is damaged: {exc!r}") from exc

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
            "sha256": {rel: _digest(text) for rel, text in sorted(files.items())},
            "sites": {name: site.to_dict() for name, site in sorted(sites.items())},
        }
        # one line: json's C encoder (an indented dump is pure Python, slow at 1,000 sites)
        _write_new(tmp / MANIFEST, json.dumps(manifest) + "\n", 0o600)
        for folder in sorted({(tmp / rel).parent for rel in files} | {tmp}, reverse=True):
            fsync_dir(folder)
        os.rename(tmp, final)
        fsync_dir(self.root)
        return Generation(gen_id, final, dict(files), dict(sites))

    def switch(self, generation: Generation) -> None:
        """Make `generation` live, atomically."""
        tmp = self.live_link.with_name(".live.tmp")
        tmp.unlink(missing_ok=True)
        target = os.path.relpath(generation.path, self.live_link.parent)
        os.symlink(target, tmp)
        os.replace(tmp, self.live_link)
        fsync_dir(self.live_link.parent)
        self._cached = (target, generation)  # what reading it back would give

    def prune(self, keep: int = KEEP_GENERATIONS) -> None:
        """Remove all but the newest `keep` generations, never the live one."""
        live = self.live()
        done = sorted(p for p in self.root.glob("[0-9]*") if p.name.isdigit())
        for path in done[:-keep]:
            if live is None or path.resolve() != live.path.resolve():
                shutil.rmtree(path, ignore_errors=True)
        for stale in self.root.glob(".*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


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
