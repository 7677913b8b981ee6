"""A test app that serves for a moment, then takes its gunicorn master down with it.

It lives long enough to count as started (Supervisor's startsecs), so Supervisor
restarts it again and again: a crash loop only hostd can calm down.
"""

import os
import signal
import threading
import time

from flask import Flask

app = Flask(__name__)


def _die_later() -> None:
    time.sleep(float(os.environ.get("DIE_AFTER", "2.5")))
    os.kill(os.getppid(), signal.SIGTERM)


threading.Thread(target=_die_later, daemon=True).start()


@app.get("/")
def index() -> str:
    return "flaky is up for now\n"
