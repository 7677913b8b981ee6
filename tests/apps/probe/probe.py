"""A test app that reports what it sees: its site, environment, process and request."""

import os
import time

from flask import Flask, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

time.sleep(float(os.environ.get("PROBE_BOOT_SECONDS", "0")))  # an app slow to import

app = Flask(__name__)
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]


@app.get("/")
def index() -> str:
    return f"{os.environ.get('HOSTD_SITE')} says {os.environ.get('GREETING', 'hello')}\n"


@app.get("/info")
def info() -> object:
    print(f"probe: info for {request.headers.get('X-Test-Id', '-')}", flush=True)
    return jsonify(
        site=os.environ.get("HOSTD_SITE"),
        greeting=os.environ.get("GREETING", "hello"),
        master_pid=os.getppid(),
        client=request.remote_addr,
        host=request.host,
        scheme=request.scheme,
        forwarded_host=request.headers.get("X-Forwarded-Host"),
    )


def create_app() -> Flask:
    return app


@app.get("/status/<int:code>")
def status(code: int) -> tuple[str, int]:
    """Answers with the status asked for (the figures' tests count them)."""
    return f"status {code}\n", code


@app.get("/sleep/<int:millis>")
def sleep(millis: int) -> str:
    """Answers after `millis` ms (the figures' tests measure upstream latency)."""
    time.sleep(millis / 1000)
    return f"slept {millis}ms\n"
