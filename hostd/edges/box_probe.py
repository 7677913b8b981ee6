"""What `hostd doctor` asks of this machine beyond hostd's own records: the versions
of the programs hostd runs, who listens on a port, whether an address is this
machine's, whether the clock is synchronised, free disk space, whether a folder can be
written, and what a domain's port 80 answers through hostd's nginx. Loopback only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import secrets
import shutil
import socket
import subprocess
from pathlib import Path

from hostd.core.doctor import Clock, Disk, Tool
from hostd.edges.probe import tcp_get

TIMEOUT = 20.0
TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def tool_of(name: str, path: str | None, argv: list[str]) -> Tool:
    """`path` run with `argv` (its version flag): the first version-like word it prints."""
    if path is None:
        return Tool(name, None)
    try:
        done = subprocess.run([path, *argv], capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        return Tool(name, path, None, str(exc))
    text = done.stdout + done.stderr
    match = re.search(r"\d+(?:\.\d+)+", text)
    if done.returncode != 0 or match is None:
        return Tool(
            name,
            path,
            None,
            text.strip().splitlines()[-1] if text.strip() else f"exit {done.returncode}",
        )
    return Tool(name, path, match.group(0))


def machine_program(name: str) -> str | None:
    """The distribution's `name` (system mode: what its service scripts run)."""
    return shutil.which(name, path=SYSTEM_PATH)


def listeners(port: int) -> list[int]:
    """The socket inodes listening on TCP `port` (IPv4 and IPv6)."""
    inodes = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.append(int(fields[9]))
    return inodes


def socket_owners(inodes: list[int]) -> list[tuple[int | None, str]]:
    """(pid, name) of the processes holding those sockets; (None, "?") for sockets
    whose owner cannot be read (another user's process, when not root)."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    owners: list[tuple[int | None, str]] = []
    seen: set[str] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        held = links & wanted
        if held:
            seen |= held
            owners.append((int(entry.name), _name(entry)))
    if wanted - seen:
        owners.append((None, "?"))
    return owners


def parent_of(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[1])


def _name(entry: Path) -> str:
    try:
        return (entry / "comm").read_text().strip()
    except OSError:
        return "?"


def is_local_address(address: str) -> bool:
    """True if `address` is one of this machine's (binding to it works); sends nothing."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((address, 0))
    except OSError:
        return False
    return True


def clock_state() -> Clock:
    """timedatectl's NTPSynchronized where systemd answers, else the kernel's own
    state (adjtimex), which a time service clears once it has synchronised the clock."""
    timedatectl = shutil.which("timedatectl")
    if timedatectl is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [timedatectl, "show", "-p", "NTPSynchronized", "--value"],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
            if done.returncode == 0 and done.stdout.strip() in ("yes", "no"):
                return Clock(done.stdout.strip() == "yes", "timedatectl")
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        state = libc.adjtimex(ctypes.create_string_buffer(512))  # modes 0: read only
    except (OSError, AttributeError):
        return Clock(None, "neither timedatectl nor adjtimex answers")
    if state < 0:
        return Clock(None, f"adjtimex: {os.strerror(ctypes.get_errno())}")
    return Clock(state != TIME_ERROR, "the kernel's time status, adjtimex")


def disk_of(path: Path) -> Disk:
    """The file system `path` is (or will be) on: its free and total bytes."""
    step = path
    while not step.exists() and step != step.parent:
        step = step.parent
    try:
        info = os.statvfs(step)
        device = step.stat().st_dev
    except OSError as exc:
        return Disk(path, 0, 0, exc.strerror or str(exc))
    return Disk(path, info.f_bavail * info.f_frsize, info.f_blocks * info.f_frsize, "", device)


def write_problem(folder: Path) -> str | None:
    """Why this process cannot write `folder` (or create it), or None."""
    step = folder
    while not step.exists() and step != step.parent:
        step = step.parent
    if not step.is_dir():
        return f"{step} is not a folder"
    if not os.access(step, os.W_OK | os.X_OK):
        return "not writable" if step == folder else f"cannot be created: {step} is not writable"
    return None


def answer_problem(host: str, port: int, domain: str, webroot: Path) -> str | None:
    """Why `domain`'s HTTP-01 path on `host`:`port` does not serve hostd's ACME webroot
    (a token put there for the request), or None."""
    name = f"hostd-doctor-{secrets.token_hex(8)}"
    token = secrets.token_urlsafe(16)
    folder = webroot / ".well-known" / "acme-challenge"
    path = f"/.well-known/acme-challenge/{name}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(token)
    except OSError as exc:
        return f"cannot put a token in {folder}: {exc.strerror}"
    try:
        status, body = tcp_get(host, port, path, domain, timeout=5)
    except OSError as exc:
        return f"http://{domain}:{port}{path} via {host} does not answer: {exc}"
    finally:
        (folder / name).unlink(missing_ok=True)
    if status != 200 or body.decode(errors="replace").strip() != token:
        return (
            f"http://{domain}:{port}{path} via {host} answered {status} without the token: "
            "not from the site's server block"
        )
    return None
