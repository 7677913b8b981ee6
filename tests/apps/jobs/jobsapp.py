"""A plain WSGI app that enqueues a huey task per request: POST /jobs/NAME."""

import os

from tasks import record


def app(environ, start_response):  # type: ignore[no-untyped-def]
    path = environ["PATH_INFO"]
    if environ["REQUEST_METHOD"] == "POST" and path.startswith("/jobs/"):
        record(path.removeprefix("/jobs/"))
        body, status = b"queued\n", "202 Accepted"
    else:
        body, status = f"jobs web pid {os.getpid()}\n".encode(), "200 OK"
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
