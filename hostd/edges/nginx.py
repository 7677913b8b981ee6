"""nginx as an edge: validate a configuration, reload, confirm what it serves."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from hostd.edges.logfiles import tail
from hostd.edges.probe import tcp_get
from hostd.edges.process import pid_alive
from hostd.edges.procfs import proc_cmdline, proc_pids, proc_stat
from hostd.edges.runner import Runner
from hostd.errors import CommandError, NginxConfigError, NginxError

FINGERPRINT_PATH = "/.hostd/fingerprint"
PROBE_HOST = "hostd-probe.invalid"


def read_pid(path: Path) -> int | None:
    """The pid in `path`, if the file holds one (nginx -t can leave it empty)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class NginxProcess:
    """An nginx master known by its pid file, reached on `address:port`: the real
    `hostd.apply.ports.Nginx`."""

    def __init__(
        self,
        runner: Runner,
        *,
        binary: str,
        prefix: Path | None,
        pid_file: Path,
        error_log: Path,
        address: str,
        port: int,
        main_conf: Path | None = None,
    ) -> None:
        """`prefix`: the -p of a private nginx. `main_conf`: a machine's configuration,
        checked as a whole before every reload (hostd's part is only a piece of it)."""
        self.runner = runner
        self.binary = binary
        self.prefix = prefix
        self.pid_file = pid_file
        self.error_log = error_log
        self.address = address
        self.port = port
        self.main_conf = main_conf

    def check(self, conf: Path) -> None:
        """nginx -t on `conf` and everything it includes; NginxConfigError if refused."""
        prefix = ["-p", f"{self.prefix}/"] if self.prefix else []
        argv = [self.binary, "-t", "-q", *prefix, "-c", str(conf)]
        try:
            self.runner.run(argv, timeout=60)
        except CommandError as exc:
            raise NginxConfigError(exc.argv, exc.returncode, _config_lines(exc.output)) from exc

    def pid(self) -> int | None:
        pid = read_pid(self.pid_file)
        return pid if pid is not None and pid_alive(pid) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def served_fingerprint(self) -> str | None:
        """What the catch-all's fingerprint location answers, or None."""
        return served_fingerprint_at(self.address, self.port)

    def reload(self, expected_fingerprint: str, timeout: float = 10.0) -> None:
        """Signal the master and wait until it serves `expected_fingerprint`.

        A zero exit of `nginx -s reload` proves nothing (the master may roll back),
        so success is what the new configuration answers.
        """
        pid = self.pid()
        if pid is None:
            raise NginxError(f"nginx is not running (no live pid in {self.pid_file})")
        old_workers = accepting_workers(pid)
        os.kill(pid, signal.SIGHUP)
        if self.main_conf is not None:
            # checked while the master reloads, for the reason if it refuses (it then
            # keeps serving the old configuration): not a wait before every reload
            try:
                self.check(self.main_conf)
            except NginxConfigError as exc:
                raise NginxError(f"nginx refuses {self.main_conf} with these sites: {exc}") from exc
        deadline = time.monotonic() + timeout
        retired = False
        while time.monotonic() < deadline:
            accepting = accepting_workers(pid)
            if not retired and accepting - old_workers:
                retire(old_workers & accepting)
                retired = True
            # new workers serve, and no old one still takes new connections (one that
            # stopped taking them never takes them again)
            served = self.served_fingerprint() == expected_fingerprint
            if served and not old_workers & accepting:
                return
            time.sleep(0.01)
        reason = tail(self.error_log, 3) or "no message in the error log"
        raise NginxError(f"nginx did not take the new configuration: {reason}")


def retire(workers: set[int]) -> None:
    """Tell `workers` (of the configuration before a reload) to shut down gracefully
    as soon as the new workers run: they stop taking connections and finish what they
    serve. nginx's master tells them the same 0.1 s after it started the new ones;
    until then they take new connections too (measured: most of them), and answer
    them with the old configuration."""
    for worker in workers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(worker, signal.SIGQUIT)


def served_fingerprint_at(address: str, port: int) -> str | None:
    """What the nginx at address:port answers for hostd's fingerprint, or None."""
    try:
        status, body = tcp_get(address, port, FINGERPRINT_PATH, PROBE_HOST, 2.0)
    except OSError:
        return None
    return body.decode(errors="replace").strip() if status == 200 else None


def accepting_workers(master: int) -> set[int]:
    """The master's workers that still accept connections.

    A worker told to shut down gracefully closes its listening sockets and renames
    itself "nginx: worker process is shutting down"; until then it may still take
    a request with the old configuration.
    """
    workers: set[int] = set()
    for pid in children_of(master):
        stat = proc_stat(pid)
        if stat is None or stat.ppid != master or stat.state == "Z":
            continue
        cmdline = proc_cmdline(pid) or b""
        if b"worker process" in cmdline and b"shutting down" not in cmdline:
            workers.add(pid)
    return workers


def children_of(pid: int) -> list[int]:
    """The child processes of `pid` (a single-threaded one, like nginx's master), read
    from /proc/PID/task/PID/children; every process if the kernel does not offer it
    (callers check each one's parent). Scanning every process of a busy machine costs
    tens of milliseconds, each time a reload is waited for."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return proc_pids() if pid_alive(pid) else []
    except OSError:
        return proc_pids()
    return [int(word) for word in text.split()]


def _config_lines(output: str) -> str:
    """The meaningful lines of nginx -t output."""
    lines = [line for line in output.splitlines() if "[emerg]" in line or "[crit]" in line]
    return "\n".join(lines) or output.strip()
