"""The pieces of a supervisord's replacement (hostd.runtime.recovery) on real sockets and
processes: a socket set aside keeps serving through the site's link, the site's own
path is free for the new gunicorn, and the orphans stop as they must.
test_faults.py drives the whole recovery under `hostd up`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostd.core.layout import Layout, embedded_layout
from hostd.edges.process import start_time
from hostd.edges.slot_link import SocketLinks
from hostd.runtime import recovery
from hostd.runtime.recovery import (
    hand_back,
    leftover_aside,
    remove_aside,
    retire_orphans,
    set_aside,
)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    layout = embedded_layout(tmp_path / "h")
    layout.run_dir.mkdir(parents=True)
    return layout


@pytest.fixture
def listeners() -> Iterator[list[socket.socket]]:
    held: list[socket.socket] = []
    yield held
    for sock in held:
        sock.close()


def listen(path: Path, held: list[socket.socket]) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(8)
    held.append(sock)
    return sock


def reaches(link: Path, listener: socket.socket) -> bool:
    """True if a connect through `link` is queued on `listener`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(link))
        listener.settimeout(2)
        accepted, _ = listener.accept()
        accepted.close()
        return True


def test_a_socket_set_aside_serves_through_the_link_and_frees_its_path(
    layout: Layout, listeners: list[socket.socket]
) -> None:
    SocketLinks(layout).point("blog", "b")
    SocketLinks(layout).point("shop", "a")
    own = layout.slot_socket("blog", "b")
    orphan = listen(own, listeners)  # shop's link leads to no socket

    aside = set_aside(layout, ["blog", "shop"])

    assert aside == {"blog": own}
    assert not own.exists()  # the new gunicorn binds here without unlinking the orphan's
    assert reaches(layout.site_socket("blog"), orphan)
    new = listen(own, listeners)
    hand_back(layout, aside)
    assert os.readlink(layout.site_socket("blog")) == own.name
    assert reaches(layout.site_socket("blog"), new)
    assert leftover_aside(layout) == [own.with_name(f".{own.name}.orphan")]
    remove_aside(aside.values())
    assert leftover_aside(layout) == []


def test_the_link_leads_to_the_socket_at_every_step_of_setting_it_aside(
    layout: Layout, listeners: list[socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the link is switched to the socket's second name, both names lead to the
    socket: a connect through the link never finds nothing."""
    SocketLinks(layout).point("blog", "a")
    orphan = listen(layout.slot_socket("blog", "a"), listeners)
    seen: list[bool] = []
    switch = recovery.link_to

    def switching(link: Path, name: str) -> None:
        seen.append(reaches(link, orphan) and reaches(link.with_name(name), orphan))
        switch(link, name)
        seen.append(reaches(link, orphan))

    monkeypatch.setattr(recovery, "link_to", switching)
    assert set_aside(layout, ["blog"]) == {"blog": layout.slot_socket("blog", "a")}
    assert seen == [True, True]


def test_a_link_an_apply_pointed_elsewhere_meanwhile_is_not_handed_back(
    layout: Layout, listeners: list[socket.socket]
) -> None:
    links = SocketLinks(layout)
    links.point("blog", "a")
    listen(layout.slot_socket("blog", "a"), listeners)
    aside = set_aside(layout, ["blog"])
    links.point("blog", "b")  # an apply moved the site to its other slot
    hand_back(layout, aside)
    assert links.pointed("blog") == "b"


ORPHAN = """
import os, signal, sys, time
child = os.fork()
if child == 0:
    def finish(*_):
        open(sys.argv[1], "w").write("finished")
        os._exit(0)
    signal.signal(signal.SIGTERM, finish)
    while True:
        time.sleep(1)
print(child, flush=True)
while True:
    time.sleep(1)
"""


def test_orphans_retire_masters_killed_workers_let_finish(tmp_path: Path) -> None:
    """The master (whose parent is not an orphan) is SIGKILLed, so it unlinks nothing;
    its worker gets SIGTERM and finishes; a pid whose start time changed is left."""
    finished = tmp_path / "finished"
    master = subprocess.Popen([sys.executable, "-c", ORPHAN, str(finished)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        assert master.stdout is not None
        worker = int(master.stdout.readline())
        time.sleep(0.2)  # the worker's handler is set
        starts = {pid: start_time(pid) for pid in (master.pid, worker)}
        orphans = {pid: start for pid, start in starts.items() if start is not None}
        bystander_start = start_time(bystander.pid)
        assert bystander_start is not None
        orphans[bystander.pid] = bystander_start + 1  # as if the pid had been reused

        assert retire_orphans(orphans) == sorted((master.pid, worker))
        assert master.wait(5) == -signal.SIGKILL
        assert finished.read_text() == "finished"
        assert bystander.poll() is None
    finally:
        for proc in (master, bystander):
            proc.kill()
            proc.wait()
        if master.stdout is not None:
            master.stdout.close()
