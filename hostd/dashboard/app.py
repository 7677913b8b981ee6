"""The application factory: settings, extensions, blueprints, error pages."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_bcrypt import Bcrypt
from flask_bootstrap import Bootstrap5
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from hostd.core.layout import layout_for
from hostd.dashboard import auth, views
from hostd.dashboard.backend import Backend, HostdBackend
from hostd.dashboard.config import dashboard_dir, environment, load_config, private_folder
from hostd.dashboard.filters import register_filters
from hostd.dashboard.security import behind_nginx, private_headers
from hostd.dashboard.services import Services
from hostd.dashboard.sessions import LoginSessions
from hostd.dashboard.users import User, UserStore
from hostd.errors import HostdError

LOGGER = "hostd.dashboard"
# what anyone may fetch without logging in; everything else needs a login
PUBLIC = frozenset({"auth.login", "main.healthz", "main.favicon", "static", "bootstrap.static"})
MESSAGES = {
    404: "There is no such page here.",
    405: "This page does not take that kind of request.",
    429: "Too many login attempts from your address. Wait a minute, then try again.",
}


def build_app(
    config: Mapping[str, Any] | None = None,
    *,
    home: Path | None = None,
    root: Path | None = None,
    sites_dir: Path | None = None,
    env: str | None = None,
    backend: Backend | None = None,
) -> Flask:
    env = environment(env)
    configure_logging(logging.DEBUG if env == "development" else logging.INFO)
    home = home or (Path(os.environ["HOSTD_HOME"]) if os.environ.get("HOSTD_HOME") else None)
    root = root or Path(os.environ.get("HOSTD_ROOT") or "/")
    layout = layout_for(home, sites_dir, root)
    app = Flask("hostd.dashboard")
    app.config.from_mapping(load_config(layout, env, config))
    app.json.sort_keys = False  # type: ignore[attr-defined]  # /api/status as `hostd status --json`
    logging.getLogger(LOGGER).setLevel(app.config["LOG_LEVEL"])
    users = UserStore(private_folder(dashboard_dir(layout)) / "users.json", Bcrypt(app))
    app.extensions["hostd"] = Services(backend or HostdBackend(home, root, sites_dir), users)

    CSRFProtect(app)
    Bootstrap5(app)
    sessions = LoginSessions(private_folder(dashboard_dir(layout)) / "sessions.json")
    app.extensions["hostd_sessions"] = sessions
    _login_manager(app, users, sessions)
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=app.config["RATELIMIT_STORAGE_URI"],
        default_limits=[],
    )
    app.register_blueprint(auth.blueprint(limiter))
    app.register_blueprint(views.blueprint())
    app.before_request(_require_login)
    _error_pages(app)
    register_filters(app)
    behind_nginx(app)
    private_headers(app)
    if app.config["DEBUG_TB_ENABLED"]:  # development only: config closes it in production
        from flask_debugtoolbar import DebugToolbarExtension

        DebugToolbarExtension(app)
    app.logger.info("dashboard ready env=%s home=%s", env, layout.home)
    return app


def configure_logging(level: int) -> None:
    """One line per event on stderr (Supervisor writes it to the site's app.log)."""
    logger = logging.getLogger(LOGGER)
    if not any(getattr(handler, "hostd", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s dashboard %(levelname)s %(message)s"))
        handler.hostd = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)


def _login_manager(app: Flask, users: UserStore, sessions: LoginSessions) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = "Log in to see this page."
    manager.login_message_category = "info"
    manager.user_loader(session_loader(users, sessions))
    manager.unauthorized_handler(_unauthorized)


def session_loader(users: UserStore, sessions: LoginSessions) -> Callable[[str], User | None]:
    """The user a session or remember cookie names, if its password is unchanged and
    its login has not ended on the server (logged out, expired)."""

    def load(user_id: str) -> User | None:
        base, _, sid = user_id.rpartition(":")
        user = users.by_id(base) if ":" in base else None
        if user is None or not sessions.alive(sid, user.name):
            return None
        return replace(user, session=sid)

    return load


def _unauthorized() -> ResponseReturnValue:
    if _wants_json():
        return jsonify(error="login required"), 401
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.endswith(".json")


def _require_login() -> ResponseReturnValue | None:
    endpoint = request.endpoint or ""
    if endpoint in PUBLIC or current_user.is_authenticated:
        return None
    from flask import current_app

    if current_app.config["DEBUG_TB_ENABLED"] and endpoint.startswith("_debug_toolbar."):
        return None
    return _unauthorized()


def _error_pages(app: Flask) -> None:
    def http_error(error: HTTPException) -> ResponseReturnValue:
        code = error.code or 500
        if _wants_json():
            return jsonify(error=error.description), code
        if code == 429:
            app.logger.warning("throttled path=%s ip=%s", request.path, request.remote_addr)
        message = MESSAGES.get(code, error.description)
        return render_template("error.html", code=code, title=error.name, message=message), code

    def csrf_error(error: CSRFError) -> ResponseReturnValue:
        app.logger.warning("csrf refused path=%s ip=%s: %s", request.path,
                           request.remote_addr, error.description)  # fmt: skip
        return render_template(
            "error.html",
            code=400,
            title="This form has expired",
            message="The form was too old or did not come from this dashboard. "
            "Go back, reload the page and try again.",
        ), 400

    def hostd_error(error: HostdError) -> ResponseReturnValue:
        app.logger.warning("hostd error path=%s: %s", request.path, error)
        if _wants_json():
            return jsonify(error=str(error)), 503
        return render_template(
            "error.html", code=503, title="hostd could not answer", message=str(error)
        ), 503

    def server_error(error: Exception) -> ResponseReturnValue:
        cause = getattr(error, "original_exception", None) or error
        app.logger.error("unexpected error path=%s", request.path, exc_info=cause)
        if _wants_json():
            return jsonify(error="internal error: see the dashboard's log"), 500
        return render_template("error.html", code=500, title="Something went wrong"), 500

    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(HostdError, hostd_error)
    app.register_error_handler(500, server_error)
