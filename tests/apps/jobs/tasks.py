"""A real huey task queue on SQLite (no server): the web app enqueues, the worker runs."""

import os
from pathlib import Path

from huey import SqliteHuey

huey = SqliteHuey(filename=os.environ["QUEUE_DB"])


@huey.task()
def record(job: str) -> None:
    """Write who ran `job`: the worker process, not the web app."""
    folder = Path(os.environ["RESULTS"])
    text = f"{job} run by {os.environ.get('HOSTD_PROCESS')} of {os.environ.get('HOSTD_SITE')}"
    (folder / f"{job}.tmp").write_text(text)
    (folder / f"{job}.tmp").replace(folder / f"{job}.txt")
    print(f"jobs: ran {job}", flush=True)
