"""Supervisor as an edge: XML-RPC over its unix socket, and its own config parser.

`XmlRpcSupervisor` is the real `hostd.apply.ports.Supervisor`; every fault and
every unreachable socket becomes a SupervisorError.
"""

from __future__ import annotations

import http.client
import time
import xmlrpc.client
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

from hostd.core.program import RUNNING_STATES, ConfigDiff, ProgramInfo
from hostd.edges.probe import UnixConnection
from hostd.errors import SupervisorError

# Fault codes from supervisor/xmlrpc.py
UNKNOWN_METHOD = 1
BAD_NAME = 10
ALREADY_STARTED = 60
NOT_RUNNING = 70
ALREADY_ADDED = 90
STILL_RUNNING = 91
CANT_REREAD = 92


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__()
        self._path = path
        self._timeout = timeout
        self._connection_to_close: http.client.HTTPConnection | None = None

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection_to_close is None:
            self._connection_to_close = UnixConnection(self._path, self._timeout)
        return self._connection_to_close

    def close(self) -> None:
        if self._connection_to_close is not None:
            self._connection_to_close.close()
            self._connection_to_close = None
        super().close()


class XmlRpcSupervisor:
    """supervisord reached over its unix socket; faults become SupervisorError.

    With `programs` (the one file an embedded supervisord includes every program
    from), a reread asks hostd's own rpcinterface (`hostd.edges.supervisor_rpc`) to
    parse only the programs that changed, and falls back to Supervisor's full
    reread when that supervisord does not have it."""

    def __init__(
        self, socket_path: Path, timeout: float = 60.0, programs: Path | None = None
    ) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self.programs = programs

    @contextmanager
    def _call(self, what: str, namespace: str = "supervisor") -> Iterator[Any]:
        transport = _UnixTransport(self.socket_path, self.timeout)
        proxy = xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=transport)
        try:
            yield getattr(proxy, namespace)
        except xmlrpc.client.Fault as exc:
            raise SupervisorError(f"{what}: {exc.faultString}", fault=exc.faultCode) from exc
        except (
            OSError, xmlrpc.client.ProtocolError, http.client.HTTPException, ExpatError
        ) as exc:  # fmt: skip
            # ExpatError: an answer cut short, by a supervisord that died sending it
            raise SupervisorError(
                f"{what}: supervisord is not reachable on {self.socket_path}: {exc}"
            ) from exc
        finally:
            transport.close()

    def is_running(self) -> bool:
        try:
            with self._call("getState") as rpc:
                return bool(rpc.getState()["statename"] == "RUNNING")
        except SupervisorError:
            return False

    def _hostd(self, what: str, method: str, *args: Any, newer: bool = False) -> Any | None:
        """`method` of hostd's rpcinterface, or None where supervisord has none (and
        from then on without asking); a `newer` method's absence only says that an
        older hostd started this supervisord."""
        if self.programs is None:
            return None
        try:
            with self._call(what, namespace="hostd") as rpc:
                return getattr(rpc, method)(*args)
        except SupervisorError as exc:
            if exc.fault != UNKNOWN_METHOD:
                raise
            if not newer:
                self.programs = None
            return None

    def reload_config(self) -> ConfigDiff:
        answer = self._hostd("reread", "reloadPrograms", str(self.programs))
        if answer is None:
            with self._call("reread") as rpc:
                answer = rpc.reloadConfig()
        [[added, changed, removed]] = answer
        return ConfigDiff(tuple(added), tuple(changed), tuple(removed))

    def start_early(self, programs: Mapping[str, str]) -> list[str]:
        """Start `programs` (group -> its section) before a generation names them,
        through hostd's rpcinterface; the groups started (none without it)."""
        added = self._hostd("start early", "addPrograms", dict(programs)) if programs else None
        return [str(group) for group in added or ()]

    def add(self, group: str) -> None:
        with self._call(f"add {group}") as rpc:
            rpc.addProcessGroup(group)

    def remove(self, group: str) -> None:
        """Stop the group and forget it."""
        with self._call(f"stop {group}") as rpc:
            try:
                rpc.stopProcessGroup(group, False)
            except xmlrpc.client.Fault as exc:
                if exc.faultCode not in (NOT_RUNNING, BAD_NAME):
                    raise
        self._wait_stopped(group)
        with self._call(f"remove {group}") as rpc:
            try:
                rpc.removeProcessGroup(group)
            except xmlrpc.client.Fault as exc:
                if exc.faultCode != BAD_NAME:
                    raise

    def retire(self, group: str, stop: bool = True) -> None:
        """Forget the group at once without waiting for its processes, through hostd's
        rpcinterface: they stop on their own now, or with `stop` false at
        `stop_retired`; elsewhere as `remove`."""
        if self._hostd(f"retire {group}", "retireProgram", group, stop, newer=True) is None:
            self.remove(group)

    def stop_retired(self) -> None:
        """Stop the processes of the groups retired without `stop` (none elsewhere)."""
        with suppress(SupervisorError):  # unreachable: it stops them by itself (HOLD)
            self._hostd("stop retired", "stopRetired", newer=True)

    def _wait_stopped(self, group: str) -> None:
        """Poll until the group's process is down.

        supervisord notices a child's exit on its next pass, and a pass waits up to
        a second for something to happen; each of these calls is something, so the
        stop is seen as soon as it happens instead of up to a second later.
        """
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            info = self.info(group)
            if info is None or info.state not in RUNNING_STATES:
                return
            time.sleep(0.02)

    def info(self, group: str) -> ProgramInfo | None:
        try:
            with self._call(f"info {group}") as rpc:
                return ProgramInfo.from_rpc(rpc.getProcessInfo(f"{group}:{group}"))
        except SupervisorError as exc:
            if exc.fault == BAD_NAME:
                return None
            raise

    def all_info(self) -> dict[str, ProgramInfo]:
        with self._call("status") as rpc:
            infos = rpc.getAllProcessInfo()
        return {str(i["group"]): ProgramInfo.from_rpc(i) for i in infos}

    def signal(self, group: str, signame: str) -> None:
        with self._call(f"signal {signame} {group}") as rpc:
            rpc.signalProcess(f"{group}:{group}", signame)

    def start(self, group: str) -> None:
        """Start the group's program without waiting for it to count as started."""
        with self._call(f"start {group}") as rpc:
            try:
                rpc.startProcess(f"{group}:{group}", False)
            except xmlrpc.client.Fault as exc:
                if exc.faultCode != ALREADY_STARTED:
                    raise

    def stop(self, group: str) -> None:
        with self._call(f"stop {group}") as rpc:
            try:
                rpc.stopProcess(f"{group}:{group}")
            except xmlrpc.client.Fault as exc:
                if exc.faultCode != NOT_RUNNING:
                    raise

    def shutdown(self) -> None:
        with self._call("shutdown") as rpc:
            rpc.shutdown()


def check_config(path: Path) -> None:
    """Parse `path` and its includes with Supervisor's own parser, as a reread would."""
    from supervisor.options import ServerOptions

    options = ServerOptions()
    options.configfile = str(path)
    try:
        options.process_config(do_usage=False)
    except ValueError as exc:
        raise SupervisorError(f"Supervisor refuses {path}: {exc}", fault=CANT_REREAD) from exc
