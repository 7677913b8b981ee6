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
    ROLLED_BACK = "rolled back"  # its previous version serves again (`hostd rollback`)
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


class Tone(enum.Enum):
    """How a line of a report reads: good news, no news, or a problem."""

    GOOD = "good"
    NEUTRAL = "neutral"
    PROBLEM = "problem"


@dataclass(frozen=True)
class ReportLine:
    text: str
    tone: Tone


def _tone(result: SiteResult) -> Tone:
    if result.outcome.is_problem:
        return Tone.PROBLEM
    if result.outcome is Outcome.UNCHANGED:
        return Tone.NEUTRAL
    return Tone.GOOD


def report_lines(report: ApplyReport, *, changes_only: bool = False) -> list[ReportLine]:
    """What an apply says, one line per site then how it ended: the lines `hostd
    reload` prints, the daemon's news (`changes_only`: unchanged sites left out) and
    the dashboard's flash messages."""
    lines = [
        ReportLine(result.line(), _tone(result))
        for result in report.sites
        if not (changes_only and result.outcome is Outcome.UNCHANGED)
    ]
    if report.rolled_back:
        text = f"rolled back to generation {report.generation}: {report.error}"
        lines.append(ReportLine(text, Tone.PROBLEM))
    elif report.error:
        lines.append(ReportLine(f"nothing applied: {report.error}", Tone.PROBLEM))
    elif report.generation is not None and (lines or not changes_only):
        lines.append(ReportLine(f"generation {report.generation} is live", Tone.GOOD))
    return lines
