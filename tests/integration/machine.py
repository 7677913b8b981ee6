"""A stand-in for a Debian machine's nginx and supervisord, below a temporary root.

System mode plugs into /etc/nginx and /etc/supervisor; these tests give it the
same files below a temporary folder (`hostd --root`), with a private nginx and
supervisord playing the machine's, on a free loopback port. Debian's default
site is there too, claiming default_server, as on a fresh install.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hostd.edges.process import kill_all, processes_mentioning
from hostd.edges.supervisor import XmlRpcSupervisor

from .harness import START_TIMEOUT, free_port

NGINX_CONF = """\
user www-data;
worker_processes 1;
pid {root}/run/nginx.pid;
error_log {root}/var/log/nginx/error.log notice;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {root}/var/log/nginx/access.log;
    client_body_temp_path {root}/var/lib/nginx/body;
    proxy_temp_path {root}/var/lib/nginx/proxy;
    fastcgi_temp_path {root}/var/lib/nginx/fastcgi;
    uwsgi_temp_path {root}/var/lib/nginx/uwsgi;
    scgi_temp_path {root}/var/lib/nginx/scgi;
    include {root}/etc/nginx/conf.d/*.conf;
    include {root}/etc/nginx/sites-enabled/*;
}}
"""

DEBIAN_DEFAULT_SITE = """\
server {{
    listen {listen}{port} default_server;{ipv6}
    server_name _;
    root {root}/var/www/html;
}}
"""

SUPERVISORD_CONF = """\
[unix_http_server]
file={root}/run/supervisor.sock
chmod=0700

[supervisord]
logfile={root}/var/log/supervisor/supervisord.log
pidfile={root}/run/supervisord.pid
childlogdir={root}/var/log/supervisor
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{root}/run/supervisor.sock

[include]
files = {root}/etc/supervisor/conf.d/*.conf
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@dataclass
class Machine:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hs-", dir="/tmp")))
    port: int = field(default_factory=free_port)
    nginx: subprocess.Popen[bytes] | None = None
    supervisord: subprocess.Popen[bytes] | None = None
    listen: str = "127.0.0.1"  # hostd.toml's http.listen

    @property
    def sites(self) -> Path:
        return self.root / "etc/hostd/sites.d"

    def boot(self) -> None:
        """Lay out the machine's configuration and start its nginx and supervisord."""
        self.root.chmod(0o755)
        root = self.root
        for folder in (
            "run",
            "var/log/nginx",
            "var/log/supervisor",
            "var/lib/nginx",
            "var/www/html",
        ):
            (root / folder).mkdir(parents=True, exist_ok=True)
        nginx_conf = _write(root / "etc/nginx/nginx.conf", NGINX_CONF.format(root=root))
        (root / "etc/nginx/conf.d").mkdir(parents=True)
        _write(
            root / "etc/nginx/sites-available/default",
            DEBIAN_DEFAULT_SITE.format(
                root=root,
                port=self.port,
                # on every address, Debian's own: IPv4 and IPv6
                listen="" if self.listen == "0.0.0.0" else f"{self.listen}:",
                ipv6=f"\n    listen [::]:{self.port} default_server;"
                if self.listen == "0.0.0.0"
                else "",
            ),
        )
        (root / "etc/nginx/sites-enabled").mkdir(parents=True)
        (root / "etc/nginx/sites-enabled/default").symlink_to("../sites-available/default")
        _write(root / "etc/supervisor/supervisord.conf", SUPERVISORD_CONF.format(root=root))
        (root / "etc/supervisor/conf.d").mkdir(parents=True)
        _write(
            root / "etc/hostd/hostd.toml",
            f'[http]\nlisten = "{self.listen}"\nport = {self.port}\nhttps_port = {free_port()}\n',
        )
        self.sites.mkdir(parents=True)
        self.nginx = subprocess.Popen(
            ["nginx", "-c", str(nginx_conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.start_supervisord()
        deadline = time.monotonic() + START_TIMEOUT
        while not (root / "run/nginx.pid").exists():
            assert time.monotonic() < deadline, "the stand-in nginx did not start"
            time.sleep(0.05)

    def start_supervisord(self) -> None:
        """Start the stand-in supervisord (again), as the machine's boot would."""
        supervisord = Path(sys.executable).parent / "supervisord"
        conf = self.root / "etc/supervisor/supervisord.conf"
        self.supervisord = subprocess.Popen(
            [str(supervisord), "-n", "-c", str(conf)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        rpc = XmlRpcSupervisor(self.root / "run/supervisor.sock")
        deadline = time.monotonic() + START_TIMEOUT
        while not rpc.is_running():
            assert time.monotonic() < deadline, "the stand-in supervisord did not start"
            time.sleep(0.05)

    def stop_supervisord(self) -> None:
        """Stop the stand-in supervisord and its programs, as a shutdown would."""
        if self.supervisord is not None and self.supervisord.poll() is None:
            self.supervisord.send_signal(signal.SIGTERM)
            self.supervisord.wait(60)

    def cleanup(self) -> list[int]:
        """Stop the stand-in daemons and everything below the root; what had to be killed."""
        if self.supervisord is not None and self.supervisord.poll() is None:
            self.supervisord.send_signal(signal.SIGTERM)
            self.supervisord.wait(60)
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            self.nginx.wait(30)
        strays = processes_mentioning(str(self.root))
        if strays:
            kill_all(strays)
        shutil.rmtree(self.root, ignore_errors=True)
        return strays
