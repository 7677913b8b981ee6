"""The `app:` keys that tune gunicorn and the proxy, the factory call with literal
arguments, and the wrapper that gives a stock app the client nginx saw."""

from __future__ import annotations

import asyncio
import datetime
import importlib.util
import shlex
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hostd.core.certificate import Certificate
from hostd.core.facts import HostFacts
from hostd.core.generation import nginx_site_path, program_path
from hostd.core.layout import embedded_layout
from hostd.core.render import gunicorn_argv, render_generation, render_site, templates_dir
from hostd.core.site import APP_NUMBERS, WORKER_CLASSES, Site, parse_site, site_from_dict
from hostd.edges.workers import check_worker_class
from hostd.errors import SiteError

FACTS = HostFacts(layout=embedded_layout(Path("/srv/hostd"), Path("/srv/sites")), cores=2)


def site(*app_lines: str, wsgi: str = "blog:app") -> Site:
    text = "domains: [blog.test]\napp:\n  root: /srv/blog\n" + f"  wsgi: {wsgi}\n"
    text += "".join(f"  {line}\n" for line in app_lines)
    return parse_site(Path("/srv/sites/blog.yaml"), text)


def argv(*app_lines: str) -> list[str]:
    return gunicorn_argv(site(*app_lines), FACTS)


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_defaults_add_no_gunicorn_flags_beyond_the_timeouts() -> None:
    """A site without the new keys runs exactly as before: sync, 30 s, 25 s grace."""
    args = argv()
    assert flag(args, "--timeout") == "30" and flag(args, "--graceful-timeout") == "25"
    for name in ("--worker-class", "--threads", "--max-requests", "--preload"):
        assert name not in args
    app = site().app
    assert (app.worker_class, app.threads, app.preload, app.buffering) == ("sync", 1, False, True)
    assert {key: getattr(app, key) for key in APP_NUMBERS} == {
        key: bound.default for key, bound in APP_NUMBERS.items()
    }


def test_every_key_reaches_gunicorns_command_line() -> None:
    args = argv(
        "worker_class: gthread",
        "threads: 8",
        "timeout: 120",
        "graceful_timeout: 40",
        "max_requests: 1000",
        "max_requests_jitter: 50",
        "preload: true",
    )
    assert flag(args, "--worker-class") == "gthread" and flag(args, "--threads") == "8"
    assert flag(args, "--timeout") == "120" and flag(args, "--graceful-timeout") == "40"
    assert flag(args, "--max-requests") == "1000" and flag(args, "--max-requests-jitter") == "50"
    assert "--preload" in args and args[-1] == "blog:app"
    program = render_site(site("graceful_timeout: 40"), FACTS)[program_path("blog")]
    assert "\nstopwaitsecs=50\n" in program  # Supervisor waits longer than gunicorn's grace


@pytest.mark.parametrize("name", sorted(WORKER_CLASSES))
def test_each_worker_class_names_a_gunicorn_worker(name: str) -> None:
    expected = WORKER_CLASSES[name]
    assert flag(argv(f"worker_class: {name}"), "--worker-class") == (
        None if name == "sync" else expected
    )


def test_nginx_waits_longer_than_the_sites_timeout_and_can_stop_buffering() -> None:
    """A slow request within the timeout is never cut by nginx's 60 s default."""
    plain = render_site(site(), FACTS)[nginx_site_path("blog")]
    assert "proxy_read_timeout 35s;" in plain and "proxy_send_timeout 35s;" in plain
    assert "proxy_buffering" not in plain
    slow = render_site(site("timeout: 300", "buffering: false"), FACTS)[nginx_site_path("blog")]
    assert "proxy_read_timeout 305s;" in slow and "proxy_buffering off;" in slow


BAD = [
    ("worker_class: gevent", "app.worker_class", "worker_class must be one of"),
    ("threads: 0", "app.threads", "from 1 to 64"),
    ("threads: 65", "app.threads", "from 1 to 64"),
    ("threads: two", "app.threads", "whole number"),
    ("timeout: 0", "app.timeout", "from 1 to 3600 (default 30)"),
    ("timeout: 1.5", "app.timeout", "whole number"),
    ("timeout: true", "app.timeout", "whole number"),
    ("graceful_timeout: 3601", "app.graceful_timeout", "from 1 to 3600 (default 25)"),
    ("max_requests: -1", "app.max_requests", "from 0 to 1000000"),
    ("max_requests_jitter: 10", "app.max_requests_jitter", "must not exceed max_requests"),
    ("preload: yes please", "app.preload", "true or false"),
    ("buffering: 0", "app.buffering", "true or false"),
]


@pytest.mark.parametrize(("line", "key", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_values_are_refused_naming_file_line_and_key(
    line: str, key: str, fragment: str
) -> None:
    with pytest.raises(SiteError) as caught:
        site("workers: 2", line)
    error = caught.value
    assert error.key == key and error.line == 6 and fragment in str(error)
    assert error.file == Path("/srv/sites/blog.yaml")


def test_threads_are_refused_for_an_asgi_worker() -> None:
    with pytest.raises(SiteError, match="not ASGI") as caught:
        site("worker_class: uvicorn", "threads: 4")
    assert caught.value.key == "app.threads"


FACTORIES = [
    "pkg.app:create_app()",
    "pkg:create_app('prod')",
    'pkg:create_app(root="/srv/pkgs", debug=False)',
    "pkg:make(1, -2.5, None, (1, 2), [True], {'a': 1}, name='x y')",
    "pkg.web:factory.build(level=3)",
]


@pytest.mark.parametrize("target", FACTORIES)
def test_a_factory_may_take_literal_arguments(target: str) -> None:
    parsed = site(wsgi=f'"{target}"' if "'" in target else f"'{target}'")
    assert parsed.app.wsgi == target and parsed.app.is_factory_call
    # the command line gives gunicorn the call exactly as written
    assert shlex.split(shlex.join(gunicorn_argv(parsed, FACTS)))[-1] == target


NOT_LITERAL = [
    ("pkg:create_app(os.environ)", "is not a literal"),
    ("pkg:create_app(open('/etc/passwd'))", "is not a literal"),
    ("pkg:create_app(1 + 2)", "is not a literal"),
    ("pkg:create_app(*args)", "is not a literal"),
    ("pkg:create_app(**{'a': 1})", "** arguments are not allowed"),
    ("pkg:create_app()()", "invalid wsgi target"),
    ("pkg:create_app(1)(2)", "one call"),
    ("pkg:create_app(x=1", "not valid Python"),
    ("pkg:create_app('a ;b')", "Supervisor cannot pass on"),
    ("pkg:create_app('a #b')", "Supervisor cannot pass on"),
]


@pytest.mark.parametrize(("target", "fragment"), NOT_LITERAL)
def test_a_factory_call_is_read_never_run(target: str, fragment: str) -> None:
    quoted = '"' + target.replace('"', '\\"') + '"'
    with pytest.raises(SiteError) as caught:
        site(wsgi=quoted)
    assert caught.value.key == "app.wsgi" and fragment in str(caught.value)


def test_the_tuning_survives_the_json_form() -> None:
    original = site("worker_class: asgi", "timeout: 90", "preload: true", "buffering: false")
    assert site_from_dict(original.to_dict()) == original
    assert site_from_dict(site().to_dict()) == site()


def test_the_catch_all_negotiates_like_the_sites_and_answers_421() -> None:
    """nginx takes the TLS protocols from the default server: it must offer TLS 1.3 too."""
    files = render_generation({"blog": site()}, FACTS)
    catch_all = files["nginx/default.conf"]
    assert "ssl_reject_handshake" not in catch_all  # no certificates, no HTTPS catch-all
    now = datetime.datetime.now(datetime.UTC)
    cert = Certificate(frozenset({"blog.test"}), now, now + datetime.timedelta(days=9), "ab",
                       "Test CA", Path("/x/fullchain.pem"), Path("/x/privkey.pem"))  # fmt: skip
    facts = replace(FACTS, certificates={"blog": cert})
    catch_all = render_generation({"blog": site()}, facts)["nginx/default.conf"]
    https = catch_all[catch_all.index("ssl_reject_handshake") :]
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in https and "return 421;" in https
    fingerprint = catch_all[catch_all.index("location = /.hostd/fingerprint") :]
    assert fingerprint.index("$hostd_own_request = 0") < fingerprint.index("return 200")
    assert "    10.0.0.5 1;" not in catch_all
    on_lan = render_generation({"blog": site()}, replace(facts, listen="10.0.0.5"))
    assert "    127.0.0.1 1;\n    ::1 1;\n    10.0.0.5 1;\n" in on_lan["nginx/default.conf"]


def load_gunicorn_config() -> ModuleType:
    path = templates_dir() / "gunicorn.conf.py"
    spec = importlib.util.spec_from_file_location("hostd_gunicorn_conf", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_wsgi_app_sees_the_address_nginx_saw_not_what_the_client_claims() -> None:
    conf = load_gunicorn_config()
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return [b""]

    environ = {
        "REMOTE_ADDR": "",  # gunicorn on a unix socket
        "HTTP_X_REAL_IP": "203.0.113.7",  # nginx's $remote_addr
        "HTTP_X_FORWARDED_FOR": "203.0.113.7",
        "HTTP_X_FORWARDED_PROTO": "https",
        "wsgi.url_scheme": "http",
    }
    conf.client_wsgi(app)(environ, None)
    assert seen["REMOTE_ADDR"] == "203.0.113.7" and seen["wsgi.url_scheme"] == "https"


def test_an_asgi_app_sees_the_client_and_scheme_nginx_saw() -> None:
    conf = load_gunicorn_config()
    scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope)

    headers = [(b"x-forwarded-for", b"6.6.6.6"), (b"x-real-ip", b"198.51.100.2"),
               (b"x-forwarded-proto", b"https")]  # fmt: skip
    wrapped = conf.client_asgi(app)
    for kind in ("http", "websocket", "lifespan"):
        scope = {"type": kind, "client": None, "scheme": "http", "headers": headers}
        asyncio.run(wrapped(scope, None, None))
    http, websocket, lifespan = scopes
    assert http["client"] == ("198.51.100.2", 0) and http["scheme"] == "https"
    assert websocket["scheme"] == "wss"
    assert lifespan["client"] is None  # only requests carry a client


def test_the_hook_picks_the_wrapper_by_worker() -> None:
    conf = load_gunicorn_config()

    class SyncWorker:
        wsgi = staticmethod(lambda environ, start_response: [])

    class ASGIWorker:
        async def asgi(self, scope: Any, receive: Any, send: Any) -> None:
            return None

    sync, native = SyncWorker(), ASGIWorker()
    conf.post_worker_init(sync)
    conf.post_worker_init(native)
    assert sync.wsgi.__name__ == "hostd_client" and not asyncio.iscoroutinefunction(sync.wsgi)
    assert asyncio.iscoroutinefunction(native.asgi)


def fake_venv(folder: Path, gunicorn: str, *packages: str) -> Path:
    """A venv as hostd reads it: bin/gunicorn and package folders with their metadata."""
    site_packages = folder / "lib" / "python3.11" / "site-packages"
    info = site_packages / f"gunicorn-{gunicorn}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Name: gunicorn\nVersion: {gunicorn}\n")
    for package in packages:
        (site_packages / package).mkdir()
        (site_packages / package / "__init__.py").write_text("")
    (folder / "bin").mkdir()
    (folder / "bin" / "gunicorn").write_text("#!/bin/sh\n")
    return folder


def venv_site(venv: Path, worker: str, folder: Path) -> Site:
    text = (f"domains: [blog.test]\napp:\n  root: /srv/blog\n  wsgi: blog:app\n"
            f"  venv: {venv}\n  worker_class: {worker}\n")  # fmt: skip
    return parse_site(folder / "blog.yaml", text)


def test_an_asgi_worker_must_be_in_the_sites_venv(tmp_path: Path) -> None:
    """Refused before it fails to start: the file, line and key say which worker is missing."""
    with_worker = fake_venv(tmp_path / "a", "27.0.1", "uvicorn_worker")
    without = fake_venv(tmp_path / "b", "27.0.1")
    old = fake_venv(tmp_path / "c", "23.0.0", "uvicorn_worker")
    check_worker_class(venv_site(with_worker, "uvicorn", tmp_path))
    check_worker_class(venv_site(with_worker, "asgi", tmp_path))
    check_worker_class(venv_site(old, "uvicorn", tmp_path))
    with pytest.raises(SiteError, match="needs uvicorn-worker installed") as caught:
        check_worker_class(venv_site(without, "uvicorn", tmp_path))
    assert (caught.value.key, caught.value.line) == ("app.worker_class", 6)
    with pytest.raises(SiteError, match=r"needs gunicorn 24\+, .* is 23\.0"):
        check_worker_class(venv_site(old, "asgi", tmp_path))
