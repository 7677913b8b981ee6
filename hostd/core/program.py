"""Supervisor's programs as values: what a reread changed, and one program's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# states in which a program's process exists or is about to
RUNNING_STATES = frozenset({"STARTING", "RUNNING", "BACKOFF", "STOPPING"})
# states in which a program that was just started has failed to
FAILED_START = ("BACKOFF", "FATAL", "EXITED")
# states in which a program is down and may be started
DOWN_STATES = ("STOPPED", "EXITED", "FATAL")


@dataclass(frozen=True)
class ConfigDiff:
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class ProgramInfo:
    name: str
    state: str
    pid: int
    spawnerr: str
    description: str
    start: int
    # when it last stopped; 0 for a program added (by an apply) that never stopped since
    stopped: int = 0

    @classmethod
    def from_rpc(cls, info: dict[str, Any]) -> ProgramInfo:
        return cls(
            name=str(info["name"]),
            state=str(info["statename"]),
            pid=int(info["pid"]),
            spawnerr=str(info.get("spawnerr", "")),
            description=str(info.get("description", "")),
            stopped=int(info.get("stop", 0)),
            start=int(info.get("start", 0)),
        )
