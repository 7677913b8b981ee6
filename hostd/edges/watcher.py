"""Watching the sites folder (inotify through watchdog): site files in, signals out.

Only `*.yaml`/`*.yml` that are not dotfiles or editor temporaries count; a
move counts for both of its names. So do the sites' env files (`watch_files`),
wherever they are: their folders are watched too, and only their names count
(the watcher sees paths, never what the files hold). The watcher only says
"something changed", and whether a file arrived whole (renamed into place, or closed
after writing: nothing more of it is coming); what changed is for the next apply to
find out. A deletion is never whole: deleting a folder's files one by one (rm -r)
is a burst that ends with the folder gone.
"""

from __future__ import annotations

import contextlib
import stat
from collections.abc import Callable, Collection
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from hostd.core.generation import Generation
from hostd.core.site import is_site_file

Changed = Callable[[bool], None]  # called with True when a file arrived whole


def touches_site_file(event: FileSystemEvent) -> bool:
    if event.is_directory:
        return False
    paths = [event.src_path, getattr(event, "dest_path", "")]
    return any(p and is_site_file(Path(str(p))) for p in paths)


class _Handler(FileSystemEventHandler):
    def __init__(self, changed: Changed, folder: Path, lost: Callable[[], None]) -> None:
        self.changed = changed
        self.folder = str(folder)
        self.lost = lost
        self.files: frozenset[str] = frozenset()  # env files, by path

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if (
            event.is_directory
            and event.event_type in ("deleted", "moved")
            and str(event.src_path).rstrip("/") == self.folder.rstrip("/")
        ):
            self.lost()  # the watched folder itself went: watch whatever comes next
            self.changed(False)
            return
        if touches_site_file(event) or touches_one_of(event, self.files):
            self.changed(arrived_whole(event, self.files))


def arrived_whole(event: FileSystemEvent, files: Collection[str]) -> bool:
    """True if a site or env file was renamed into place or closed after writing."""
    if event.event_type == "moved":
        path = str(getattr(event, "dest_path", ""))
    elif event.event_type == "closed":  # IN_CLOSE_WRITE
        path = str(event.src_path)
    else:
        return False
    return bool(path) and (is_site_file(Path(path)) or path in files)


def touches_one_of(event: FileSystemEvent, files: Collection[str]) -> bool:
    if event.is_directory:
        return False
    return any(str(p) in files for p in (event.src_path, getattr(event, "dest_path", "")) if p)


def env_files(live: Generation | None) -> set[Path]:
    """The env files of the live sites (a refused site's held version's too)."""
    sites = live.sites.values() if live else ()
    return {site.env_file for site in sites if site.env_file is not None}


def folder_identity(folder: Path) -> tuple[int, int] | None:
    """Which folder `folder` names now (device, inode), or None if none does."""
    try:
        info = folder.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None


class SiteWatcher:
    """Calls `changed` (from its own thread) whenever a site file may have changed,
    with True when a file arrived whole.

    inotify watches a folder, not a path: when the sites folder is deleted, renamed
    or replaced, `rearm` (called by the daemon every turn of its loop) notices that
    the path names another folder or none, watches the new one, and calls `changed`
    so that the next apply looks at it.
    """

    def __init__(self, folder: Path, changed: Changed) -> None:
        self.folder = folder
        self.changed = changed
        self.observer = Observer()
        self._handler = _Handler(changed, folder, self._lost)
        self._watch: ObservedWatch | None = None
        self._identity: tuple[int, int] | None = None
        self._others: dict[Path, ObservedWatch] = {}  # folders of env files elsewhere
        self._schedule(folder_identity(folder))

    def watch_files(self, files: Collection[Path]) -> None:
        """Call `changed` also when one of `files` (the live sites' env files) is
        written, replaced, moved, deleted or changes mode."""
        self._handler.files = frozenset(str(f) for f in files)
        folders = {f.parent for f in files} - {self.folder}
        for folder in set(self._others) - folders:
            with contextlib.suppress(KeyError, OSError):
                self.observer.unschedule(self._others.pop(folder))
        for folder in folders - set(self._others):
            with contextlib.suppress(OSError):  # a missing folder: the apply says so
                self._others[folder] = self.observer.schedule(self._handler, str(folder))

    def _schedule(self, identity: tuple[int, int] | None) -> None:
        if self._watch is not None:
            with contextlib.suppress(KeyError, OSError):  # its emitter may have ended
                self.observer.unschedule(self._watch)
            self._watch = None
        if identity is not None:
            try:
                self._watch = self.observer.schedule(self._handler, str(self.folder))
            except OSError:
                identity = None  # gone again, or unreadable: the next turn retries
        self._identity = identity

    def _lost(self) -> None:
        """From the observer's thread: the watch ended with its folder."""
        self._identity = None

    def rearm(self) -> bool:
        """Watch the folder the path names now if that is not the one watched; True
        (and `changed` called) if it was not."""
        identity = folder_identity(self.folder)
        if identity == self._identity and (identity is None or self._watch is not None):
            return False
        self._schedule(identity)
        self.changed(False)
        return True

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)
