"""The figures over HTTP, from the daemon, on loopback by default (`[metrics]`):
`/metrics` in Prometheus' text exposition format (written by the official
prometheus_client library) and `/figures.json`, what `hostd stats`, `hostd top` and
the dashboard read. Where it listens is recorded in `run/metrics.json`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from hostd.core.figures import BOUNDS, CLASSES, QUANTILES
from hostd.core.layout import Layout
from hostd.core.settings import Settings
from hostd.edges.figures_source import forget_address, record_address
from hostd.runtime.collector import Collector
from hostd.runtime.wiring import make_collector

logger = logging.getLogger("hostd")
# the classic text format every Prometheus reads (hostd's names need none of 1.0.0's escaping)
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
Say = Callable[[str], None]


class Exporter:
    """A prometheus_client collector over the figures."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def collect(self) -> Iterator[Metric]:
        collector = self.collector
        now = collector.clock()
        with collector.lock:
            yield from _site_families(collector, now)
            yield from _health_families(collector)


def _site_families(collector: Collector, now: float) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "hostd_http_requests", "Requests nginx logged, by status class", labels=["site", "code"]
    )
    sent = CounterMetricFamily("hostd_http_response_bytes", "Body bytes sent", labels=["site"])
    latency = HistogramMetricFamily(
        "hostd_upstream_response_seconds", "Upstream (app) response time", labels=["site"]
    )
    quantiles = GaugeMetricFamily(
        "hostd_upstream_response_quantile_seconds",
        "Upstream response time percentiles over a window",
        labels=["site", "window", "quantile"],
    )
    up = GaugeMetricFamily("hostd_program_up", "1 if the program is RUNNING", labels=["site"])
    restarts = CounterMetricFamily(
        "hostd_program_restarts", "Program starts after the first one seen", labels=["site"]
    )
    loops = CounterMetricFamily("hostd_crash_loops", "Crash-loop episodes", labels=["site"])
    expiry = GaugeMetricFamily(
        "hostd_certificate_expiry_timestamp_seconds", "When the certificate expires",
        labels=["site"],
    )  # fmt: skip
    for name, figures in sorted(collector.sites.items()):
        total = figures.total
        for label, count in zip(CLASSES, total.classes, strict=True):
            requests.add_metric([name, label], count)
        sent.add_metric([name], total.bytes)
        cumulative, buckets = 0, []
        for bound, count in zip((*BOUNDS, float("inf")), total.latency, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        latency.add_metric([name], buckets, total.latency_sum)
        for window, ring in figures.rings.items():
            counts = ring.total(now)
            for q in QUANTILES:
                value = counts.quantile(q)
                if value is not None:
                    quantiles.add_metric([name, window, str(q)], value)
        up.add_metric([name], 1.0 if figures.program.state == "RUNNING" else 0.0)
        restarts.add_metric([name], figures.program.restarts)
        loops.add_metric([name], collector.health.crash_loops.get(name, 0))
        if figures.cert_not_after is not None:
            expiry.add_metric([name], figures.cert_not_after)
    yield from (requests, sent, latency, quantiles, up, restarts, loops, expiry)


def _health_families(collector: Collector) -> Iterator[Metric]:
    health = collector.health
    if health.generation is not None:
        yield GaugeMetricFamily("hostd_generation", "The live generation", value=health.generation)
    yield CounterMetricFamily("hostd_applies", "Applies since hostd started", value=health.applies)
    yield CounterMetricFamily(
        "hostd_apply_failures", "Applies with a rejected or failed site, or an error",
        value=health.apply_failures,
    )  # fmt: skip
    if health.last_apply_ok is not None:
        yield GaugeMetricFamily(
            "hostd_last_apply_ok", "1 if the last apply had no problem",
            value=1.0 if health.last_apply_ok else 0.0,
        )  # fmt: skip
    if health.last_apply_at is not None:
        yield GaugeMetricFamily(
            "hostd_last_apply_timestamp_seconds", "When the last apply ended",
            value=health.last_apply_at,
        )  # fmt: skip
    yield CounterMetricFamily(
        "hostd_nginx_reloads", "nginx reloads since hostd started", value=health.nginx_reloads
    )


def exposition(collector: Collector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Exporter(collector))
    return bytes(generate_latest(registry))


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._answer(200, TEXT_FORMAT, exposition(self.server.collector))
        elif path == "/figures.json":
            body = json.dumps(self.server.collector.snapshot()).encode()
            self._answer(200, "application/json", body)
        else:
            self._answer(404, "text/plain; charset=utf-8", b"not found: /metrics, /figures.json\n")

    def _answer(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("metrics: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], collector: Collector) -> None:
        super().__init__(address, _Handler)
        self.collector = collector


@contextlib.contextmanager
def serving_figures(layout: Layout, settings: Settings, say: Say) -> Iterator[None]:
    """Collect the figures and serve them while the block runs (unless disabled)."""
    metrics = settings.metrics
    if not metrics.enabled:
        yield
        return
    collector = make_collector(layout)
    stopping = threading.Event()
    threads = [threading.Thread(target=collector.run, args=(stopping,), name="figures")]
    server: _Server | None = None
    try:
        server = _Server((metrics.listen, metrics.port), collector)
    except OSError as exc:
        say(f"figures: cannot listen on {metrics.listen}:{metrics.port}: {exc}; not serving them")
    if server is not None:
        host = "127.0.0.1" if metrics.listen == "0.0.0.0" else metrics.listen  # to reach it
        port = int(server.server_address[1])
        url = f"http://{host}:{port}"
        record_address(layout, url)
        say(f"figures: {url}/metrics (Prometheus), hostd top, hostd stats SITE")
        threads.append(threading.Thread(target=server.serve_forever, name="metrics"))
    for thread in threads:
        thread.daemon = True
        thread.start()
    try:
        yield
    finally:
        stopping.set()
        if server is not None:
            forget_address(layout)
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=10)
        collector.close()
