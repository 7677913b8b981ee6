"""Two slots per site: the web program of a site runs in slot `a` or slot `b`.

A change that needs new processes starts the new version in the other slot, beside
the live one; once it passes the health gate, the site's stable socket path (what
nginx connects to, a symlink) is pointed at the new slot's socket in one rename,
and the old slot drains and stops. Slot `a`'s program is named after the site, as
it always was; slot `b`'s is `SITE.slot-b` (a process may not be named `slot-b`).
Which slot is live is written in the generation itself: its program file names
the program. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from hostd.core.generation import program_path

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
