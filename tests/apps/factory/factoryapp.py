"""A test app built by a factory that takes arguments, and says which it got."""

from flask import Flask, jsonify


def create_app(name: str, *, debug: bool = False, tags: tuple[object, ...] = ()) -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index() -> object:
        return jsonify(name=name, debug=debug, tags=list(tags))

    return app
