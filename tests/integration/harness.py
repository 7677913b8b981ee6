"""Driving a real `hostd up` from tests: start it, talk to it, stop it, clean up.

Everything lives in short temporary folders under /tmp (unix socket paths are
limited to 107 bytes) and on free loopback ports. `HostdUp.cleanup` kills every
process whose command line mentions the instance's folder, so a failing test
leaves nothing behind either.
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostd.edges.process import kill_all, processes_mentioning

TESTS = Path(__file__).resolve().parent.parent
APPS = TESTS / "apps"
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_yaml(
    domains: list[str],
    *,
    root: Path = APPS / "probe",
    wsgi: str = "probe:app",
    env: dict[str, str] | None = None,
    extra: str = "",
) -> str:
    """A site file for one of the test apps, one worker."""
    lines = [
        f"domains: [{', '.join(domains)}]",
        "app:",
        f"  root: {root}",
        f"  wsgi: '{wsgi}'",
        "  workers: 1",
    ]
    if env:
        lines.append("  env:")
        lines += [f"    {key}: {json.dumps(value)}" for key, value in env.items()]
    return "\n".join(lines) + "\n" + extra


@dataclass
class Response:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HostdUp:
    """One embedded instance: its folders, its port, and the `hostd up` process."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hd-", dir="/tmp")))
    port: int = field(default_factory=free_port)
    https_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    # off unless a test is about it: with it, a change may apply before the test's reload
    watch: bool = False

    @property
    def home(self) -> Path:
        return self.root / "h"

    @property
    def sites(self) -> Path:
        return self.root / "sites.d"

    @property
    def output(self) -> Path:
        return self.root / "up.out"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTD_")}
        env.update(self.env)
        return env

    def write_site(self, name: str, text: str) -> Path:
        self.sites.mkdir(parents=True, exist_ok=True)
        path = self.sites / f"{name}.yaml"
        tmp = self.sites / f".{name}.yaml.tmp"
        tmp.write_text(text)
        tmp.replace(path)
        return path

    def start(self, *extra: str) -> None:
        self.sites.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "hostd", "up", "--home", str(self.home),
                "--sites", str(self.sites), "--http-port", str(self.port),
                "--https-port", str(self.https_port),
                *([] if self.watch else ["--no-watch"]), *extra]  # fmt: skip
        with self.output.open("w") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, text=True, env=self.environ()
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not (self.home / "run" / "up.json").exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"hostd up exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"hostd up not ready in {START_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.output.read_text() if self.output.exists() else ""

    def hostd(self, *args: str, check: bool | None = None) -> subprocess.CompletedProcess[str]:
        """Run a hostd command against this instance."""
        done = subprocess.run(
            [sys.executable, "-m", "hostd", *args, "--home", str(self.home)],
            capture_output=True, text=True, env=self.environ(), timeout=120,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(
                f"hostd {args} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done

    def reload(self, *sites: str) -> subprocess.CompletedProcess[str]:
        return self.hostd("reload", *sites)

    def status(self) -> dict[str, Any]:
        done = self.hostd("status", "--json", check=True)
        return dict(json.loads(done.stdout))

    def pid(self, site: str) -> int | None:
        entry = self.status()["sites"].get(site)
        return entry["pid"] if entry else None

    def get(self, host: str, path: str = "/", headers: dict[str, str] | None = None) -> Response:
        """GET through hostd's nginx; raises ConnectionError if nginx closes without answer."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"Host": host, **(headers or {})})
            response = conn.getresponse()
            return Response(response.status, response.read().decode())
        except http.client.RemoteDisconnected as exc:
            raise ConnectionError(f"no answer for Host {host}") from exc
        finally:
            conn.close()

    def stop(self, timeout: float = 90.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None

    def leftovers(self) -> list[int]:
        return processes_mentioning(str(self.root))

    def cleanup(self) -> list[int]:
        """Stop everything this instance started; the pids that had to be killed."""
        self.stop()
        strays = self.leftovers()
        if strays:
            kill_all(strays)
        shutil.rmtree(self.root, ignore_errors=True)
        return strays


def can_connect_as(user: str, path: Path) -> bool:
    """Whether local user `user` can connect to the unix socket at `path` (run as root)."""
    script = "import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"
    done = subprocess.run(
        ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--clear-groups",
         "/usr/bin/python3", "-c", script, str(path)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if done.returncode != 0 and "PermissionError" not in done.stderr:
        raise AssertionError(f"the connection attempt failed otherwise: {done.stderr}")
    return done.returncode == 0


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    """Poll `predicate` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or predicate}")
        time.sleep(0.05)


def serves(up: HostdUp, host: str, body: str) -> Callable[[], bool]:
    return lambda: up.get(host).body == body


def deployed_code(code: str, label: str, n: int) -> str:
    """The probe app's `code` answering "says (label)", as its n-th deploy: each n a
    byte longer. Python trusts a module's .pyc while the source's mtime (in whole
    seconds) and size match it, so two deploys within one second with sources of
    the same size would both run the first one's code."""
    return code.replace("says", f"says ({label})") + "#" * n + "\n"
