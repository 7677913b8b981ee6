"""Per-site figures from the requests nginx logged, in bounded memory.

Requests by status class, bytes and upstream latency are counted into fixed time
slots (the last minute by the second, the last hour by the minute, the last day by
ten minutes) and fixed latency histograms: no request is kept, so memory depends on
the number of sites, never on the traffic. Percentiles are read from the histograms
(within a bucket, linearly), so they are exact to a bucket: buckets grow by a factor
of sqrt(2), from 1 ms to about 65 s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hostd.core.accessline import Request

# upper bounds of the latency buckets, in seconds; one more bucket holds what is above
BOUNDS: tuple[float, ...] = tuple(round(0.001 * 2 ** (step / 2), 6) for step in range(33))
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
QUANTILES = (0.5, 0.95, 0.99)
RATE_SECONDS = 10  # req/s and 5xx/s are over the last this many seconds


def bucket_of(seconds: float) -> int:
    """The index of the latency bucket `seconds` falls in."""
    low, high = 0, len(BOUNDS)
    while low < high:  # the first bound >= seconds
        middle = (low + high) // 2
        if BOUNDS[middle] < seconds:
            low = middle + 1
        else:
            high = middle
    return low


def class_of(status: int) -> int:
    """0 for 1xx … 4 for 5xx (anything else counts with the nearest class)."""
    return min(max(status // 100, 1), 5) - 1


@dataclass
class Counts:
    """Requests by status class, bytes and an upstream latency histogram."""

    classes: list[int] = field(default_factory=lambda: [0] * len(CLASSES))
    bytes: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * (len(BOUNDS) + 1))
    latency_sum: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.classes)

    def add(self, request: Request) -> None:
        self.classes[class_of(request.status)] += 1
        self.bytes += request.bytes
        if request.upstream_seconds is not None:
            self.latency[bucket_of(request.upstream_seconds)] += 1
            self.latency_sum += request.upstream_seconds

    def merge(self, other: Counts) -> None:
        for index, value in enumerate(other.classes):
            self.classes[index] += value
        self.bytes += other.bytes
        for index, value in enumerate(other.latency):
            self.latency[index] += value
        self.latency_sum += other.latency_sum

    def quantile(self, q: float) -> float | None:
        """The upstream latency below which a fraction `q` of the requests fell."""
        total = sum(self.latency)
        if total == 0:
            return None
        rank = q * total
        seen = 0
        for index, count in enumerate(self.latency):
            if count and seen + count >= rank:
                if index == len(BOUNDS):
                    return BOUNDS[-1]
                low = BOUNDS[index - 1] if index else 0.0
                return low + (BOUNDS[index] - low) * max(rank - seen, 0) / count
            seen += count
        return BOUNDS[-1]

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            **dict(zip(CLASSES, self.classes, strict=True)),
            "bytes": self.bytes,
            **{f"p{round(q * 100)}": self.quantile(q) for q in QUANTILES},
        }


class Ring:
    """`count` slots of `width` seconds each: the last `count * width` seconds."""

    def __init__(self, width: int, count: int) -> None:
        self.width = width
        self.count = count
        self.slots: list[tuple[int, Counts] | None] = [None] * count

    def add(self, request: Request) -> None:
        index = int(request.time // self.width)
        position = index % self.count
        held = self.slots[position]
        if held is None or held[0] < index:
            held = (index, Counts())
            self.slots[position] = held
        elif held[0] > index:
            return  # older than this ring keeps
        held[1].add(request)

    def series(self, now: float) -> list[tuple[float, Counts | None]]:
        """(slot start, counts) for every slot of the span ending now, oldest first."""
        last = int(now // self.width)
        out: list[tuple[float, Counts | None]] = []
        for index in range(last - self.count + 1, last + 1):
            held = self.slots[index % self.count]
            out.append((float(index * self.width), held[1] if held and held[0] == index else None))
        return out

    def total(self, now: float, seconds: int | None = None) -> Counts:
        """Everything counted in the last `seconds` (default: the whole span)."""
        slots = self.series(now)
        if seconds is not None:
            slots = slots[-max(1, seconds // self.width) :]
        total = Counts()
        for _, counts in slots:
            if counts is not None:
                total.merge(counts)
        return total


WINDOWS = {"minute": (1, 60), "hour": (60, 60), "day": (600, 144)}


@dataclass
class Program:
    """What Supervisor says of a site's program, and how often it started again."""

    state: str = "absent"
    pid: int | None = None
    start: float | None = None
    restarts: int = 0


class SiteFigures:
    """Everything hostd counts for one site since it started counting."""

    def __init__(self) -> None:
        self.rings = {name: Ring(width, count) for name, (width, count) in WINDOWS.items()}
        self.total = Counts()  # since hostd started counting (Prometheus' counters)
        self.program = Program()
        self.crash_loops = 0
        self.cert_not_after: float | None = None

    def add(self, request: Request) -> None:
        for ring in self.rings.values():
            ring.add(request)
        self.total.add(request)

    def add_all(self, requests: Iterable[Request]) -> None:
        for request in requests:
            self.add(request)

    def observe_program(self, state: str, pid: int | None, start: float | None) -> None:
        """Supervisor's view now; a new start time of a known program is a restart."""
        known = self.program
        if start and known.start and start != known.start:
            known.restarts += 1
        known.state, known.pid = state, pid
        if start:
            known.start = start

    def summary(self, now: float) -> dict[str, Any]:
        """The figures as plain data: windows, rates, series for charts."""
        minute = self.rings["minute"]
        recent = minute.total(now - 1, RATE_SECONDS)  # the current second is still filling
        return {
            "program": {
                "state": self.program.state,
                "pid": self.program.pid,
                "restarts": self.program.restarts,
                "crash_loops": self.crash_loops,
            },
            "rate": {
                "requests": recent.requests / RATE_SECONDS,
                "5xx": recent.classes[4] / RATE_SECONDS,
                "p95": recent.quantile(0.95),
            },
            "windows": {name: ring.total(now).summary() for name, ring in self.rings.items()},
            "series": {name: series(self.rings[name], now) for name in ("hour", "day")},
            "cert_days_left": days_left(self.cert_not_after, now),
            "cert_not_after": self.cert_not_after,
        }


def series(ring: Ring, now: float) -> list[dict[str, Any]]:
    """One point per slot: its start time and the slot's summary (zeros if empty)."""
    return [{"t": start, **(counts or Counts()).summary()} for start, counts in ring.series(now)]


def days_left(not_after: float | None, now: float) -> float | None:
    return None if not_after is None else (not_after - now) / 86400


@dataclass
class Health:
    """hostd's own figures, from the events hostd.log records (`observe`)."""

    generation: int | None = None
    applies: int = 0
    apply_failures: int = 0
    last_apply_ok: bool | None = None
    last_apply_at: float | None = None
    nginx_reloads: int = 0
    crash_loops: dict[str, int] = field(default_factory=dict)

    def observe(self, record: dict[str, Any], when: float | None) -> None:
        """Count one hostd.log event (see `hostd.edges.events`)."""
        event = record.get("event")
        if event == "applied":
            self.applies += 1
            ok = bool(record.get("ok"))
            self.apply_failures += 0 if ok else 1
            self.last_apply_ok = ok
            self.last_apply_at = when
            if isinstance(record.get("generation"), int):
                self.generation = record["generation"]
        elif event == "nginx-reloaded":
            self.nginx_reloads += 1
        elif event == "crash-loop" and isinstance(record.get("site"), str):
            site = record["site"]
            self.crash_loops[site] = self.crash_loops.get(site, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "applies": self.applies,
            "apply_failures": self.apply_failures,
            "last_apply_ok": self.last_apply_ok,
            "last_apply_at": self.last_apply_at,
            "nginx_reloads": self.nginx_reloads,
        }
