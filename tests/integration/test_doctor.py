"""`hostd doctor` against a real instance, as an operator watching a box would run it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rrset
import pytest

from hostd.core.facts import HostFacts
from hostd.core.layout import system_layout
from hostd.core.render import templates_dir
from hostd.core.site import parse_site
from hostd.edges.nginx import read_pid
from hostd.queries.doctor import app_root_refusals
from tests.integration.harness import HostdUp, serves, site_yaml, wait_until
from tests.integration.machine import Machine
from tests.integration.test_system import ROOT_USER, Watch, app_copy, get, write_site


class Zone:
    """A DNS server on loopback answering A queries from `records` (else NXDOMAIN):
    what the domains of the test point to, without asking any resolver beyond it."""

    def __init__(self, records: dict[str, str]) -> None:
        self.records = records
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            answer = dns.message.make_response(query)
            name = query.question[0].name.to_text().rstrip(".")
            if name in self.records:
                answer.answer.append(dns.rrset.from_text(f"{name}.", 60, "IN", "A",
                                                         self.records[name]))  # fmt: skip
            else:
                answer.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(answer.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def zone() -> Iterator[Zone]:
    server = Zone({"secure.test": "127.0.0.1", "far.test": "192.0.2.7"})
    try:
        yield server
    finally:
        server.close()


def checks(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in json.loads(done.stdout)["checks"]}


def test_doctor_on_a_running_instance_its_limits_its_tls_domains_and_hostd_stopped(
    instance: HostdUp, zone: Zone
) -> None:
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.write_site("secure", site_yaml(["secure.test", "far.test", "gone.test"],
                                            extra="tls: auto\n"))  # fmt: skip
    instance.home.mkdir(parents=True, exist_ok=True)
    # nothing listens at the CA's address: certbot fails at once, nothing leaves loopback
    (instance.home / "hostd.toml").write_text(
        "[workers]\nmax_total = 4\n"
        f'[acme]\nserver = "https://127.0.0.1:9/dir"\nresolver = "127.0.0.1:{zone.port}"\n'
        "preflight = false\n"
    )
    instance.start()
    wait_until(serves(instance, "alpha.test", "alpha says hello\n"), what="alpha")
    wait_until(serves(instance, "beta.test", "beta says hello\n"), what="beta")

    done = instance.hostd("doctor", "--json")
    report = checks(done)
    clock = report.pop("clock")["level"]
    domains = {name: report.pop(f"domain: {name}") for name in ("secure.test", "far.test",
                                                                "gone.test")}  # fmt: skip
    assert {name: c["level"] for name, c in report.items() if c["level"] != "ok"} == {}
    assert done.returncode == 1  # the domains
    assert report["hostd daemon"]["summary"].startswith("running (pid")
    assert (
        report[f"port {instance.port}"]["summary"]
        == f"port {instance.port} is served by this nginx"
    )
    assert "version" in report["nginx"]["summary"] and "version" in report["supervisord"]["summary"]
    assert report["app root: alpha"]["level"] == "ok"
    # three sites of one worker each: 3 workers and 3 masters, all six running
    assert (
        "3 site(s) run 3 worker(s) and 3 master(s): 6 processes (6 running"
        in (report["gunicorn processes"]["summary"])
    )
    assert report["gunicorn worker cap"]["summary"] == "3 of 4 workers used"
    assert clock in ("ok", "warning")
    assert domains["secure.test"]["level"] == "ok"
    assert "secure's server block answers" in domains["secure.test"]["summary"]
    assert domains["far.test"]["summary"] == "far.test points to 192.0.2.7, not to this machine"
    assert domains["gone.test"]["summary"] == "gone.test does not resolve"
    assert not list((instance.home / "acme/.well-known/acme-challenge").iterdir())  # no token left

    # the running nginx is left with 16 open files: too few for 3 sites' logs
    pid = read_pid(instance.home / "run" / "nginx.pid")
    assert pid is not None
    subprocess.run(["prlimit", f"--pid={pid}", "--nofile=16:16"], check=True)
    done = instance.hostd("doctor")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "problem: open files: nginx: nginx may open 16 files; 3 site(s) need 70" in done.stdout
    assert "fix: raise the hard limit of open files" in done.stdout
    assert "ok: open files: supervisord" in done.stdout

    instance.stop()
    stopped = checks(instance.hostd("doctor", "--json"))["hostd daemon"]
    assert stopped["level"] == "problem" and stopped["fix"] == "start it: hostd up"
    assert stopped["summary"].startswith("not running")


def test_doctor_render_validates_every_site_and_leaves_the_live_generation(
    instance: HostdUp, tmp_path: Path
) -> None:
    """After an upgrade whose templates nginx refuses for one site: that site is named."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.write_site("broken", "domains: [broken.test\n")
    instance.start()
    live = os.readlink(instance.home / "state" / "live")

    done = instance.hostd("doctor", "--render")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ok: render: alpha: renders, and nginx -t and Supervisor take it" in done.stdout
    assert "ok: render: beta:" in done.stdout
    assert "problem: render: broken:" in done.stdout  # the file itself

    templates = tmp_path / "templates"
    shutil.copytree(templates_dir(), templates)
    site = templates / "site.conf.j2"
    site.write_text(site.read_text().replace(
        "proxy_redirect off;",
        "{% if site.name == 'beta' %}proxy_redirect;{% else %}proxy_redirect off;{% endif %}",
    ))  # fmt: skip
    instance.write_site("broken", site_yaml(["broken.test"]))
    instance.env["HOSTD_TEMPLATES"] = str(templates)
    report = checks(instance.hostd("doctor", "--render", "--json"))
    del instance.env["HOSTD_TEMPLATES"]
    assert report["render: beta"]["level"] == "problem"
    assert "proxy_redirect" in report["render: beta"]["summary"]
    assert report["render: alpha"]["level"] == report["render: broken"]["level"] == "ok"

    assert os.readlink(instance.home / "state" / "live") == live
    assert not list((instance.home / "state").glob("render-*"))
    assert instance.get("beta.test").body == "beta says hello\n"
    with pytest.raises(ConnectionError):  # never went live: hostd's catch-all closes
        instance.get("broken.test")


@pytest.mark.skipif(os.geteuid() != 0, reason="system mode runs programs as their user")
def test_doctor_in_system_mode_checks_the_hooks_and_names_a_directive_set_twice() -> None:
    machine = Machine()
    watch = Watch(machine)
    try:
        machine.boot()
        app = app_copy(machine)
        write_site(machine, "alpha", site_yaml(["alpha.test"], root=app) + ROOT_USER)
        watch.start()
        wait_until(lambda: get(machine, "alpha.test") == "alpha says hello\n", what="alpha")
        report = checks(watch.hostd("doctor", "--json"))
        for check in ("nginx hook", "nginx hook conflict", "Supervisor hook", "app root: alpha",
                      "sites folder", "hostd daemon", f"port {machine.port}"):  # fmt: skip
            assert report[check]["level"] == "ok", report[check]

        # the admin sets a hash size hostd's live include sets too: the next reload of
        # nginx would fail
        conf = machine.root / "etc/nginx/nginx.conf"
        conf.write_text(conf.read_text().replace(
            "http {\n", "http {\n    server_names_hash_bucket_size 128;\n"))  # fmt: skip
        (machine.root / "etc/nginx/conf.d/hostd.conf").unlink()
        done = watch.hostd("doctor", "--json")
        assert done.returncode == 1
        report = checks(done)
        conflict = report["nginx hook conflict"]
        assert conflict["level"] == "problem"
        assert conflict["summary"].startswith(f"{conf} sets server_names_hash_bucket_size")
        hook = report["nginx hook"]
        assert hook["level"] == "problem" and hook["summary"].endswith(
            "is missing: nginx does not serve hostd's sites"
        )
    finally:
        watch.stop()
        strays = machine.cleanup()
        assert not strays, f"processes left behind: {strays}"


@pytest.mark.skipif(os.geteuid() != 0, reason="asks as root what another user may enter")
def test_an_app_folder_its_user_cannot_enter_is_a_problem_naming_the_folder() -> None:
    """A site's app below a Debian 12 home (0700): www-data cannot enter it."""
    top = Path(tempfile.mkdtemp(prefix="hd-", dir="/tmp"))
    try:
        home = top / "ann"
        (home / "app").mkdir(parents=True)
        home.chmod(0o700)
        top.chmod(0o755)
        layout = system_layout(top / "root")
        text = f"domains: [a.test]\napp:\n  root: {home / 'app'}\n  wsgi: a:app\n"
        sites = {"a": parse_site(layout.sites_dir / "a.yaml", text)}
        refusal = app_root_refusals(sites, HostFacts(layout=layout))["a"]
        assert refusal is not None
        assert refusal.startswith(f"user 'www-data' cannot enter {home} (drwx------ root)")
        home.chmod(0o711)
        assert app_root_refusals(sites, HostFacts(layout=layout)) == {"a": None}
    finally:
        shutil.rmtree(top)
