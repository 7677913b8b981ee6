"""Watching the sites folder (inotify through watchdog): site files in, signals out.

Only `*.yaml`/`*.yml` that are not dotfiles or editor temporaries count; a
move counts for both of its names. The watcher only says "something changed";
what changed is for the next apply to find out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from hostd.core.site import is_site_file


def touches_site_file(event: FileSystemEvent) -> bool:
    if event.is_directory:
        return False
    paths = [event.src_path, getattr(event, "dest_path", "")]
    return any(p and is_site_file(Path(str(p))) for p in paths)


class _Handler(FileSystemEventHandler):
    def __init__(self, changed: Callable[[], None]) -> None:
        self.changed = changed

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if touches_site_file(event):
            self.changed()


class SiteWatcher:
    """Calls `changed` (from its own thread) whenever a site file may have changed."""

    def __init__(self, folder: Path, changed: Callable[[], None]) -> None:
        self.folder = folder
        self.observer = Observer()
        self.observer.schedule(_Handler(changed), str(folder), recursive=False)

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)
