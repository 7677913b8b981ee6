"""hostd.edges.listeners on a real process: the listening sockets another process holds,
copied into this one, accept the connections made to that process's port."""

from __future__ import annotations

import socket
import subprocess
import sys

from hostd.edges.listeners import close_all, held_listeners, inherited_env, take_listeners

HOLDER = """
import socket, sys, time
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(8)
connected = socket.create_connection(listener.getsockname())  # not a listener
print(listener.getsockname()[1], flush=True)
time.sleep(60)
"""


def test_a_listening_socket_of_another_process_is_copied_and_accepts() -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        assert len(held_listeners([holder.pid])) == 1  # the connected socket is not one
        fds = take_listeners([holder.pid])
        try:
            assert len(fds) == 1
            copy = socket.socket(fileno=fds[0])
            assert copy.getsockname() == ("127.0.0.1", port)
            fds.clear()  # the socket object owns it now
            with copy, socket.create_connection(("127.0.0.1", port), timeout=2):
                copy.settimeout(2)
                accepted, _ = copy.accept()
                accepted.close()
        finally:
            close_all(fds)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_nothing_to_take_from_a_process_that_is_gone() -> None:
    assert take_listeners([2**22 + 7]) == []  # above pid_max: no such process
    assert inherited_env([]) == {}
    assert inherited_env([5, 6]) == {"NGINX": "5;6;"}
