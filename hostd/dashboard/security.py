"""Behind hostd's nginx: the client's address, scheme and port, and cookies that are
Secure whenever the request came over HTTPS; headers that keep pages private."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

DEFAULT_PORTS = {"http": "80", "https": "443"}
CDN = "https://cdn.jsdelivr.net"


class ForwardedPortAndSecureCookies:
    """After ProxyFix: the port nginx was reached on, unless it is the scheme's default
    (so the host matches what the browser sends as Origin and Referer), and `Secure` on
    every cookie of a response to an HTTPS request."""

    def __init__(self, app: WSGIApplication, secure_over_https: bool) -> None:
        self.app = app
        self.secure_over_https = secure_over_https

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        scheme = environ.get("wsgi.url_scheme", "http")
        port = environ.get("HTTP_X_FORWARDED_PORT", "")
        host = environ.get("HTTP_HOST", "")
        if port.isdigit() and host and port != DEFAULT_PORTS.get(scheme):
            name = host.rsplit(":", 1)[0] if ":" in host and not host.endswith("]") else host
            environ["HTTP_HOST"] = f"{name}:{port}"
        if scheme != "https" or not self.secure_over_https:
            return self.app(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            marked = [(k, secure_cookie(v) if k.lower() == "set-cookie" else v) for k, v in headers]
            return start_response(status, marked, exc_info)

        return self.app(environ, start)


def secure_cookie(header: str) -> str:
    parts = [part.strip().lower() for part in header.split(";")]
    return header if "secure" in parts else f"{header}; Secure"


def behind_nginx(app: Flask) -> None:
    """Trust the one proxy in front (hostd's nginx) for scheme and host. Not for the
    client's address: X-Forwarded-For is anyone's to write, and the login throttle
    keys on REMOTE_ADDR, which gunicorn sets to the address nginx saw."""
    inner = ForwardedPortAndSecureCookies(app.wsgi_app, app.config["SECURE_COOKIES_OVER_HTTPS"])
    app.wsgi_app = ProxyFix(inner, x_for=0, x_proto=1, x_host=1)  # type: ignore[method-assign]


def content_security_policy(cdn: bool) -> str:
    sources = "'self'" + (f" {CDN}" if cdn else "")
    return (
        f"default-src 'self'; script-src {sources}; style-src {sources}; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'"
    )


def private_headers(app: Flask) -> None:
    """Every answer: not framed, not sniffed, not cached; scripts and styles from
    this site only (or the CDN when configured). The development toolbar injects
    inline code, so development goes without the policy."""
    policy = content_security_policy(cdn=not app.config["BOOTSTRAP_SERVE_LOCAL"])
    develop = app.config["ENV_NAME"] == "development"

    def add_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not develop:
            response.headers.setdefault("Content-Security-Policy", policy)
        if request.endpoint not in ("static", "bootstrap.static", "main.favicon"):
            response.headers["Cache-Control"] = "no-store"
        return response

    app.after_request(add_headers)
