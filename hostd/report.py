"""What an apply did, site by site, and the exit code that follows from it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Outcome(enum.Enum):
    ADDED = "added"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REMOVED = "removed"
    RELOADED = "reloaded"  # same configuration, new code: gunicorn reloaded gracefully
    REJECTED = "rejected"  # the file was refused before anything changed
    FAILED = "failed"  # the new version did not come up and was rolled back

    @property
    def is_problem(self) -> bool:
        return self in (Outcome.REJECTED, Outcome.FAILED)


@dataclass(frozen=True)
class SiteResult:
    name: str
    outcome: Outcome
    detail: str = ""
    held: bool = False  # still serving its last good version

    def line(self) -> str:
        text = f"{self.name}: {self.outcome.value}"
        if self.outcome.is_problem:
            text += " (serving its last good version)" if self.held else " (not served)"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass
class ApplyReport:
    generation: int | None = None
    sites: list[SiteResult] = field(default_factory=list)
    rolled_back: bool = False
    error: str | None = None  # what stopped the apply as a whole

    @property
    def ok(self) -> bool:
        return (
            not self.rolled_back
            and self.error is None
            and not any(s.outcome.is_problem for s in self.sites)
        )

    def result(self, name: str) -> SiteResult | None:
        return next((s for s in self.sites if s.name == name), None)
