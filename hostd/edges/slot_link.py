"""The stable socket path of a site, pointed at the socket of its live slot.

nginx connects to `layout.site_socket(site)` for every request (its upstreams keep
no idle connections), which is a symlink to the live slot's gunicorn socket. The
switch is one rename of a fresh link over it: each connect lands on the old slot
or on the new one, never on nothing. The old slot's gunicorn keeps its socket and
answers what was already queued on it; `SETTLE` gives it the time to take those
connections before it is asked to drain and stop; an old slot kept warm (for a
rollback) keeps running, so no wait is needed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from hostd.core.layout import Layout
from hostd.errors import HostdError

SETTLE = 0.3


class SocketLinks:
    """The real `hostd.apply.ports.Sockets`."""

    def __init__(self, layout: Layout, settle: float = SETTLE) -> None:
        self.layout = layout
        self.settle = settle

    def pointed(self, site: str) -> str | None:
        """The slot `site`'s stable socket path links to, or None."""
        link = self.layout.site_socket(site)
        try:
            target = os.readlink(link)
        except OSError:
            return None
        for slot in ("a", "b"):
            if Path(target).name == self.layout.slot_socket(site, slot).name:
                return slot
        return None

    def vacate(self, site: str, slot: str) -> None:
        try:
            self.layout.slot_socket(site, slot).unlink(missing_ok=True)
        except OSError as exc:
            raise HostdError(f"cannot free the socket path of {site}'s slot {slot}: {exc}") from exc

    def point(self, site: str, slot: str, *, settle: bool = True) -> None:
        link = self.layout.site_socket(site)
        before = self.pointed(site)
        if before == slot:
            return
        try:
            link_to(link, self.layout.slot_socket(site, slot).name)
        except OSError as exc:
            raise HostdError(f"cannot point {link} at slot {slot}: {exc}") from exc
        if before is not None and settle:
            time.sleep(self.settle)


def link_to(link: Path, name: str) -> None:
    """Make `link` a symlink to `name` beside it, in one rename (a connect through
    it finds the old target or the new one). Raises OSError."""
    fresh = link.with_name(f".{link.name}.new")
    fresh.unlink(missing_ok=True)
    os.symlink(name, fresh)  # relative: the sockets sit beside their link
    os.replace(fresh, link)
