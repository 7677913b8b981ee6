"""Sites go live through real nginx, supervisord and gunicorn, and come down cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from .harness import APPS, HostdUp, site_yaml


def test_two_sites_are_served_under_their_own_host_headers(instance: HostdUp) -> None:
    """Each site answers for its own domains; an unknown Host gets no site at all."""
    instance.write_site("alpha", site_yaml(["alpha.test", "www.alpha.test"]))
    instance.write_site("beta", site_yaml(["beta.test"], env={"GREETING": "bonjour"}))
    instance.start()

    assert instance.get("alpha.test").body == "alpha says hello\n"
    assert instance.get("www.alpha.test").body == "alpha says hello\n"
    assert instance.get("beta.test").body == "beta says bonjour\n"
    with pytest.raises(ConnectionError):
        instance.get("unknown.test")


def test_the_app_sees_the_real_client_address_and_host(instance: HostdUp) -> None:
    """nginx passes Host and X-Forwarded-*; a forged X-Forwarded-For is not believed."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()

    seen = instance.get("alpha.test", "/info", {"X-Forwarded-For": "203.0.113.9"}).json()
    assert seen["client"] == "127.0.0.1"
    assert seen["host"] == "alpha.test"
    assert seen["forwarded_host"] == "alpha.test"
    assert seen["scheme"] == "http"


def test_static_files_are_served_by_nginx_and_the_factory_app_by_gunicorn(
    instance: HostdUp,
) -> None:
    """The example blog: templates through its factory, /static/ straight from disk."""
    blog = APPS.parent.parent / "examples" / "blog"
    instance.write_site(
        "blog",
        site_yaml(["blog.test"], root=blog, wsgi="blog:create_app()",
                  env={"BLOG_TITLE": "Tested blog"},
                  extra=f"static:\n  /static/: {blog}/blog/static\n"),
    )  # fmt: skip
    instance.start()

    page = instance.get("blog.test")
    assert page.status == 200 and "<title>Tested blog</title>" in page.body
    css = instance.get("blog.test", "/static/style.css")
    assert css.status == 200 and "served by nginx" in css.body
    access = (instance.home / "log" / "blog" / "access.log").read_text()
    assert "GET /static/style.css" in access


def test_sigterm_stops_nginx_supervisord_and_every_gunicorn(instance: HostdUp) -> None:
    """`hostd up` stopped by SIGTERM exits 0 and leaves no process behind."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.start()
    pids = [instance.pid("alpha"), instance.pid("beta")]
    assert all(pids)
    assert instance.leftovers(), "the instance should be running before the stop"

    assert instance.stop() == 0
    assert instance.leftovers() == []
    assert not (instance.home / "run" / "up.json").exists()


def test_a_second_up_on_the_same_home_is_refused(instance: HostdUp) -> None:
    """Two instances on one home would fight over its sockets: the second says so."""
    instance.start()
    second = subprocess.run(
        [sys.executable, "-m", "hostd", "up", "--home", str(instance.home),
         "--sites", str(instance.sites), "--http-port", str(instance.port)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == 3
    assert "already running" in second.stderr
    assert instance.get("unknown.test", "/.hostd/fingerprint").status == 200


def test_ctrl_c_stops_cleanly_too(instance: HostdUp) -> None:
    """SIGINT (Ctrl-C in a terminal) is a clean stop as well."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    assert instance.proc is not None
    instance.proc.send_signal(signal.SIGINT)
    assert instance.proc.wait(60) == 0
    assert instance.leftovers() == []
