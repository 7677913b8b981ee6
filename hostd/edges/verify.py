"""Is a site's new app up? Supervisor's word for the process, an HTTP answer for the app.

Without `health`, a site counts as live once gunicorn answers HTTP on its
socket; with it, once that path answers below 500. A program Supervisor sees
failing (BACKOFF, FATAL, EXITED) fails at once, with the telling line of its log.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Sequence

from hostd.core.layout import Layout
from hostd.core.program import FAILED_START
from hostd.core.site import Site
from hostd.core.slots import slot_of, web_program
from hostd.edges.logfiles import tail
from hostd.edges.probe import unix_get
from hostd.edges.supervisor import XmlRpcSupervisor

# a new app's socket is asked this often until it answers: what a new version may
# wait for its switch (or a new site for its first request) after it could answer
POLL = 0.01
INFO_EVERY = 0.1  # and Supervisor, whether its program failed, this often


class AppVerifier:
    """The real `hostd.apply.ports.Apps`: Supervisor's state, then HTTP on the socket."""

    def __init__(self, layout: Layout, supervisor: XmlRpcSupervisor, timeout: float) -> None:
        self.layout = layout
        self.supervisor = supervisor
        self.timeout = timeout
        self._https: frozenset[str] = frozenset()
        self._answered: dict[str, int] = {}
        self._asked: dict[str, float] = {}

    def failures(
        self, sites: Sequence[Site], on_b: Collection[str] = (), https: Collection[str] = ()
    ) -> dict[str, str]:
        """Site name -> why its app did not come up, for each that did not; each
        asked through the socket of its own slot (slot b for `on_b`), as served over
        HTTPS for `https`."""
        self._https = frozenset(https)
        self._answered = {}  # site -> its last status >= 500
        self._asked = {}  # site -> when Supervisor was last asked about its program
        pending = {site.name: site for site in sites}
        slots = {site.name: slot_of(site.name, on_b) for site in sites}
        failures: dict[str, str] = {}
        deadline = time.monotonic() + self.timeout
        while pending and time.monotonic() < deadline:
            for name, site in list(pending.items()):
                problem = self._problem(site, slots[name], deadline)
                if problem is None:
                    del pending[name]
                elif problem:
                    failures[name] = problem
                    del pending[name]
            if pending:
                time.sleep(POLL)
        for name, site in pending.items():
            status = self._answered.get(name)
            reason = (
                f"health check {site.app.health} answered {status} until the start timeout"
                if status is not None
                else f"no answer within {self.timeout:.0f}s"
            )
            failures[name] = self._start_failure(name, reason)
        return failures

    def _problem(self, site: Site, slot: str, deadline: float) -> str | None:
        """None once `site` serves in `slot`; "" while it may still come up; else the
        failure. The request carries the site's first domain and the scheme it is
        served with, as nginx would send it. Until it answers, Supervisor is asked
        whether its program failed to start, every INFO_EVERY seconds (an XML-RPC
        call costs both sides more CPU than a connect to a socket not yet bound, and
        the app boots on the same cores)."""
        health = site.app.health
        try:
            status, _ = unix_get(
                self.layout.slot_socket(site.name, slot),
                health or "/",
                site.domains[0],
                timeout=max(0.5, min(10.0, deadline - time.monotonic())),
                scheme="https" if site.name in self._https else "http",
            )
        except OSError:
            status = None
        if status is not None and (health is None or status < 500):
            return None
        if status is not None:
            self._answered[site.name] = status
        now = time.monotonic()
        if now - self._asked.get(site.name, -INFO_EVERY) >= INFO_EVERY:
            self._asked[site.name] = now
            info = self.supervisor.info(web_program(site.name, slot))
            if info is not None and info.state in FAILED_START:
                return self._start_failure(
                    site.name, f"{info.state}: {info.spawnerr or info.description}"
                )
        return ""

    def _start_failure(self, site: str, reason: str) -> str:
        cause = root_cause(tail(self.layout.site_log_dir(site) / "app.log", 60))
        return f"app did not start ({reason})" + (f"; app.log: {cause}" if cause else "")


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")


def root_cause(log: str) -> str:
    """The most telling line of an app log's tail: its last exception that is not
    gunicorn's own "worker failed to boot", else its last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line) and not line.startswith("gunicorn.errors."):
            return line
    return lines[-1] if lines else ""
