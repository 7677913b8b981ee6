"""Whether a site's venv has the gunicorn worker its `app.worker_class` names.

Read from the venv's files, without running anything: a site whose worker cannot
load is refused with its file, line and key instead of failing to start.
"""

from __future__ import annotations

from pathlib import Path

from hostd.core.site import Site
from hostd.edges.host import installed_version, tool
from hostd.errors import SiteError

ASGI_SINCE = (24, 0)  # the first gunicorn with its own ASGI worker
UVICORN_WORKER = "lib/python3*/site-packages/uvicorn_worker/__init__.py"


def check_worker_class(site: Site) -> None:
    """SiteError if the worker `site` asks for is not installed where it runs."""
    app = site.app
    if app.worker_class == "uvicorn":
        if app.venv is None or not any(app.venv.glob(UVICORN_WORKER)):
            where = f"the venv {app.venv}" if app.venv else "a venv (set app.venv)"
            raise _error(site, f"worker_class uvicorn needs uvicorn-worker installed in {where}")
    elif app.worker_class == "asgi":
        gunicorn = app.venv / "bin" / "gunicorn" if app.venv else Path(tool("gunicorn"))
        version = installed_version(gunicorn)
        if version is not None and version < ASGI_SINCE:
            shown = ".".join(map(str, version))
            raise _error(site, f"worker_class asgi needs gunicorn 24+, {gunicorn} is {shown}")


def _error(site: Site, message: str) -> SiteError:
    key = "app.worker_class"
    return SiteError(message, file=site.file, line=site.line(key), key=key)
