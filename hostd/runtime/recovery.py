"""Handing the sites of a supervisord that died to the one started in its place, with no gap.

The gunicorns a killed supervisord leaves behind keep serving on their sockets. The
new supervisord starts every site's gunicorn again on the same socket path, and a
gunicorn that binds a path first unlinks what is there: from that moment until it
calls listen(), a connect to the path is refused (nginx: 502), and with a few hundred
processes starting on two cores that moment lasts up to a second.

So before the new supervisord starts, each live site's socket is renamed aside (a
bound socket keeps its connections under a new name) and the site's link is pointed
at it: the orphan goes on taking the site's connections while the new gunicorn binds
a path nobody connects to. Once the new apps answer there (the apply's own check),
each link goes back to its path; after a moment for what was queued on the orphans,
they stop: masters with SIGKILL (a graceful stop would unlink a path that is no
longer theirs), workers with SIGTERM, so that a request they are serving finishes.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hostd.core.layout import Layout
from hostd.edges.process import kill_all, start_time
from hostd.edges.procfs import proc_stat
from hostd.edges.slot_link import link_to

ASIDE = ".orphan"  # suffix of a socket set aside: `.blog.a.sock.orphan`
WORKERS_FINISH = 10.0  # seconds an orphaned worker has for the request it serves


@dataclass(frozen=True)
class Recovery:
    """A supervisord that died: the apps it left (pid -> start time), the socket path
    of each site whose orphan serves from aside until its new app answers, and the
    dead supervisord's exit code."""

    orphans: dict[int, int]
    aside: dict[str, Path]
    code: int | None


def set_aside(layout: Layout, sites: Iterable[str]) -> dict[str, Path]:
    """Move each site's live socket aside and point its link there; the site ->
    socket path of those set aside (a site whose link leads to no socket is left).
    The socket gets its second name first and loses its own last, so that the link
    leads to it at every moment (a connect in between would find nothing: a 502)."""
    aside: dict[str, Path] = {}
    for site in sites:
        link = layout.site_socket(site)
        try:
            path = link.parent / os.readlink(link)
            if not path.is_socket():
                continue
            moved = aside_path(path)
            moved.unlink(missing_ok=True)
            os.link(path, moved)
        except OSError:
            continue
        try:
            link_to(link, moved.name)
            path.unlink()  # free for the new gunicorn
        except OSError:
            link_to(link, path.name)  # as it was: the orphan serves at its own path
            moved.unlink(missing_ok=True)
            continue
        aside[site] = path
    return aside


def hand_back(layout: Layout, aside: dict[str, Path]) -> None:
    """Point each site's link at its own socket path again, where its new app runs;
    a link an apply has pointed elsewhere meanwhile is left as it is."""
    for site, path in aside.items():
        link = layout.site_socket(site)
        with contextlib.suppress(OSError):
            if os.readlink(link) == aside_path(path).name:
                link_to(link, path.name)


def retire_orphans(orphans: dict[int, int]) -> list[int]:
    """Stop the dead supervisord's apps that still run (pids reused since are left
    alone); the pids stopped."""
    left = {pid for pid, start in orphans.items() if start_time(pid) == start}
    parents = {pid: stat.ppid for pid in left if (stat := proc_stat(pid)) is not None}
    masters = [pid for pid, parent in parents.items() if parent not in left]
    for pid in masters:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    kill_all([pid for pid in parents if pid not in masters], timeout=WORKERS_FINISH)
    return sorted(left)


def remove_aside(paths: Iterable[Path]) -> None:
    for path in paths:
        aside_path(path).unlink(missing_ok=True)


def leftover_aside(layout: Layout) -> list[Path]:
    """Sockets set aside by an earlier run that stopped in the middle of a recovery."""
    return sorted(layout.run_dir.glob(f".*{ASIDE}"))


def aside_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{ASIDE}")
