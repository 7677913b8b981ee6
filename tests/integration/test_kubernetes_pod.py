"""The exported pod runs: an image built from the export's build context, played with
Debian's podman, serves the app and its static files with the site's env.

Tried as an operator without a registry would: the base image is made with
`debootstrap` from Debian's mirror (started as soon as the tests are collected, see
`early.py`) (python3, python3-venv, nginx-light) and imported;
the wheels of the frozen requirements are fetched by the host's pip and handed to the
build (`PIP_FIND_LINKS`, `PIP_NO_INDEX`, which the Containerfile accepts). Everything
podman stores lives in a temporary root of its own and is removed afterwards.

`local_pod` is the one transform of the real output, for a single machine: host
networking on free loopback ports (the app's `--bind`, and a copy of the static
container's nginx config mounted over the image's), and the Secret's values given
as `env` because Debian 12's podman 4.3 cannot read a Secret for `envFrom`.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hostd.cli import main

from . import early
from .harness import free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[2]
BASE = "localhost/hostd-test-base:bookworm"
TOOLS = ("podman", "runc", "catatonit", "debootstrap")
# podman as root keeps a blob-info cache here whatever its --root; removed if it made it
SYSTEM_CACHE = Path("/var/lib/containers/cache")


class Podman:
    """podman on a storage root of its own, with this machine's runtime settings."""

    def __init__(self, home: Path) -> None:
        self.home = home
        conf = home / "containers.conf"
        # runc: Debian 12's crun refuses hybrid cgroup hierarchies; no default ulimits:
        # podman's default open-files limit is above what an unprivileged host may set
        conf.write_text(
            '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n'
            'cgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        )
        self.env = {"CONTAINERS_CONF": str(conf), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        self.base = [
            "podman",
            "--root",
            str(home / "storage"),
            "--runroot",
            str(home / "run"),
            "--storage-driver",
            "overlay",
        ]

    def run(self, *args: str, stdin: bytes | None = None, timeout: float = 240) -> str:
        done = subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, env=self.env, timeout=timeout
        )
        output = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} (exit {done.returncode}): {output}")
        return output

    def cleanup(self) -> None:
        for args in (
            ["pod", "rm", "--all", "--force"],
            ["rmi", "--all", "--force"],
            ["system", "reset", "--force"],
        ):
            subprocess.run([*self.base, *args], capture_output=True, env=self.env, timeout=120)
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    missing = [tool for tool in TOOLS if shutil.which(tool, path="/usr/sbin:/usr/bin") is None]
    assert not missing, f"missing {missing}: ./dev test installs them from Debian"
    engine = Podman(Path(tempfile.mkdtemp(prefix="hostd-podman-")))
    made = [p for p in (SYSTEM_CACHE.parent, SYSTEM_CACHE) if not p.exists()]
    try:
        rootfs = early.DEBIAN_ROOTFS.folder() / "rootfs.tar"  # debootstrap, started early
        engine.run("import", str(rootfs), BASE)
        early.DEBIAN_ROOTFS.remove()
        try:
            engine.run("run", "--rm", "--network", "host", BASE, "true")
        except AssertionError as exc:
            pytest.skip(f"podman cannot run a container on this machine: {exc}")
        yield engine
    finally:
        early.DEBIAN_ROOTFS.remove()
        engine.cleanup()
        if made:
            shutil.rmtree(made[0], ignore_errors=True)


def local_pod(out: Path, site: str, app_port: int, static_port: int) -> dict[str, Any]:
    """The Deployment's pod of `site`, for one machine (see the module docstring)."""
    deployment = yaml.safe_load((out / "sites" / site / "deployment.yaml").read_text())
    secret = yaml.safe_load((out / "sites" / site / "secret.yaml").read_text())
    spec = deployment["spec"]["template"]["spec"]
    spec["hostNetwork"] = True
    app, static = spec["containers"]
    bind = app["command"].index("--bind") + 1
    app["command"][bind] = f"127.0.0.1:{app_port}"
    assert app.pop("envFrom") == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    app["env"] += [{"name": k, "value": v} for k, v in sorted(secret["stringData"].items())]
    conf = out / f"{site}-static.conf"
    text = (out / "build" / site / "static.conf").read_text()
    conf.write_text(text.replace("listen 8080;", f"listen 127.0.0.1:{static_port};"))
    conf.chmod(0o644)
    static["volumeMounts"] = [{"name": "local-static-conf", "mountPath": "/opt/site/static.conf"}]
    spec["volumes"] = [
        {"name": "local-static-conf", "hostPath": {"path": str(conf), "type": "File"}}
    ]
    for container in spec["containers"]:
        container.pop("readinessProbe")  # podman 4.3 does not act on readiness
        container.pop("ports")  # on the host's network the bind decides, not a mapping
    name = f"hostd-test-{site}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": deployment["spec"]["template"]["metadata"]["labels"]},
        "spec": spec,
    }


def get(port: int, path: str, host: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_the_exported_pod_serves_the_app_and_its_static_files(podman: Podman) -> None:
    out = podman.home / "export"
    assert (
        main(
            [
                "export",
                "--target",
                "kubernetes",
                "--out",
                str(out),
                "--sites",
                str(ROOT / "sites.d"),
                "--image-prefix",
                "localhost/hostd-test",
            ]
        )
        == 0
    )
    context = out / "build" / "blog"
    wheels = podman.home / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--only-binary",
            ":all:",
            "-d",
            str(wheels),
            "-r",
            str(context / "requirements.txt"),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    app_port, static_port = free_port(), free_port()
    pod = local_pod(out, "blog", app_port, static_port)
    image = pod["spec"]["containers"][0]["image"]
    podman.run(
        "build",
        "--network",
        "none",
        "--build-arg",
        f"BASE={BASE}",
        "--build-arg",
        "PIP_NO_INDEX=1",
        "--build-arg",
        "PIP_FIND_LINKS=/wheels",
        "--volume",
        f"{wheels}:/wheels:ro",
        "-t",
        image,
        str(context),
        timeout=300,
    )
    play = out / "pod.json"
    play.write_text(json.dumps(pod))
    podman.run("kube", "play", str(play))
    try:
        wait_until(lambda: get(app_port, "/", "blog.localhost")[0] == 200, 60, "the app")
        _, body = get(app_port, "/", "blog.localhost")
        assert b"The hostd blog" in body  # BLOG_TITLE, from the site's env via its Secret
        status, css = get(static_port, "/static/style.css", "blog.localhost")
        assert status == 200
        assert css == (ROOT / "examples/blog/blog/static/style.css").read_bytes()
        assert get(static_port, "/elsewhere", "blog.localhost")[0] == 404
        for container in ("app", "static"):  # the site's user, as the Deployment says
            users = podman.run("top", f"{pod['metadata']['name']}-{container}", "huser", "user")
            assert {line.split()[1] for line in users.splitlines()[1:]} == {"www-data"}, users
    except AssertionError:
        print(podman.run("pod", "logs", pod["metadata"]["name"]))
        raise
    finally:
        podman.run("kube", "down", str(play))
