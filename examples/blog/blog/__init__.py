"""A blog built the Flask way: an application factory (`wsgi: "blog:create_app()"`).

Its templates render through Flask; its static files are served by nginx
directly (`static: {/static/: ...}` in sites.d/blog.yaml), never by gunicorn.
"""

import os

from flask import Flask, render_template
from werkzeug.middleware.proxy_fix import ProxyFix

POSTS = [
    {"slug": "hello", "title": "Hello, hostd", "body": "This blog is served by hostd."},
    {
        "slug": "safety",
        "title": "A typo never takes a site down",
        "body": "Break a site file and the last good version keeps serving.",
    },
]


def create_app() -> Flask:
    app = Flask(__name__)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.config["BLOG_TITLE"] = os.environ.get("BLOG_TITLE", "A hostd blog")

    @app.get("/")
    def index() -> str:
        return render_template("index.html", posts=POSTS, title=app.config["BLOG_TITLE"])

    @app.get("/posts/<slug>")
    def post(slug: str) -> tuple[str, int] | str:
        found = next((p for p in POSTS if p["slug"] == slug), None)
        if found is None:
            return render_template("missing.html", title=app.config["BLOG_TITLE"]), 404
        return render_template("post.html", post=found, title=app.config["BLOG_TITLE"])

    return app
