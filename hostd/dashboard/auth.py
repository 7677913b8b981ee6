"""Logging in and out. Login attempts are throttled per client address."""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from flask_login import current_user, login_user, logout_user

from hostd.dashboard.forms import ButtonForm, LoginForm
from hostd.dashboard.services import services
from hostd.dashboard.sessions import LoginSessions

logger = logging.getLogger("hostd.dashboard")


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site, never another site.

    Only `/` followed by something other than `/` or `\\`: browsers read `//host`,
    `////host` and `/\\host` as another host, and drop tabs and newlines first."""
    if target and _own_path(target):
        return target
    return url_for("main.overview")


def _own_path(target: str) -> bool:
    if any(ord(c) < 0x21 or c == "\x7f" for c in target) or "\\" in target:
        return False
    if not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def login_sessions() -> LoginSessions:
    sessions: LoginSessions = current_app.extensions["hostd_sessions"]
    return sessions


def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    store = services().users
    status = 200
    if form.validate_on_submit():
        name = str(form.username.data).strip()
        user = store.authenticate(name, str(form.password.data))
        if user is not None:
            session.clear()
            remember = bool(form.remember.data)
            config = current_app.config
            lifetime = (config["REMEMBER_COOKIE_DURATION"] if remember
                        else config["PERMANENT_SESSION_LIFETIME"]).total_seconds()  # fmt: skip
            sid = login_sessions().start(user.name, max(lifetime, 60.0))
            login_user(replace(user, session=sid), remember=remember)
            session.permanent = True  # lasts PERMANENT_SESSION_LIFETIME
            logger.info("login user=%s ip=%s remember=%s", name, request.remote_addr,
                        bool(form.remember.data))  # fmt: skip
            flash(f"Logged in as {user.name}.", "success")
            return redirect(safe_next(request.args.get("next")))
        logger.warning("login refused user=%s ip=%s", name, request.remote_addr)
        flash("Wrong user name or password.", "danger")
        status = 401
    elif request.method == "POST":
        status = 400
    no_users = not store.names()
    return render_template("login.html", form=form, no_users=no_users), status


def logout() -> ResponseReturnValue:
    if ButtonForm().validate_on_submit():
        logger.info("logout user=%s", getattr(current_user, "name", "-"))
        login_sessions().end(getattr(current_user, "session", ""))  # every copy ends
        logout_user()
        session.clear()
        flash("Logged out.", "info")
    return redirect(url_for("auth.login"))


def blueprint(limiter: Limiter) -> Blueprint:
    bp = Blueprint("auth", __name__)
    throttled = limiter.limit(lambda: str(current_app.config["LOGIN_LIMIT"]), methods=["POST"])
    bp.add_url_rule("/login", view_func=throttled(login), methods=["GET", "POST"])
    bp.add_url_rule("/logout", view_func=logout, methods=["POST"])
    return bp
