"""The smallest hostd site: a plain Flask app object (`wsgi: app:app`)."""

from flask import Flask, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)
# nginx is the one proxy in front: trust one hop of X-Forwarded-*.
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]


@app.get("/")
def index() -> str:
    return "Hello from hostd!\n"


@app.get("/whoami")
def whoami() -> object:
    return jsonify(
        client=request.remote_addr,
        host=request.host,
        scheme=request.scheme,
    )
