"""Planning: what a candidate generation changes against the live one, site by site. Pure."""

from __future__ import annotations

import difflib
import enum
from collections.abc import Collection
from dataclasses import dataclass

from hostd.core.generation import ALL_PROGRAMS, NGINX, Files, site_paths, slot_file


class Change(enum.Enum):
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SitePlan:
    name: str
    change: Change
    nginx_changed: bool = False
    program_changed: bool = False


@dataclass(frozen=True)
class Plan:
    sites: tuple[SitePlan, ...]
    nginx_changed: bool
    shared_changed: bool  # main configs and the catch-all

    @property
    def is_empty(self) -> bool:
        return (
            not self.nginx_changed
            and not self.shared_changed
            and all(p.change is Change.UNCHANGED for p in self.sites)
        )

    def of(self, change: Change) -> list[str]:
        return [p.name for p in self.sites if p.change is change]

    @property
    def touched(self) -> list[str]:
        """Sites whose new version must be started and verified."""
        return [p.name for p in self.sites if p.change in (Change.ADDED, Change.CHANGED)]


def make_plan(
    live_files: Files, candidate_files: Files, live_sites: Collection[str], sites: Collection[str]
) -> Plan:
    """What going from the live files to the candidate files changes, site by site."""
    plans: list[SitePlan] = []
    own: set[str] = set()
    for name in sorted(set(live_sites) | set(sites)):
        paths = site_paths(name)
        own.update(paths)
        nginx_changed, program_changed = (
            live_files.get(p) != candidate_files.get(p) for p in paths
        )
        if name not in live_sites:
            change = Change.ADDED
        elif name not in sites:
            change = Change.REMOVED
        elif nginx_changed or program_changed:
            change = Change.CHANGED
        else:
            change = Change.UNCHANGED
        plans.append(SitePlan(name, change, nginx_changed, program_changed))
    own.add(ALL_PROGRAMS)  # made of the sites' program files
    # what hostd keeps of each site's versions is not what the site files ask for
    shared = {
        p for p in set(live_files) | set(candidate_files) if p not in own and not slot_file(p)
    }
    shared_changed = any(live_files.get(p) != candidate_files.get(p) for p in shared)
    nginx_changed = any(
        live_files.get(p) != candidate_files.get(p)
        for p in set(live_files) | set(candidate_files)
        if p.startswith(NGINX)
    )
    return Plan(tuple(plans), nginx_changed, shared_changed)


def plan_diff(live_files: Files, candidate_files: Files, label: str = "live") -> str:
    """A unified diff from the live files to the candidate files."""
    out: list[str] = []
    for path in sorted(set(live_files) | set(candidate_files)):
        before, after = live_files.get(path), candidate_files.get(path)
        if before == after or path == ALL_PROGRAMS or slot_file(path):
            continue
        if not before or not after:  # added or removed whole: no need to compare lines
            out.extend(_whole(path, before, after, label))
            continue
        out.extend(
            difflib.unified_diff(
                (before or "").splitlines(keepends=True),
                (after or "").splitlines(keepends=True),
                fromfile=f"{label}/{path}" if before is not None else "/dev/null",
                tofile=f"candidate/{path}" if after is not None else "/dev/null",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def _whole(path: str, before: str | None, after: str | None, label: str) -> list[str]:
    """What difflib.unified_diff says of a file that is new or gone (or empty)."""
    lines = (before or after or "").splitlines(keepends=True)
    if not lines:
        return []
    count = f"1,{len(lines)}" if len(lines) != 1 else "1"
    head = [
        f"--- {label}/{path}\n" if before is not None else "--- /dev/null\n",
        f"+++ candidate/{path}\n" if after is not None else "+++ /dev/null\n",
        f"@@ -0,0 +{count} @@\n" if after else f"@@ -{count} +0,0 @@\n",
    ]
    sign = "+" if after else "-"
    return head + [sign + line for line in lines]
