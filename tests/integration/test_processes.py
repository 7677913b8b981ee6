"""Worker processes (`processes:`) against real Supervisor: a real task queue, huey on
SQLite, where a request enqueues a task and the site's worker runs it; each process
has its own log and state, changes with the site, and a crashing one is backed off
without touching the web program."""

from __future__ import annotations

import http.client
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import APPS, HostdUp, site_yaml, wait_until

VENV = Path(sys.prefix)  # hostd's own venv has huey (the test extra): the site uses it


def jobs_site(up: HostdUp, processes: str) -> str:
    return site_yaml(
        ["jobs.test"], root=APPS / "jobs", wsgi="jobsapp:app",
        env={"QUEUE_DB": str(up.root / "queue.db"), "RESULTS": str(up.root / "results")},
        extra=f"processes:\n{processes}",
    ).replace("  workers: 1\n", f"  workers: 1\n  venv: {VENV}\n")  # fmt: skip


@pytest.fixture(scope="module")
def jobs() -> Iterator[HostdUp]:
    up = HostdUp()
    try:
        (up.root / "results").mkdir(parents=True)
        up.write_site("jobs", jobs_site(up, "  worker: huey_consumer tasks.huey -w 1\n"))
        up.start()
        yield up
    finally:
        print(up.log()[-5000:])
        strays = up.cleanup()
    assert not strays, f"processes left behind: {strays}"


def post(up: HostdUp, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", up.port, timeout=10)
    conn.request("POST", path, headers={"Host": "jobs.test"})
    status = conn.getresponse().status
    conn.close()
    return status


def processes(up: HostdUp) -> dict[str, dict[str, object]]:
    return dict(up.status()["sites"]["jobs"]["processes"])


def test_a_request_enqueues_a_task_and_the_worker_process_runs_it(jobs: HostdUp) -> None:
    assert post(jobs, "/jobs/first") == 202
    result = jobs.root / "results" / "first.txt"
    wait_until(result.exists, 30, "the worker ran the task")
    assert result.read_text() == "first run by worker of jobs"
    wait_until(lambda: processes(jobs)["worker"]["program"] == "RUNNING", 30, "worker RUNNING")
    assert isinstance(processes(jobs)["worker"]["pid"], int)
    assert "worker: RUNNING pid" in jobs.hostd("status", check=True).stdout.replace(
        "process worker", "worker"
    )
    worker = processes(jobs)["worker"]["pid"]
    reloaded = jobs.reload("jobs")  # same configuration: new code
    assert "jobs: reloaded" in reloaded.stdout, reloaded.stdout
    assert processes(jobs)["worker"]["pid"] != worker, "workers restart on the new code"
    logs = jobs.hostd("logs", "jobs", "--source", "worker", check=True).stdout
    assert "jobs: ran first" in logs
    assert "jobs: ran first" not in jobs.hostd("logs", "jobs", "--source", "app").stdout


def test_a_crashing_process_is_backed_off_and_the_web_program_is_untouched(
    jobs: HostdUp,
) -> None:
    web = jobs.pid("jobs")
    worker = processes(jobs)["worker"]["pid"]
    jobs.write_site(
        "jobs",
        jobs_site(jobs, "  worker: huey_consumer tasks.huey -w 1\n"
                        "  flaky: python -c 'import sys; sys.exit(3)'\n"),
    )  # fmt: skip
    done = jobs.reload()
    assert done.returncode == 0 and "jobs: changed" in done.stdout, done.stdout
    wait_until(lambda: processes(jobs)["flaky"]["crash_loop"], 60, "flaky backed off")
    now = processes(jobs)
    assert now["flaky"]["program"] in ("STOPPED", "FATAL")
    assert now["worker"]["pid"] == worker, "an added process leaves the others running"
    assert jobs.pid("jobs") == web, "the web program was not touched"
    assert jobs.get("jobs.test").status == 200

    jobs.write_site("jobs", jobs_site(jobs, "  worker: huey_consumer tasks.huey -w 2\n"))
    assert jobs.reload().returncode == 0
    wait_until(lambda: "flaky" not in processes(jobs), 30, "flaky removed")
    changed = processes(jobs)["worker"]
    assert changed["pid"] != worker, "a changed command restarts its process"
    assert jobs.pid("jobs") == web, "still the same web program"
    assert post(jobs, "/jobs/second") == 202
    wait_until((jobs.root / "results" / "second.txt").exists, 30, "the new worker runs tasks")
