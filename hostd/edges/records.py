"""hostd's JSON records on disk: one typed reader and one atomic writer each.

    state/state.json         the last apply's result per site (for `hostd status`)
    state/crashloops.json    programs held back by the crash-loop guard
    state/certs/<site>.json  certificate attempts, so backoff survives restarts
    state/sites-folder.json  which folder last held the site files (device, inode)
    run/up.json              how to reach the running `hostd up`

Readers are tolerant: a missing or damaged record reads as "nothing recorded",
never as an error, so a damaged file cannot stop hostd. Writers go through
`write_atomic`: a record is whole or absent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hostd.core.certificate import Attempts
from hostd.core.crashloop import Retry
from hostd.core.layout import Layout
from hostd.core.report import ApplyReport, Outcome
from hostd.edges.fs import write_atomic
from hostd.errors import HostdError

CRASH_LOOPS = "crashloops.json"


def _read(path: Path) -> Any:
    """The JSON value in `path`, or None if it is missing or damaged."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write(path: Path, data: Any, mode: int) -> None:
    write_atomic(path, json.dumps(data, indent=2) + "\n", mode)


def _table(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


# -- state.json: the last apply, per site ---------------------------------------------


def read_state(path: Path) -> dict[str, dict[str, Any]]:
    """Site name -> its last recorded result; empty if nothing was recorded."""
    sites = _table(_table(_read(path)).get("sites"))
    return {name: _entry(entry) for name, entry in sites.items() if isinstance(entry, dict)}


_ENTRY_TYPES: dict[str, tuple[type, ...]] = {
    "outcome": (str,), "detail": (str,), "held": (bool,), "generation": (int,),
    "at": (int, float), "last_error": (str,), "last_error_at": (int, float),
}  # fmt: skip


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A state.json entry with every value of the wrong type dropped (garbage in a
    record reads as "not recorded")."""
    return {
        key: value
        for key, value in entry.items()
        if key in _ENTRY_TYPES and isinstance(value, _ENTRY_TYPES[key])
    }


def read_last_apply(path: Path) -> dict[str, Any]:
    """The last apply as recorded (at, generation, ok, error); empty if nothing was."""
    return _table(_table(_read(path)).get("last_apply"))


def record_report(path: Path, report: ApplyReport, keep: Collection[str]) -> None:
    """Merge `report` into the state file; sites not in `keep` are forgotten."""
    sites = {name: entry for name, entry in read_state(path).items() if name in keep}
    now = time.time()
    for result in report.sites:
        if result.outcome is Outcome.REMOVED:
            sites.pop(result.name, None)
            continue
        previous = sites.get(result.name, {})
        entry = {
            "outcome": result.outcome.value,
            "detail": result.detail,
            "held": result.held,
            "generation": report.generation,
            "at": now,
            "last_error": previous.get("last_error"),
            "last_error_at": previous.get("last_error_at"),
        }
        if result.outcome.is_problem:
            entry["last_error"], entry["last_error_at"] = result.detail, now
        sites[result.name] = entry
    last = {"at": now, "generation": report.generation, "ok": report.ok, "error": report.error}
    _write(path, {"sites": sites, "last_apply": last}, 0o600)


class StateJournal:
    """The real `hostd.apply.ports.Journal`: state.json."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, report: ApplyReport, keep: Collection[str]) -> None:
        try:
            record_report(self.path, report, keep)
        except OSError as exc:
            raise HostdError(f"cannot record the apply in {self.path}: {exc}") from exc


# -- crashloops.json: what the crash-loop guard holds back ------------------------------


def crash_loops_path(layout: Layout) -> Path:
    return layout.state_dir / CRASH_LOOPS


def read_crash_loops(path: Path) -> dict[str, Retry]:
    """Site -> the retry the guard has planned for its program."""
    out: dict[str, Retry] = {}
    for name, entry in _table(_read(path)).items():
        try:
            out[name] = Retry(int(entry["attempts"]), float(entry["next_attempt"]),
                              str(entry["reason"]))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            continue
    return out


def crash_loops_json(retries: dict[str, Retry]) -> str:
    data = {
        name: {"attempts": r.attempts, "next_attempt": r.next_at, "reason": r.reason}
        for name, r in sorted(retries.items())
    }
    return json.dumps(data, indent=2) + "\n"


def write_crash_loops(path: Path, retries: dict[str, Retry]) -> None:
    """Record `retries`, touching the file only when they changed."""
    text = crash_loops_json(retries)
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    write_atomic(path, text, 0o644)


# -- certs/<site>.json: certificate attempts ---------------------------------------------


def read_attempts(folder: Path, site: str) -> Attempts:
    data = _table(_read(folder / f"{site}.json"))
    try:
        last_attempt, last_error = data.get("last_attempt"), data.get("last_error")
        names = data.get("names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return Attempts()
        return Attempts(
            failures=int(data.get("failures", 0)),
            last_attempt=None if last_attempt is None else float(last_attempt),
            last_error=None if last_error is None else str(last_error),
            next_attempt=float(data.get("next_attempt", 0.0)),
            names=names,
        )
    except (TypeError, ValueError):
        return Attempts()


def write_attempts(folder: Path, site: str, attempts: Attempts) -> None:
    _write(folder / f"{site}.json", asdict(attempts), 0o644)


# -- sites-folder.json: which folder last held the site files ---------------------------

SITES_FOLDER = "sites-folder.json"


def read_folder_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the sites folder the last time it held site files."""
    data = _table(_read(path))
    try:
        return (int(data["device"]), int(data["inode"]))
    except (KeyError, TypeError, ValueError):
        return None


def write_folder_identity(path: Path, identity: tuple[int, int]) -> None:
    if read_folder_identity(path) != identity:
        _write(path, {"device": identity[0], "inode": identity[1]}, 0o644)


# -- healed.json: what damage to state/ hostd healed since it started -------------------

HEALED = "healed.json"
KEEP_HEALINGS = 10


def read_healings(path: Path) -> list[dict[str, Any]]:
    """Each healing since the instance started, oldest first: {"at": epoch, "detail"}."""
    data = _read(path)
    entries = data if isinstance(data, list) else []
    return [
        {"at": float(e["at"]), "detail": str(e["detail"])}
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("at"), (int, float)) and "detail" in e
    ]


def record_healing(path: Path, detail: str) -> None:
    """Add a healing (the last `KEEP_HEALINGS` are kept)."""
    entries = [*read_healings(path), {"at": time.time(), "detail": detail}]
    _write(path, entries[-KEEP_HEALINGS:], 0o644)


def forget_healings(path: Path) -> None:
    """A new start: what earlier runs healed is history (hostd.log keeps it)."""
    path.unlink(missing_ok=True)


# -- up.json: the running `hostd up` ----------------------------------------------------


@dataclass(frozen=True)
class UpRecord:
    """What `hostd up` recorded about itself once it served: how others reach it."""

    pid: int
    sites_dir: Path
    listen: str
    http_port: int
    https_port: int


def read_up(layout: Layout) -> UpRecord | None:
    data = _table(_read(layout.runtime_file))
    try:
        return UpRecord(
            pid=int(data["pid"]),
            sites_dir=Path(data["sites_dir"]),
            listen=str(data["listen"]),
            http_port=int(data["http_port"]),
            https_port=int(data["https_port"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def write_up(layout: Layout, record: UpRecord) -> None:
    _write(layout.runtime_file, {**asdict(record), "sites_dir": str(record.sites_dir)}, 0o644)


# -- handover.json: the daemons a `hostd up` restarting in place keeps ----------------


def write_handover(layout: Layout, daemons: dict[str, int]) -> None:
    """Record the pids of the daemons (name -> pid) the process exec'd next keeps."""
    _write(layout.handover_file, daemons, 0o600)


def take_handover(layout: Layout) -> dict[str, int]:
    """The daemons a restart in place handed over (name -> pid; {} if none or
    damaged); the record is gone afterwards: it is good for one start."""
    data = _table(_read(layout.handover_file))
    layout.handover_file.unlink(missing_ok=True)
    return {str(k): v for k, v in data.items() if isinstance(v, int) and v > 1}
