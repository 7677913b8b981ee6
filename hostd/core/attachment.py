"""The two lines system mode adds to the machine's configuration. Pure text functions.

nginx: one file in conf.d (inside http{} on Debian) that includes hostd's live
configuration. Supervisor: one more glob on the `files =` line of its [include]
section (Supervisor does not follow an include inside an included file).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hostd.core.layout import Layout

MARK = "hostd"


def nginx_hook_text(layout: Layout) -> str:
    return (
        "# Added by hostd: serve the sites of /etc/hostd/sites.d. Remove this file to detach.\n"
        f"include {layout.live_link}/nginx/hostd.conf;\n"
    )


def supervisor_glob(layout: Layout) -> str:
    return f"{layout.live_link}/supervisor/programs/*.conf"


_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
_FILES = re.compile(r"^(?P<key>\s*files\s*[=:])(?P<value>.*)$")


def with_supervisor_include(text: str, glob: str) -> str | None:
    """`text` with `glob` added to its [include] files, or None if it is there already."""
    lines = text.splitlines()
    for index, files in _include_files_lines(lines):
        if glob in files.group("value").split():
            return None
        lines[index] = f"{files.group('key')}{files.group('value').rstrip()} {glob}"
        return "\n".join(lines) + "\n"
    if section_names(lines).count("include"):
        raise ValueError("its [include] section has no files line")
    return text.rstrip("\n") + f"\n\n[include]\nfiles = {glob}\n"


def _include_files_lines(lines: list[str]) -> Iterator[tuple[int, re.Match[str]]]:
    """Each `files =` line of an [include] section: its index and its match."""
    section = None
    for index, line in enumerate(lines):
        match = _SECTION.match(line)
        if match:
            section = match.group("name").strip()
            continue
        files = _FILES.match(line)
        if section == "include" and files:
            yield index, files


def section_names(lines: list[str]) -> list[str]:
    return [m.group("name").strip() for line in lines if (m := _SECTION.match(line))]


def declares_default_server(text: str) -> bool:
    """True if an nginx config file claims default_server on some listen."""
    return any(
        "default_server" in line.split("#", 1)[0] and "listen" in line for line in text.splitlines()
    )


# http-level directives hostd's include sets unless the machine's nginx.conf does
HASH_DIRECTIVES = ("server_names_hash_bucket_size", "server_names_hash_max_size")


def directives_set(text: str, names: tuple[str, ...] = HASH_DIRECTIVES) -> frozenset[str]:
    """Which of `names` an nginx config sets on a line of its own (comments ignored):
    Debian's nginx.conf ships `# server_names_hash_bucket_size 64;` for admins to
    uncomment, and nginx refuses the directive twice."""
    found = set()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] in names:
            found.add(words[0])
    return frozenset(found)


def without_supervisor_include(text: str, glob: str) -> str | None:
    """`text` with `glob` taken out of its [include] files again (and the section, if
    hostd added it alone), or None if it is not there: what `hostd init --undo` writes."""
    lines = text.splitlines()
    for index, files in _include_files_lines(lines):
        values = files.group("value").split()
        if glob not in values:
            return None
        rest = [value for value in values if value != glob]
        if rest:
            lines[index] = f"{files.group('key')} {' '.join(rest)}"
        else:
            del lines[index]
            header = next(i for i in range(index - 1, -1, -1) if _SECTION.match(lines[i]))
            if all(not other.strip() for other in lines[header + 1 : index + 1]):
                del lines[header:index]
        return "\n".join(lines).rstrip("\n") + "\n"
    return None
