"""hostd's own event log: one JSON line per event, globally and in the site's folder.

`EventLog` is the real `hostd.apply.ports.Events`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hostd.core.layout import Layout, Mode
from hostd.core.timing import iso_time
from hostd.edges.log_folders import adm_group, is_hostd_folder

logger = logging.getLogger("hostd")


class EventLog:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        # called with every record after it is written (the notifier of [notify])
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def emit(
        self, event: str, site: str | None = None, *, level: int = logging.INFO, **fields: Any
    ) -> None:
        """Record `event`; a full disk or a missing folder never stops hostd."""
        record = {"ts": iso_time(), "event": event}
        if site:
            record["site"] = site
        record.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(record, default=str) + "\n"
        targets = [self.layout.hostd_log]
        folder = self.layout.site_log_dir(site) if site else None
        # a site's own copy only in its folder: never in one hostd did not make (a
        # refused site named like another program's /var/log folder, a removed site)
        if folder is not None and (self.layout.mode is Mode.EMBEDDED or is_hostd_folder(folder)):
            targets.append(folder / "hostd.log")
        group = adm_group() if self.layout.mode is Mode.SYSTEM else None
        for path in targets:
            _append(path, line, group)
        logger.log(level, "%s", " ".join(_pair(k, v) for k, v in record.items() if k != "ts"))
        for listener in self.listeners:
            try:
                listener(record)
            except Exception:  # an alert that cannot be sent never stops hostd
                logger.exception("a listener of event %s failed", event)


def _pair(key: str, value: Any) -> str:
    text = str(value)
    return f"{key}={json.dumps(text) if (' ' in text or not text) else text}"


def _append(path: Path, line: str, group: int | None = None) -> None:
    """Append `line`; a new file is 0640 and, with `group` (system mode: adm), its group's."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            if group is not None and os.fstat(fd).st_gid != group:
                os.fchown(fd, -1, group)
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        logger.warning("cannot write %s: %s", path, exc)
