"""Two slots per site: the web program of a site runs in slot `a` or slot `b`.

A change that needs new processes starts the new version in the other slot, beside
the live one; once it passes the health gate, the site's stable socket path (what
nginx connects to, a symlink) is pointed at the new slot's socket in one rename,
and the old slot drains and stops. Slot `a`'s program is named after the site, as
it always was; slot `b`'s is `SITE.slot-b` (a process may not be named `slot-b`).
Which slot is live is written in the generation itself: its program file names
the program. A new version on trial beside it has its web program in the
generation's `supervisor/programs/SITE.trial.conf` (a generation that names it
live is only written once it passed its gate); the previous version, kept running
for an instant rollback, in `SITE.warm.conf` beside it (where Supervisor's include,
system mode's glob too, finds them); each site's version number and the one
before it in `slots/versions.json`. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from hostd.core.generation import (
    ALL_PROGRAMS,
    PROGRAMS,
    TRIAL,
    VERSIONS,
    WARM,
    all_programs,
    program_path,
    slot_file,
)

# the Supervisor states of a warm slot's program a rollback can switch to: up, or
# within its first seconds (the startsecs a new version passed its gate in)
WARM_STATES = frozenset({"RUNNING", "STARTING"})

A = "a"
B = "b"
SLOT_B = "slot-b"


def slot_of(site: str, on_b: Collection[str]) -> str:
    """The slot `site` runs in when `on_b` are the sites in slot b."""
    return B if site in on_b else A


def other(slot: str) -> str:
    return A if slot == B else B


def web_program(site: str, slot: str) -> str:
    """The Supervisor program of `site`'s gunicorn in `slot`."""
    return site if slot == A else f"{site}.{SLOT_B}"


def sites_on_b(files: Mapping[str, str], sites: Collection[str]) -> frozenset[str]:
    """The sites among `sites` whose web program in `files` runs in slot b."""
    return frozenset(
        name
        for name in sites
        if f"[program:{web_program(name, B)}]" in files.get(program_path(name), "")
    )


def flipped(on_b: Collection[str], names: Collection[str]) -> frozenset[str]:
    """The sites in slot b once `names` move to their other slot."""
    return frozenset(set(on_b) ^ set(names))


def web_section(text: str, site: str) -> str:
    """The options of the web program in a site's program file, in either slot;
    comments, blank lines and its worker processes' sections left out."""
    webs = (f"[program:{web_program(site, A)}]", f"[program:{web_program(site, B)}]")
    kept: list[str] = []
    keep = True
    for line in text.splitlines(keepends=True):
        if line.startswith("[program:"):
            keep = line.rstrip("\n") in webs
        if keep and line.strip() and not line.startswith(";"):
            kept.append(line)
    return "".join(kept)


def live_programs(files: Mapping[str, str], sites: Collection[str]) -> frozenset[str]:
    """The Supervisor programs of `sites` that `files` (a generation) runs: each
    site's web program in its live slot and its worker processes; not an old slot
    draining or a new one on trial."""
    names: set[str] = set()
    for site in sites:
        text = files.get(program_path(site), "")
        names.update(
            line[len("[program:") : -1]
            for line in text.splitlines()
            if line.startswith("[program:") and line.endswith("]")
        )
    return frozenset(names)


# -- versions: which version each slot holds, kept in the generation ----------------


@dataclass(frozen=True)
class Previous:
    """The version a site served before its last switch: its number, its slot, its
    configuration (`Site.to_dict()`), and until when its program is kept running
    (warm) for an instant rollback; None once it has stopped."""

    number: int
    slot: str
    site: dict[str, Any]
    warm_until: float | None = None
    left_at: float | None = None  # when the traffic left it (epoch)

    def warm(self, now: float) -> bool:
        return self.warm_until is not None and now < self.warm_until

    def runs_in(self, state: str, started: float, now: float) -> bool:
        """True if a program in `state`, started at `started` (epoch), is this
        version still warm: up, and started before the traffic left it (one that
        Supervisor started again since runs the code on disk now)."""
        before = self.left_at is None or started < self.left_at
        return self.warm(now) and state in WARM_STATES and before


@dataclass(frozen=True)
class Version:
    """The version a site serves: a number that grows with each new version started
    in a slot, the slot, what it replaced, and the configuration a rollback turned
    away from (the site file's version is held back while it says just that)."""

    number: int
    slot: str
    previous: Previous | None = None
    held_from: dict[str, Any] | None = None


def versions_of(files: Mapping[str, str], sites: Collection[str]) -> dict[str, Version]:
    """Each of `sites`' version as the generation `files` records it; a site it does
    not record (new, or from before versions were kept) is version 1 in its slot."""
    try:
        data = json.loads(files.get(VERSIONS, "{}"))
    except ValueError:
        data = {}
    on_b = sites_on_b(files, sites)
    out: dict[str, Version] = {}
    for name in sites:
        entry = data.get(name) if isinstance(data, dict) else None
        slot = slot_of(name, on_b)
        if not isinstance(entry, dict) or entry.get("slot") != slot:
            out[name] = Version(1, slot)
            continue
        before = entry.get("previous")
        previous = None
        if isinstance(before, dict):
            number, slot_before, site = int(before["number"]), str(before["slot"]), before["site"]
            previous = Previous(number, slot_before, dict(site), before.get("warm_until"),
                                before.get("left_at"))  # fmt: skip
        out[name] = Version(int(entry["number"]), slot, previous, entry.get("held_from"))
    return out


def versions_text(versions: Mapping[str, Version]) -> str:
    """`versions` as the generation keeps them: a site's first version, with nothing
    before it, goes without saying."""
    kept = {
        name: asdict(version)
        for name, version in sorted(versions.items())
        if version != Version(1, version.slot)
    }
    return json.dumps(kept, indent=2) + "\n"


def switched_version(
    current: Version, site: Mapping[str, Any], warm_until: float | None, left_at: float
) -> Version:
    """The version after a switch to a new version in the other slot: `site` (the
    configuration that served until now) becomes the previous one."""
    newest = max(current.number, current.previous.number if current.previous else 0)
    before = Previous(current.number, current.slot, dict(site), warm_until, left_at)
    return Version(newest + 1, other(current.slot), before)


def rolled_back_version(
    current: Version, site: Mapping[str, Any], warm_until: float | None, left_at: float,
    hold: bool,
) -> Version:  # fmt: skip
    """The version after a rollback: the previous one serves again, and the one it
    replaces becomes the previous one (a second rollback goes forward again). With
    `hold`, the configuration rolled back from is held back from the next applies."""
    assert current.previous is not None
    back = current.previous
    before = Previous(current.number, current.slot, dict(site), warm_until, left_at)
    return Version(back.number, back.slot, before, dict(site) if hold else None)


def cooled(version: Version) -> Version:
    """`version` once its previous slot has stopped."""
    if version.previous is None or version.previous.warm_until is None:
        return version
    return replace(version, previous=replace(version.previous, warm_until=None))


def trial_path(site: str) -> str:
    return f"{PROGRAMS}{site}{TRIAL}"  # a site name has no dot: never another site's


def warm_path(site: str) -> str:
    return f"{PROGRAMS}{site}{WARM}"


def warm_sites(files: Mapping[str, str]) -> frozenset[str]:
    """The sites whose previous version's web program `files` keep running."""
    return frozenset(
        rel.removeprefix(PROGRAMS).removesuffix(WARM)
        for rel in files
        if rel.startswith(PROGRAMS) and rel.endswith(WARM)
    )


def with_slots(
    files: Mapping[str, str], kept: Mapping[str, str], versions: Mapping[str, Version]
) -> dict[str, str]:
    """Rendered `files` with the slot files `kept` (trial and warm web programs) and
    the `versions`, supervisord's one program file made anew from them all."""
    out = {rel: text for rel, text in files.items() if not slot_file(rel)}
    out.update(kept)
    out[VERSIONS] = versions_text(versions)
    if ALL_PROGRAMS in out:
        out[ALL_PROGRAMS] = all_programs(out)
    return out


def kept_warm(
    files: Mapping[str, str], versions: Mapping[str, Version], sites: Collection[str], now: float
) -> dict[str, str]:
    """The warm web programs of `files` still to keep: of sites in `sites` whose
    previous version is warm at `now`."""
    out: dict[str, str] = {}
    for name in warm_sites(files):
        version = versions.get(name)
        if name in sites and version and version.previous and version.previous.warm(now):
            out[warm_path(name)] = files[warm_path(name)]
    return out
