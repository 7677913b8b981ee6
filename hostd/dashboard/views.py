"""The pages: sites overview, a site's page (plan, logs, reload, rollback), the JSON API."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from hostd.core.builtin import NAME
from hostd.core.report import ApplyReport, Tone, report_lines
from hostd.core.site import SITE_NAME
from hostd.dashboard.forms import ButtonForm
from hostd.dashboard.services import services
from hostd.errors import HostdError
from hostd.queries.status import SiteStatus, Status

logger = logging.getLogger("hostd.dashboard")
MAX_LOG_LINES = 1000


def healthz() -> ResponseReturnValue:
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


def favicon() -> ResponseReturnValue:
    return current_app.send_static_file("favicon.svg")


def overview() -> ResponseReturnValue:
    backend = services().backend
    status = backend.status()
    return render_template(
        "overview.html", status=status, port=backend.http_port(), dashboard=NAME,
        figures=site_figures(backend.figures()),
    )  # fmt: skip


def _site(status: Status, name: str) -> SiteStatus:
    found = next((site for site in status.sites if site.name == name), None)
    if found is None:
        abort(404)
    return found


def site(name: str) -> ResponseReturnValue:
    backend = services().backend
    status = backend.status()
    entry = _site(status, name)
    lines = current_app.config["LOG_LINES"]
    return render_template(
        "site.html",
        status=status,
        site=entry,
        pending=backend.pending(name),
        lines=backend.log_lines(name, lines) or [],
        port=backend.http_port(),
        form=ButtonForm(),
        is_dashboard=name == NAME,
        poll_ms=current_app.config["LOG_POLL_MS"],
        line_count=lines,
        figures=site_figures(backend.figures()).get(name),
    )


def site_figures(figures: dict[str, Any] | None) -> dict[str, Any]:
    """Each site's figures (empty if no daemon serves them)."""
    sites = (figures or {}).get("sites")
    return sites if isinstance(sites, dict) else {}


def site_logs(name: str) -> ResponseReturnValue:
    count = min(request.args.get("lines", current_app.config["LOG_LINES"], type=int), MAX_LOG_LINES)
    lines = services().backend.log_lines(name, max(count, 0))
    if lines is None:
        abort(404)
    return jsonify(site=name, lines=[{"source": line.source, "text": line.text} for line in lines])


def reload(name: str) -> ResponseReturnValue:
    if name == NAME and ButtonForm().validate_on_submit():
        flash(
            f"The dashboard does not restart itself from its own page: run `hostd reload {NAME}`.",
            "warning",
        )
        return redirect(url_for("main.site", name=name))
    return _site_action(name, "reload", "reloaded", services().backend.reload)


def rollback(name: str) -> ResponseReturnValue:
    if name == NAME:
        abort(400)
    return _site_action(name, "rollback", "rolled back", services().backend.rollback)


def _site_action(
    name: str, action: str, done: str, run: Callable[[str, float], ApplyReport | None]
) -> ResponseReturnValue:
    """A button on a site's page: `run` it as the hostd command does, its result
    flashed on the page it was pressed on."""
    here = url_for("main.site", name=name)
    if not ButtonForm().validate_on_submit():
        abort(400)
    logger.info("%s site=%s user=%s", action, name, current_user.name)
    try:
        report = run(name, float(current_app.config["RELOAD_WAIT"]))
    except HostdError as exc:
        flash(f"{name}: not {done}: {exc}", "danger")
        return redirect(here)
    for message, category in report_messages(name, report, action):
        flash(message, category)
    return redirect(here)


CATEGORY = {Tone.GOOD: "success", Tone.NEUTRAL: "info", Tone.PROBLEM: "danger"}


def report_messages(
    name: str, report: ApplyReport | None, action: str = "reload"
) -> list[tuple[str, str]]:
    """Flash messages for a reload or rollback: the lines the command prints, coloured."""
    if report is None:
        return [(f"{name}: the {action} is still running; its result will show here.", "info")]
    return [(line.text, CATEGORY[line.tone]) for line in report_lines(report)]


def api_status() -> ResponseReturnValue:
    return jsonify(services().backend.status().to_json())


def site_names_only(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A site in a URL is a site name, never a path (`..`) to wander the disk with."""
    if values and "name" in values and not SITE_NAME.match(str(values["name"])):
        abort(404)


def blueprint() -> Blueprint:
    bp = Blueprint("main", __name__)
    bp.url_value_preprocessor(site_names_only)
    bp.add_url_rule("/healthz", view_func=healthz)
    bp.add_url_rule("/favicon.ico", view_func=favicon)
    bp.add_url_rule("/", view_func=overview)
    bp.add_url_rule("/sites/<name>", view_func=site)
    bp.add_url_rule("/sites/<name>/logs.json", view_func=site_logs)
    bp.add_url_rule("/sites/<name>/reload", view_func=reload, methods=["POST"])
    bp.add_url_rule("/sites/<name>/rollback", view_func=rollback, methods=["POST"])
    bp.add_url_rule("/api/status", view_func=api_status)
    return bp
