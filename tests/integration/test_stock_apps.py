"""Stock apps from PyPI, untouched, behind hostd, tried as their users use them.

One instance serves them all, each from its own venv (the site's `venv:`):
httpbin (Flask), a Django project made with startproject (collectstatic, the
admin with its CSRF check) under gthread, and again as ASGI under uvicorn's
worker and under gunicorn's own, and the probe app that wraps itself in
ProxyFix. Two of the Django sites have `tls: auto` against pebble; the others
are plain HTTP on a non-default port. Requests come from 127.0.0.9, so the
address an app reports is nginx's view and not a default, and they carry forged
X-Forwarded-For / X-Real-IP / Forwarded.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from . import early
from .acme import Pebble
from .harness import APPS, HostdUp, can_connect_as, free_port, wait_until

pytestmark = pytest.mark.slow

# what each venv gets from PyPI: releases known to work, newer fixes within them
CLIENT = "127.0.0.9"  # a loopback address other than nginx's own
FORGED = {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "Forwarded": "for=6.6.6.6"}
PASSWORD = "stock-app-pass-1"
MOZILLA_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
}  # fmt: skip

# a view a Django user would add to see who is asking
WHOAMI = """
from django.http import JsonResponse


def whoami(request):
    return JsonResponse({
        "remote_addr": request.META.get("REMOTE_ADDR"),
        "scheme": request.scheme,
        "host": request.get_host(),
        "absolute": request.build_absolute_uri("/next/"),
        "x_forwarded_for": request.META.get("HTTP_X_FORWARDED_FOR"),
        "forwarded": request.META.get("HTTP_FORWARDED"),
    })


urlpatterns.append(path("whoami/", whoami))
"""
FACTORY = """factoryapp:create_app("50% off; it's 'quoted'", debug=True, tags=("x", 2))"""
# a site for server-sent events and long downloads: the app's bytes as it writes them,
# requests up to two minutes, and a worker that may be stopped mid-request
STREAMING = "  buffering: false\n  timeout: 120\n  graceful_timeout: 1\n"
SETTINGS = """
DEBUG = False
ALLOWED_HOSTS = ["django.test", "asgi.test", "native.test"]
STATIC_ROOT = BASE_DIR / "staticfiles"
"""


@dataclass
class StockApps:
    """The third-party venvs and the Django project, made once per test session."""

    root: Path
    httpbin: Path  # venv
    django: Path  # venv, with uvicorn-worker
    project: Path

    @property
    def static_root(self) -> Path:
        return self.project / "staticfiles"


def _run(*argv: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})  # fmt: skip
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="session")
def stock_apps() -> Iterator[StockApps]:
    root = Path(tempfile.mkdtemp(prefix="hd-stock-", dir="/tmp"))
    try:
        venvs = early.STOCK_VENVS.folder()  # made from PyPI, started as tests were collected
        apps = StockApps(root, venvs / "httpbin", venvs / "django", root / "site")
        apps.project.mkdir()
        manage = [str(apps.django / "bin" / "python"), str(apps.project / "manage.py")]
        _run(str(apps.django / "bin" / "django-admin"), "startproject", "mysite", str(apps.project))
        with (apps.project / "mysite" / "settings.py").open("a") as settings:
            settings.write(SETTINGS)
        with (apps.project / "mysite" / "urls.py").open("a") as urls:
            urls.write(WHOAMI)
        _run(*manage, "migrate", "--noinput")
        _run(*manage, "collectstatic", "--noinput")
        admin = ["--username", "admin", "--email", "admin@example.test"]
        _run(*manage, "createsuperuser", "--noinput", *admin,
             env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD})  # fmt: skip
        yield apps
    finally:
        early.STOCK_VENVS.remove()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    tls_version: str | None = None
    cipher: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, object]:
        return dict(json.loads(self.body))

    @property
    def text(self) -> str:
        return self.body.decode()


def ask(
    port: int,
    host: str,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    tls: ssl.SSLContext | None = None,
    sni: str | None = None,
    source: str = CLIENT,
) -> Answer:
    """One request to hostd's nginx from `source`, over TLS with `sni` if `tls` is given."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    sock: socket.socket = raw
    if tls is not None:
        sock = tls.wrap_socket(raw, server_hostname=sni or host.partition(":")[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.sock = sock
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        cookies = {}
        for line in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            cookies[name] = rest.partition(";")[0]
        secure = sock if isinstance(sock, ssl.SSLSocket) else None
        return Answer(
            response.status,
            response.headers,
            data,
            tls_version=secure.version() if secure else None,
            cipher=secure.cipher()[0] if secure and secure.cipher() else None,
            cookies=cookies,
        )
    finally:
        conn.close()


@dataclass
class Served:
    up: HostdUp
    pebble: Pebble
    apps: StockApps
    ca: Path  # what a client trusts: pebble's root and the intermediate

    def tls(self, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if maximum is not None:
            context.maximum_version = maximum
        return context

    def https(self, host: str, path: str, **kwargs: object) -> Answer:
        name = f"{host}:{self.up.https_port}"
        tls = kwargs.pop("tls", None) or self.tls()
        return ask(self.up.https_port, name, path, tls=tls, **kwargs)  # type: ignore[arg-type]

    def http(self, host: str, path: str, **kwargs: object) -> Answer:
        return ask(self.up.port, f"{host}:{self.up.port}", path, **kwargs)  # type: ignore[arg-type]


def site_file(domain: str, root: Path, wsgi: str, venv: Path | None, extra: str = "") -> str:
    lines = [f"domains: [{domain}]", "app:", f"  root: {root}", f"  wsgi: {json.dumps(wsgi)}",
             "  workers: 1"]  # fmt: skip
    if venv is not None:
        lines.append(f"  venv: {venv}")
    return "\n".join(lines) + "\n" + extra


def certs(up: HostdUp) -> dict[str, dict[str, object]]:
    done = up.hostd("certs", "--json", check=True)
    return {entry["site"]: entry for entry in json.loads(done.stdout)}


def plain_port() -> int:
    """A free port for plain HTTP whose number does not contain 443: gixy-ng takes any
    listen with "443" in it for an HTTPS one."""
    while "443" in str(port := free_port()):
        pass
    return port


@pytest.fixture(scope="module")
def served(stock_apps: StockApps) -> Iterator[Served]:
    up = HostdUp(port=plain_port())
    pebble = Pebble(http_port=up.port)
    try:
        pebble.start()
        up.home.mkdir(parents=True)
        (up.home / "hostd.toml").write_text(
            f'[acme]\nserver = "{pebble.directory}"\nemail = "ops@example.test"\n'
            f'ca_bundle = "{pebble.ca_bundle}"\nresolver = "127.0.0.1:{pebble.dns_port}"\n'
        )
        apps = stock_apps
        empty = up.root / "httpbin-root"
        empty.mkdir()
        up.write_site("httpbin", site_file("httpbin.test", empty, "httpbin:app", apps.httpbin))
        django_extra = f"static:\n  /static/: {apps.static_root}\ntls: auto\n"
        up.write_site("django", site_file(
            "django.test", apps.project, "mysite.wsgi:application", apps.django,
            "  worker_class: gthread\n  threads: 4\n  timeout: 90\n" + django_extra))  # fmt: skip
        up.write_site("djasgi", site_file(
            "asgi.test", apps.project, "mysite.asgi:application", apps.django,
            "  worker_class: uvicorn\n" + django_extra))  # fmt: skip
        up.write_site("djnative", site_file(
            "native.test", apps.project, "mysite.asgi:application", apps.django,
            "  worker_class: asgi\n"))  # fmt: skip
        up.write_site("stream", site_file("stream.test", empty, "httpbin:app", apps.httpbin,
                                          STREAMING))  # fmt: skip
        up.write_site("factory", site_file("factory.test", APPS / "factory", FACTORY, None))
        up.write_site("probe", site_file("probe.test", APPS / "probe", "probe:app", None))
        up.start()
        for name in ("django", "djasgi"):
            wait_until(lambda n=name: certs(up)[n]["served_serial"], timeout=120, what=name)
        ca = up.root / "ca.pem"
        chain = (up.home / "letsencrypt/config/live/django/chain.pem").read_bytes()
        ca.write_bytes(pebble.root_certificate() + chain)
        yield Served(up, pebble, apps, ca)
    finally:
        print(up.log())
        pebble.stop()
        strays = up.cleanup()
        assert not strays, f"processes left behind: {strays}"


def test_httpbin_sees_the_client_nginx_saw_and_the_port_it_used(served: Served) -> None:
    """httpbin reads X-Forwarded-For itself: a forged one must not reach it."""
    port = served.up.port
    answer = served.http("httpbin.test", "/get?x=1", headers=FORGED)
    assert answer.status == 200
    seen = answer.json()
    assert seen["origin"] == CLIENT
    assert seen["url"] == f"http://httpbin.test:{port}/get?x=1"
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert headers["Host"] == f"httpbin.test:{port}" and "Forwarded" not in headers

    redirect = served.http("httpbin.test", "/absolute-redirect/1")
    assert redirect.status == 302
    assert redirect.headers["Location"] == f"http://httpbin.test:{port}/get"


def test_httpbin_large_and_streamed_bodies_arrive_whole(served: Served) -> None:
    upload = os.urandom(3 * 1024 * 1024)
    posted = served.http("httpbin.test", "/post", method="POST", body=upload,
                         headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert posted.status == 200
    data = str(posted.json()["data"])
    assert data.startswith("data:application/octet-stream;base64,")
    assert base64.b64decode(data.partition(",")[2]) == upload

    once = served.http("httpbin.test", "/stream-bytes/102400?seed=7&chunk_size=1000")
    again = served.http("httpbin.test", "/stream-bytes/102400?seed=7&chunk_size=4096")
    assert once.status == again.status == 200 and len(once.body) == 102400
    assert hashlib.sha256(once.body).digest() == hashlib.sha256(again.body).digest()
    lines = served.http("httpbin.test", "/stream/40").text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == list(range(40))


def test_an_unbuffered_site_streams_as_the_app_writes(served: Served) -> None:
    """httpbin's /drip writes a byte now and the next in 30 s: the first is here well before
    (with nginx's buffering on it would wait for the whole body)."""
    port = served.up.port
    raw = socket.create_connection(("127.0.0.1", port), timeout=25, source_address=(CLIENT, 0))
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.sock = raw
    try:
        conn.request("GET", "/drip?duration=60&numbytes=2", headers={"Host": "stream.test"})
        response = conn.getresponse()
        assert response.status == 200 and response.headers["Content-Length"] == "2"
        assert response.read(1) == b"*"
    finally:
        conn.close()


def test_an_app_with_proxyfix_for_one_hop_keeps_working(served: Served) -> None:
    info = served.http("probe.test", "/info", headers=FORGED).json()
    assert info["client"] == CLIENT and info["scheme"] == "http"
    assert info["host"] == f"probe.test:{served.up.port}"


@pytest.mark.parametrize("domain", ["django.test", "asgi.test"])
def test_django_sees_client_scheme_and_host_over_tls_13(served: Served, domain: str) -> None:
    """WSGI under gthread and ASGI under uvicorn's worker see the same, right, request."""
    answer = served.https(domain, "/whoami/", headers=FORGED)
    assert answer.status == 200, answer.text
    assert answer.tls_version == "TLSv1.3"
    host = f"{domain}:{served.up.https_port}"
    assert answer.json() == {
        "remote_addr": CLIENT,
        "scheme": "https",
        "host": host,
        "absolute": f"https://{host}/next/",
        "x_forwarded_for": CLIENT,
        "forwarded": None,
    }


def test_a_factory_gets_its_literal_arguments_as_written(served: Served) -> None:
    """Quotes, `%` and `;` reach gunicorn through Supervisor unchanged."""
    answer = served.http("factory.test", "/")
    assert answer.status == 200, answer.text
    assert answer.json() == {"name": "50% off; it's 'quoted'", "debug": True, "tags": ["x", 2]}


def test_django_as_asgi_under_gunicorns_own_worker(served: Served) -> None:
    """Plain HTTP on a non-default port: scheme http, and the port kept in Host."""
    answer = served.http("native.test", "/whoami/", headers=FORGED)
    assert answer.status == 200, answer.text
    host = f"native.test:{served.up.port}"
    assert answer.json() == {
        "remote_addr": CLIENT,
        "scheme": "http",
        "host": host,
        "absolute": f"http://{host}/next/",
        "x_forwarded_for": CLIENT,
        "forwarded": None,
    }


@pytest.mark.parametrize("domain", ["django.test", "asgi.test"])
def test_the_django_admin_logs_in_through_its_csrf_check(served: Served, domain: str) -> None:
    """The browser's Origin carries the port; Django compares it with the Host it sees."""
    origin = f"https://{domain}:{served.up.https_port}"
    form = served.https(domain, "/admin/login/?next=/admin/")
    assert form.status == 200
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.body)
    assert token is not None and "csrftoken" in form.cookies
    body = urllib.parse.urlencode({
        "csrfmiddlewaretoken": token.group(1).decode(), "username": "admin",
        "password": PASSWORD, "next": "/admin/",
    }).encode()  # fmt: skip
    login = served.https(domain, "/admin/login/?next=/admin/", method="POST", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Origin": origin,
        "Referer": f"{origin}/admin/login/", "Cookie": f"csrftoken={form.cookies['csrftoken']}",
    })  # fmt: skip
    assert login.status == 302, login.text[:2000]
    assert login.headers["Location"] == "/admin/" and "sessionid" in login.cookies
    cookie = f"csrftoken={form.cookies['csrftoken']}; sessionid={login.cookies['sessionid']}"
    admin = served.https(domain, "/admin/", headers={"Cookie": cookie})
    assert admin.status == 200 and b"Site administration" in admin.body


def test_static_files_come_from_nginx(served: Served) -> None:
    """DEBUG is off, so Django itself serves no static file: these are nginx's."""
    css = served.apps.static_root / "admin" / "css" / "base.css"
    for domain in ("django.test", "asgi.test"):
        answer = served.https(domain, "/static/admin/css/base.css")
        assert answer.status == 200 and answer.body == css.read_bytes()
        assert "Cache-Control" in answer.headers  # nginx's `expires`


def test_an_http2_client_sees_the_same(served: Served) -> None:
    """Browsers speak HTTP/2: Host then comes from :authority, and keeps its port."""
    port = served.up.https_port
    done = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", str(served.ca), "--interface", CLIENT,
         "--resolve", f"asgi.test:{port}:127.0.0.1", "-H", "X-Forwarded-For: 6.6.6.6",
         "-w", "\n%{http_version}", f"https://asgi.test:{port}/whoami/"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body, version = done.stdout.rsplit("\n", 1)
    seen = json.loads(body)
    assert version == "2"
    assert seen["host"] == f"asgi.test:{port}" and seen["remote_addr"] == CLIENT


def test_tls_12_and_13_negotiate_with_mozillas_ciphers(served: Served) -> None:
    old = served.https("django.test", "/whoami/", tls=served.tls(maximum=ssl.TLSVersion.TLSv1_2))
    assert old.status == 200 and old.tls_version == "TLSv1.2"
    assert old.cipher in MOZILLA_TLS12
    assert served.https("asgi.test", "/whoami/").tls_version == "TLSv1.3"


def test_unknown_names_get_no_certificate_and_misdirected_requests_get_421(
    served: Served,
) -> None:
    with pytest.raises(ssl.SSLError):
        served.https("unknown.test", "/")
    # a connection made for django.test, asked for a name it has no certificate for
    for other in ("unknown.test", "httpbin.test"):
        misdirected = served.https(other, "/", sni="django.test")
        assert misdirected.status == 421


def test_the_fingerprint_answers_loopback_only(served: Served) -> None:
    mine = ask(served.up.port, "anything", "/.hostd/fingerprint", source="127.0.0.1")
    assert mine.status == 200 and re.fullmatch(r"[0-9a-f]{16}\n", mine.text)
    assert ask(served.up.port, "anything", "/.hostd/fingerprint").status == 404


def test_only_nginx_and_root_reach_the_apps_sockets(served: Served) -> None:
    """The run folder is the instance user's alone; another local user is refused."""
    run = served.up.home / "run"
    assert (run / "django.sock").is_socket()
    assert os.stat(run).st_mode & 0o777 == 0o700
    if os.geteuid() == 0:
        assert not can_connect_as("nobody", run / "django.sock")


def test_gixy_finds_nothing_of_medium_or_high_severity(served: Served) -> None:
    gixy = Path(sys.executable).parent / "gixy"
    conf = served.up.home / "state" / "live" / "nginx" / "nginx.conf"
    done = subprocess.run([str(gixy), "-f", "json", str(conf)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    issues = json.loads(done.stdout)
    serious = [i for i in issues if str(i.get("severity")).upper() in ("MEDIUM", "HIGH")]
    assert not serious, json.dumps(serious, indent=2)
    assert "ssl_reject_handshake" in (served.up.home / "state/live/nginx/default.conf").read_text()
