"""Process helpers of `hostd up`: the open-files limit, telling processes and groups apart."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

from hostd.edges.nginx import children_of
from hostd.edges.process import MAX_OPEN_FILES, group_members, raise_open_files_limit, start_time


def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    """With a soft limit of 256, hostd raises it as far as the hard limit lets it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    code = "from hostd.edges.process import raise_open_files_limit as r; print(r())"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, check=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
    )  # fmt: skip
    expected = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)
    assert int(done.stdout) == max(256, expected)
    assert raise_open_files_limit() >= 256


def test_a_process_group_and_a_start_time_identify_processes() -> None:
    """A child in its own session is found by its group; a pid's start time is stable."""
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert group_members(child.pid) == [child.pid]
        assert group_members(child.pid, "sleep") == [child.pid]
        assert group_members(child.pid, "nginx") == []
        assert start_time(child.pid) == start_time(child.pid) is not None
        assert start_time(os.getpid()) != start_time(child.pid)
    finally:
        child.kill()
        child.wait()
    assert group_members(child.pid) == []
    assert start_time(child.pid) is None


def test_the_children_of_a_process_are_found_without_scanning_every_process() -> None:
    """What the wait for nginx's reload reads: the master's children only."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in children_of(os.getpid())
        assert os.getpid() not in children_of(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert children_of(2**22 + 1) == []  # no such process: no children
