"""Where an instance's run folder is, by name only (no pathlib): the layout builds its
paths from these, and the command that hands a reload to the running daemon finds
that daemon with them before it imports anything else. Pure."""

from __future__ import annotations

import os

EMBEDDED_RUN = "run"  # below an embedded instance's home
SYSTEM_RUN = "run/hostd"  # below the root folder of system mode
UP_LOCK = "up.lock"  # held by the `hostd up` or `hostd watch` serving the instance


def run_folder(home: str | None, root: str = "/") -> str:
    """The run folder of the embedded instance at `home`, or without one of system
    mode below `root`; absolute."""
    if home is None:
        return os.path.join(os.path.abspath(root), SYSTEM_RUN)
    return os.path.join(os.path.abspath(home), EMBEDDED_RUN)
