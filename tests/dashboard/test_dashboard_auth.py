"""Logging in: no default user, every page behind the login, CSRF, throttling, cookies."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie

import pytest
from flask.testing import FlaskClient

from .conftest import PASSWORD, Dashboard, csrf_token, log_in, make_dashboard, reloaded

PRIVATE_PAGES = ["/", "/sites/alpha", "/sites/nope", "/nowhere"]
PRIVATE_JSON = ["/api/status", "/sites/alpha/logs.json"]


def cookies(response: object) -> dict[str, SimpleCookie]:
    found: dict[str, SimpleCookie] = {}
    for header in response.headers.getlist("Set-Cookie"):  # type: ignore[attr-defined]
        cookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie
    return found


@pytest.mark.parametrize("path", PRIVATE_PAGES)
def test_pages_need_a_login(dashboard: Dashboard, path: str) -> None:
    """Every page but the login page sends a visitor to log in, and back afterwards."""
    response = dashboard.client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/login?next={path}")


@pytest.mark.parametrize("path", PRIVATE_JSON)
def test_json_needs_a_login(dashboard: Dashboard, path: str) -> None:
    """The JSON endpoints answer 401 in JSON rather than redirecting."""
    response = dashboard.client().get(path)
    assert response.status_code == 401
    assert response.json == {"error": "login required"}


def test_reload_needs_a_login(dashboard: Dashboard) -> None:
    """A reload by someone not logged in does nothing."""
    client = dashboard.client()
    token = csrf_token(client.get("/login").text)
    response = client.post("/sites/alpha/reload", data={"csrf_token": token})
    assert response.status_code == 302
    assert dashboard.backend.reloads == []


def test_health_and_assets_are_public(dashboard: Dashboard) -> None:
    client = dashboard.client()
    assert client.get("/healthz").text == "ok\n"
    for path in ("/static/dashboard.css", "/bootstrap/static/css/bootstrap.min.css"):
        with client.get(path) as response:
            assert response.status_code == 200


def test_no_default_user(dashboard: Dashboard) -> None:
    """A fresh instance has no user: the login page says how to make one, and the
    obvious guesses do not get in."""
    client = dashboard.client()
    page = client.get("/login")
    assert "No dashboard user exists yet" in page.text
    assert "hostd dashboard passwd USER" in page.text
    for user, password in [("admin", "admin"), ("admin", ""), ("hostd", "hostd")]:
        assert log_in(client, user, password).status_code in (400, 401)
    assert client.get("/").status_code == 302


def test_login_and_logout(dashboard: Dashboard) -> None:
    dashboard.add_user()
    client = dashboard.client()
    assert "No dashboard user" not in client.get("/login").text
    response = log_in(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "Logged in as alice." in page.text
    token = csrf_token(page.text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_and_unknown_user(dashboard: Dashboard) -> None:
    dashboard.add_user()
    client = dashboard.client()
    for user, password in [("alice", "wrong password"), ("mallory", PASSWORD)]:
        response = log_in(client, user, password)
        assert response.status_code == 401
        assert "Wrong user name or password." in response.text
    assert client.get("/").status_code == 302


def test_login_goes_back_but_never_elsewhere(dashboard: Dashboard) -> None:
    dashboard.add_user()
    for n, (target, expected) in enumerate(
        [
            ("/sites/alpha", "/sites/alpha"),
            ("//evil.example/", "/"),
            ("https://evil.example/", "/"),
            ("/\\evil.example", "/"),
            ("////evil.example/", "/"),
            ("/\t/evil.example/", "/"),
            ("https:evil.example", "/"),
        ]
    ):
        client = dashboard.client(f"203.0.113.{n + 1}")  # one attempt per address
        token = csrf_token(client.get("/login").text)
        response = client.post(
            "/login",
            query_string={"next": target},
            data={"csrf_token": token, "username": "alice", "password": PASSWORD},
        )
        assert response.headers.get("Location") == expected, (target, response.status_code)


def test_login_form_needs_its_csrf_token(dashboard: Dashboard) -> None:
    dashboard.add_user()
    client = dashboard.client()
    client.get("/login")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.text
    forged = client.post(
        "/login", data={"csrf_token": "forged", "username": "alice", "password": PASSWORD}
    )
    assert forged.status_code == 400
    assert client.get("/").status_code == 302


def test_buttons_need_their_csrf_token(client: FlaskClient, dashboard: Dashboard) -> None:
    """A logged-in user's browser cannot be made to reload or log out by another site."""
    dashboard.backend.report = reloaded("alpha")
    assert client.post("/sites/alpha/reload").status_code == 400
    assert client.post("/sites/alpha/reload", data={"csrf_token": "x"}).status_code == 400
    assert client.post("/logout").status_code == 400
    assert dashboard.backend.reloads == []
    assert client.get("/").status_code == 200


def test_login_attempts_are_throttled(dashboard: Dashboard) -> None:
    """Five attempts a minute per address; then even the right password waits. Other
    addresses and reading the login page are not affected."""
    dashboard.add_user()
    client = dashboard.client("203.0.113.5")
    for _ in range(5):
        assert log_in(client, "alice", "wrong password").status_code == 401
    blocked = log_in(client)
    assert blocked.status_code == 429
    assert "Too many login attempts" in blocked.text
    assert client.get("/login").status_code == 200
    assert client.get("/").status_code == 302
    assert log_in(dashboard.client("203.0.113.6")).status_code == 302


def test_a_forged_forwarded_for_does_not_escape_the_throttle(dashboard: Dashboard) -> None:
    """The throttle keys on the address the connection came from (REMOTE_ADDR, which
    gunicorn sets from what nginx saw), never on X-Forwarded-For, which anyone writes."""
    dashboard.add_user()
    client = dashboard.client("203.0.113.9")
    for n in range(5):
        token = csrf_token(client.get("/login").text)
        data = {"csrf_token": token, "username": "alice", "password": "nope-nope"}
        forged = {"X-Forwarded-For": f"198.51.100.{n}"}
        assert client.post("/login", data=data, headers=forged).status_code == 401
    token = csrf_token(client.get("/login").text)
    data = {"csrf_token": token, "username": "alice", "password": PASSWORD}
    fresh = {"X-Forwarded-For": "198.51.100.200"}
    assert client.post("/login", data=data, headers=fresh).status_code == 429


def test_a_copied_cookie_stops_working_after_logout(dashboard: Dashboard) -> None:
    """Logging out ends the login on the server: a copy of the session cookie, or of
    the remember-me cookie, taken before logout no longer gets in."""
    dashboard.add_user()
    client = dashboard.client()
    log_in(client, remember=True)
    copy = dashboard.client()
    for name in ("hostd_session", "hostd_remember"):
        cookie = client.get_cookie(name)
        assert cookie is not None
        copy.set_cookie(name, cookie.value)
    assert copy.get("/").status_code == 200
    page = client.get("/")
    assert client.post("/logout", data={"csrf_token": csrf_token(page.text)}).status_code == 302
    assert copy.get("/").status_code == 302
    only_remember = dashboard.client()
    only_remember.set_cookie("hostd_remember", cookie.value)
    assert only_remember.get("/").status_code == 302


def test_cookies_over_http(dashboard: Dashboard) -> None:
    """HttpOnly and SameSite=Lax; not Secure over plain HTTP (embedded mode)."""
    dashboard.add_user()
    client = dashboard.client()
    response = log_in(client, remember=True)
    jar = cookies(response)
    session = jar["hostd_session"]["hostd_session"]
    remember = jar["hostd_remember"]["hostd_remember"]
    for cookie in (session, remember):
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert not cookie["secure"]


def test_cookies_are_secure_over_https(dashboard: Dashboard) -> None:
    """Behind nginx over HTTPS (X-Forwarded-Proto) every cookie is Secure."""
    dashboard.add_user()
    client = dashboard.client()
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-Port": "443", "Referer": "https://x/"}
    page = client.get("/login", headers=https, base_url="https://dashboard.example")
    assert all("Secure" in h for h in page.headers.getlist("Set-Cookie"))
    response = client.post(
        "/login",
        headers={**https, "Referer": "https://dashboard.example/login"},
        base_url="https://dashboard.example",
        data={
            "csrf_token": csrf_token(page.text),
            "username": "alice",
            "password": PASSWORD,
            "remember": "y",
        },
    )
    assert response.status_code == 302
    jar = cookies(response)
    assert jar["hostd_session"]["hostd_session"]["secure"] is True
    assert jar["hostd_remember"]["hostd_remember"]["secure"] is True


def test_remember_me_is_optional(dashboard: Dashboard) -> None:
    dashboard.add_user()
    assert "hostd_remember" not in cookies(log_in(dashboard.client()))
    assert "hostd_remember" in cookies(log_in(dashboard.client(), remember=True))


def test_remember_me_logs_in_without_a_session(dashboard: Dashboard) -> None:
    dashboard.add_user()
    client = dashboard.client()
    log_in(client, remember=True)
    client.delete_cookie("hostd_session")
    assert client.get("/").status_code == 200


def test_session_lifetime_is_configurable(dashboard: Dashboard) -> None:
    """dashboard.toml beside hostd.toml sets how long a login lasts."""
    (dashboard.home / "dashboard.toml").write_text("[default]\nsession_lifetime = 120\n")
    short = make_dashboard(dashboard.home)
    short.add_user()
    session = cookies(log_in(short.client()))["hostd_session"]["hostd_session"]
    left = parsedate_to_datetime(session["expires"]).timestamp() - time.time()
    assert 60 < left <= 121


def test_a_new_password_ends_old_logins(dashboard: Dashboard) -> None:
    dashboard.add_user()
    client = dashboard.client()
    log_in(client, remember=True)
    assert client.get("/").status_code == 200
    dashboard.add_user(password="another good password")
    assert client.get("/").status_code == 302
