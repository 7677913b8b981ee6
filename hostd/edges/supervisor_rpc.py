"""Runs inside an embedded instance's supervisord: a reread that parses only the
programs whose text changed.

Supervisor's own `reloadConfig` parses every program on every call, in supervisord's
single thread: 0.09 s at 300 programs and 0.34 s at 1,000, on every apply, while
most applies change one site. supervisord loads this module as an rpcinterface
(`[rpcinterface:hostd]` in the supervisord.conf hostd renders for `hostd up`), and
`hostd.reloadPrograms(path)` does what `supervisor.reloadConfig` does for the one
file hostd writes every program into: it reads the file's text, splits it into its
`[program:x]` sections, parses only the sections whose text differs from the text
it parsed last, and answers as `reloadConfig` does: `[[added, changed, removed]]`.
The first call, and any file with other kinds of section, is a full reread.
Sections are compared without their comments and blank lines.

`hostd.addPrograms(sections)` starts programs before the file names them (a new
site boots while hostd checks and writes the generation that will name it); a later
reread of a file with the same sections finds them unchanged.

`hostd.retireProgram(name, stop)` forgets a group at once without waiting for its
processes, so that a group of the same name can start beside them: a site's new
version takes the slot its previous version was kept warm in without waiting out
that version's stop. With `stop` false the retired processes keep running until
`hostd.stopRetired()` (hostd calls it once the new version is live: their stop
costs the new version's boot CPU on the same cores), at the latest `HOLD` seconds
later. They stop as any other (their stop signal, SIGKILL once their `stopwaitsecs`
have passed) and are reaped as any other; supervisord reads their output until they
exit.

Every program starts in a session of its own (`setsid` where Supervisor calls
`setpgrp`: the same new process group, and a new session with it). A kernel that
groups tasks by session for its scheduler (autogroup, Debian's default outside a
cgroup CPU controller) then shares the CPU between programs, not between their
processes: a site's version booting beside the busy workers of every other site gets
a program's share, as a gunicorn started on its own does, not a slice of theirs.
And in each child the descriptors it must not inherit are closed in one call, not in
Supervisor's loop of a thousand (`closing_at_once`).

This module runs in supervisord's process: it imports only the standard library
and Supervisor.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

from supervisor import events
from supervisor.options import UnhosedConfigParser
from supervisor.states import ProcessStates
from supervisor.xmlrpc import Faults, RPCError

HOLD = 60.0  # seconds a retired group may be held running before it stops anyway
SECTION = re.compile(r"^\[([^\]\n]+)\][ \t]*$", re.MULTILINE)


def options_of(section: str) -> str:
    """A section as Supervisor reads it: comment lines and blank lines left out."""
    return "".join(
        line
        for line in section.splitlines(keepends=True)
        if line.strip() and not line.lstrip().startswith((";", "#"))
    )


def program_sections(text: str) -> dict[str, str] | None:
    """Each `[program:x]` section's name -> its text (header to the next header);
    None when the text has sections of any other kind (a full reread handles those)."""
    headers = list(SECTION.finditer(text))
    sections: dict[str, str] = {}
    for n, header in enumerate(headers):
        name = header.group(1).strip()
        if not name.startswith("program:") or name in sections:
            return None
        end = headers[n + 1].start() if n + 1 < len(headers) else len(text)
        sections[name] = text[header.start() : end]
    return sections


class HostdNamespace:
    """The `hostd.` methods of an embedded instance's supervisord."""

    def __init__(self, supervisord: Any, hold: float = HOLD) -> None:
        self.supervisord = supervisord
        self.hold = hold  # seconds a retired group may be held running
        self.parsed: dict[str, str] | None = None  # section -> its options parsed last
        self.retiring: list[_Retired] = []  # groups retired whose processes still run
        # called in each child between its fork and its exec, where setpgrp was
        supervisord.options.setpgrp = own_session
        supervisord.options.close_fd = closing_at_once(supervisord.options)

    def reloadPrograms(self, path: str) -> list[list[list[str]]]:
        """Reread the programs of `path` (the file every program is in), parsing only
        the sections whose text changed since the last call.

        @param string path  the programs file supervisord includes
        @return array result  [[added, changed, removed]], as reloadConfig
        """
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise RPCError(Faults.CANT_REREAD, f"cannot read {path}: {exc}") from exc
        sections = program_sections(text)
        options = None if sections is None else {n: options_of(t) for n, t in sections.items()}
        try:
            if sections is None or options is None or self.parsed is None:
                self.supervisord.options.process_config(do_usage=False)
            else:
                self._reparse(path, sections, options)
        except ValueError as exc:
            raise RPCError(Faults.CANT_REREAD, str(exc)) from exc
        self.parsed = options  # None after a file with other sections: read it all again
        added, changed, removed = self.supervisord.diff_to_active()
        return [[
            [group.name for group in added],
            [group.name for group in changed],
            [group.name for group in removed],
        ]]  # fmt: skip

    def _reparse(self, path: str, sections: dict[str, str], options: dict[str, str]) -> None:
        """Replace the configs of the sections whose options changed, drop those that
        went (`options`: each section's text as `options_of` gives it)."""
        assert self.parsed is not None
        fresh = {n: sections[n] for n, text in options.items() if self.parsed.get(n) != text}
        groups = self._parse(fresh, path)
        kept = {group.name: group for group in self.supervisord.options.process_group_configs}
        configs = []
        for name in sections:
            group_name = name.split(":", 1)[1]
            config = groups.get(group_name) or kept.get(group_name)
            if config is None:  # parsed under another name: a full reread sorts it out
                raise ValueError(f"section [{name}] did not give group {group_name}")
            configs.append(config)
        self._set_configs(configs)

    def _set_configs(self, configs: list[Any]) -> None:
        """What supervisord's next add or diff takes as its configuration."""
        self.supervisord.options.process_group_configs = configs
        self.supervisord.options.configroot.supervisord.process_group_configs = configs

    def _parse(self, sections: dict[str, str], source: str) -> dict[str, Any]:
        """Group name -> its config, for `sections` (name -> text), parsed as
        supervisord parses its config file. Raises ValueError."""
        options = self.supervisord.options
        parser = UnhosedConfigParser()
        parser.expansions = options.environ_expansions
        parser.read_string("".join(sections.values()), source=source)
        parser.section_to_file = dict.fromkeys(sections, source)
        groups = {group.name: group for group in options.process_groups_from_parser(parser)}
        environment = getattr(options.configroot.supervisord, "environment", None) or {}
        for group in groups.values():  # as supervisord's own read of its config does
            for process in group.process_configs:
                process.environment = {**environment, **process.environment}
        return groups

    def addPrograms(self, sections: dict[str, str]) -> list[str]:
        """Add and start programs no file names yet (group -> its `[program:x]`
        section), each spawned before the answer; a group supervisord already has is
        left as it is.

        @param struct sections  group name -> its section's text
        @return array result  the groups added
        """
        texts = {f"program:{group}": text for group, text in sections.items()}
        if any(program_sections(text) != {name: text} for name, text in texts.items()):
            raise RPCError(Faults.INCORRECT_PARAMETERS, "one [program:x] section per group")
        try:
            groups = self._parse(texts, "<hostd>")
        except ValueError as exc:
            raise RPCError(Faults.CANT_REREAD, str(exc)) from exc
        added = []
        for name, config in groups.items():
            if name in self.supervisord.process_groups:
                continue
            configs = self.supervisord.options.process_group_configs
            self._set_configs([c for c in configs if c.name != name] + [config])
            if self.parsed is not None:
                self.parsed[f"program:{name}"] = options_of(texts[f"program:{name}"])
            self.supervisord.add_process_group(config)
            # spawned now, not on supervisord's next pass (one more wait on its poll)
            self.supervisord.process_groups[name].transition()
            added.append(name)
        return added

    def retireProgram(self, name: str, stop: bool = True) -> list[int]:
        """Forget group `name` without waiting for its processes: a group of that name
        may be added at once. Its processes get their stop signal now, or with `stop`
        false at `stopRetired` (at the latest `hold` seconds later), and SIGKILL once
        their stop wait has passed; their output is read until they exit.

        @param string name  the group
        @param boolean stop  whether its processes stop now
        @return array result  the pids of its processes (none for a group not known)
        """
        group = self.supervisord.process_groups.get(name)
        if group is None:
            return []
        pids = [p.pid for p in group.processes.values() if p.pid]
        if stop:
            group.stop_all()
        if group.get_unstopped_processes():
            if "get_process_map" not in vars(self.supervisord):
                self.supervisord.get_process_map = self._process_map
            self.retiring.append(_Retired(group, None if stop else time.monotonic() + self.hold))
        group.before_remove()
        del self.supervisord.process_groups[name]
        events.notify(events.ProcessGroupRemovedEvent(name))
        return pids

    def stopRetired(self) -> list[int]:
        """Stop the retired groups still held running.

        @return array result  the pids told to stop
        """
        pids: list[int] = []
        for retired in self.retiring:
            if retired.held_until is not None:
                pids += [p.pid for p in retired.group.processes.values() if p.pid]
                retired.stop()
        return pids

    def _process_map(self) -> dict[int, Any]:
        """supervisord's map of the pipes it reads on each pass, with those of the
        retired processes still running; on each pass, as supervisord does for its
        own groups, each of those stopping is SIGKILLed once its stop wait has
        passed, and a group held running past its time is stopped."""
        dispatchers: dict[int, Any] = type(self.supervisord).get_process_map(self.supervisord)
        now = time.monotonic()
        for retired in list(self.retiring):
            group = retired.group
            if retired.held_until is not None and now >= retired.held_until:
                retired.stop()
            for process in group.processes.values():
                if process.get_state() == ProcessStates.STOPPING:
                    process.transition()
            if group.get_unstopped_processes():
                dispatchers.update(group.get_dispatchers())
            else:
                self.retiring.remove(retired)
        return dispatchers


_child = False  # true in a child supervisord forked, once `own_session` has run in it


def own_session() -> None:
    """A new session for the calling process (and a new process group: setpgrp's
    part); a new process group alone where it leads one already. Supervisor calls it
    first thing in each child it forks."""
    global _child
    _child = True
    try:
        os.setsid()
    except PermissionError:
        os.setpgrp()


def closing_at_once(options: Any) -> Callable[[int], None]:
    """Supervisor's `close_fd`, but in a child before its exec: there Supervisor
    closes every descriptor from 3 to `minfds` (1,024) in turn, one call each, each
    raising and catching an OSError for a descriptor not open (~2 ms per spawn); its
    call for 3 closes them all at once (`os.closerange`) and the others are left
    nothing to do. In supervisord itself, as before."""
    close_fd: Callable[[int], None] = options.close_fd

    def close(fd: int) -> None:
        if not _child:
            close_fd(fd)
        elif fd == 3:
            os.closerange(3, options.minfds)
        elif not 3 < fd < options.minfds:
            close_fd(fd)

    return close


class _Retired:
    """A group supervisord has forgotten whose processes have not all stopped: held
    running until `held_until` (monotonic), or stopping (None)."""

    def __init__(self, group: Any, held_until: float | None) -> None:
        self.group = group
        self.held_until = held_until

    def stop(self) -> None:
        """Its processes get their stop signal; no longer held."""
        self.held_until = None
        self.group.stop_all()


def make_rpcinterface(supervisord: Any, **config: str) -> HostdNamespace:
    """The factory `[rpcinterface:hostd]` names; its `retired_hold` option (seconds)
    replaces HOLD."""
    return HostdNamespace(supervisord, float(config.get("retired_hold", HOLD)))
