"""The read-only views say what the apply sees; healing, secrets, pauses and
prefixes behave the same everywhere. Each against a real `hostd up`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import sysconfig
import venv
from pathlib import Path
from typing import Any

import gunicorn

from .harness import APPS, HostdUp, serves, site_yaml, wait_until

ALPHA, BETA = "alpha says hello\n", "beta says hello\n"


def two_sites(up: HostdUp) -> None:
    up.write_site("alpha", site_yaml(["alpha.test"]))
    up.write_site("beta", site_yaml(["beta.test"]))
    up.start()


def plan_and_check(up: HostdUp) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """`plan`, `plan --json`, `check`, `check --json`, each exiting 1 (a problem)."""
    texts: list[str] = []
    documents: list[dict[str, Any]] = []
    for command in ("plan", "check"):
        text = up.hostd(command)
        document = up.hostd(command, "--json")
        assert text.returncode == 1 and document.returncode == 1, text.stdout + text.stderr
        texts.append(text.stdout)
        documents.append(json.loads(document.stdout))
    return texts[0], documents[0], texts[1], documents[1]


def test_plan_and_check_on_a_missing_or_emptied_folder_remove_nothing(instance: HostdUp) -> None:
    """A sites folder renamed away, replaced by a file, or by an empty folder: plan
    and check say so and show no live site as removed, as the apply would; with
    `.no-sites`, or files deleted from the folder itself, plan shows the removal."""
    up = instance
    two_sites(up)
    away = up.root / "sites.away"
    os.rename(up.sites, away)
    for problem, replace in (("is missing", None), ("is not a folder", "file"),
                             ("has no site files", "folder")):  # fmt: skip
        if replace == "file":
            up.sites.write_text("not a folder\n")
        elif replace == "folder":
            up.sites.unlink()
            up.sites.mkdir()
        plan, plan_doc, check, check_doc = plan_and_check(up)
        assert f"sites folder: the sites folder {up.sites} {problem}" in plan, plan
        assert "removed" not in plan and "nothing to change" in plan, plan
        assert "alpha: unchanged" in plan and "beta: unchanged" in plan, plan
        assert problem in str(plan_doc["sites_folder"]) and plan_doc["empty"] is True
        assert all(entry["change"] == "unchanged" for entry in plan_doc["sites"])
        assert f"sites folder: the sites folder {up.sites} {problem}" in check, check
        assert problem in str(check_doc["sites_folder"]) and check_doc["ok"] is False
        assert up.get("alpha.test").body == ALPHA
    assert ".no-sites" in plan, "the way to remove the last site is named"
    (up.sites / ".no-sites").touch()
    plan_text = up.hostd("plan")
    assert plan_text.returncode == 0, plan_text.stdout + plan_text.stderr
    assert "alpha: removed" in plan_text.stdout and "beta: removed" in plan_text.stdout
    assert up.hostd("check").returncode == 0
    (up.sites / ".no-sites").unlink()
    up.sites.rmdir()
    os.rename(away, up.sites)
    (up.sites / "beta.yaml").unlink()
    plan_text = up.hostd("plan", check=True)
    assert "beta: removed" in plan_text.stdout and "alpha: unchanged" in plan_text.stdout
    assert "sites folder" not in plan_text.stdout
    up.reload()
    (up.sites / "alpha.yaml").unlink()
    plan_text = up.hostd("plan", check=True)
    assert "alpha: removed" in plan_text.stdout, "the last file deleted from its own folder"


def test_status_reports_what_state_healing_skipped_until_the_next_clean_start(
    instance: HostdUp,
) -> None:
    """A dangling `state/live` and a damaged newest generation, then a restart: `hostd
    status` (text and JSON) says what was healed; after a clean restart it no longer does."""
    up = instance
    two_sites(up)
    up.reload()  # a second generation
    assert up.stop() == 0
    state = up.home / "state"
    newest = max((state / "generations").iterdir(), key=lambda p: int(p.name))
    (newest / "manifest.json").write_text('{"id": 1, "files": [')
    os.remove(state / "live")
    os.symlink("generations/000777", state / "live")
    up.start()
    assert up.get("alpha.test").body == ALPHA
    healed = up.status()["healed"]
    assert len(healed) == 1, healed
    detail = healed[0]["detail"]
    assert "000777" in detail and f"skipped generation {newest.name} is damaged" in detail
    assert any(detail in warning for warning in up.status()["warnings"])
    text = up.hostd("status", check=True).stdout
    assert "warning: state healed at " in text and "000777" in text, text
    assert up.stop() == 0
    up.start()
    assert up.status()["healed"] == [], "a clean start has nothing healed"
    assert "state healed" not in up.hostd("status", check=True).stdout


GUNICORN_SCRIPT = """\
#!{python}
import os, sys
if "--version" in sys.argv:
    with open({marker!r}, "a") as marker:
        marker.write(f"{{os.getuid()}} {{sys.argv}}\\n")
from gunicorn.app.wsgiapp import run
sys.exit(run())
"""


def test_a_site_venv_without_gunicorn_metadata_is_never_run_to_learn_its_version(
    instance: HostdUp,
) -> None:
    """A site venv whose gunicorn has no package metadata: hostd reads the version
    from gunicorn's source as text (the program gets --control-socket, which this
    gunicorn takes) and never runs the venv's `gunicorn --version`."""
    up = instance
    site_venv = up.root / "venv"
    venv.create(site_venv, with_pip=False)
    purelib = Path(sysconfig.get_paths(vars={"base": str(site_venv)})["purelib"])
    shutil.copytree(Path(gunicorn.__file__).parent, purelib / "gunicorn")  # no dist-info
    (purelib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    marker = up.root / "version-runs"
    script = site_venv / "bin" / "gunicorn"
    script.write_text(GUNICORN_SCRIPT.format(python=site_venv / "bin" / "python",
                                             marker=str(marker)))  # fmt: skip
    script.chmod(0o755)
    assert gunicorn.version_info >= (25, 1), "this gunicorn takes --control-socket"
    up.write_site("alpha", site_yaml(["alpha.test"]) + f"  venv: {site_venv}\n")
    up.start()
    assert up.get("alpha.test").body == ALPHA
    up.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "again"})
                  + f"  venv: {site_venv}\n")  # fmt: skip
    assert "alpha: changed" in up.reload().stdout
    assert up.hostd("plan").returncode == 0
    program = (up.home / "state" / "live" / "supervisor" / "programs" / "alpha.conf").read_text()
    assert f"{script} " in program and "--control-socket" in program, program
    assert not marker.exists(), marker.read_text()


def write_env(path: Path, value: str, *, in_place: bool = False) -> None:
    """The env file as an editor saves it: in place, or a new file renamed over it."""
    text = f"GREETING='{value}'\n"
    if in_place:
        path.write_text(text)
        return
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)


def test_a_changed_env_file_is_applied_by_the_watcher_and_its_values_are_shown_nowhere(
    instance: HostdUp,
) -> None:
    """Env files beside the site files and in a folder of their own: written in place
    or replaced, the watcher applies them like a site file; no output or log of hostd
    repeats a value."""
    up = instance
    up.watch = True
    secrets = up.root / "secrets"
    secrets.mkdir()
    up.sites.mkdir()
    beside, elsewhere = up.sites / "alpha.env", secrets / "beta.env"
    values = ["s3cr3t-one", "s3cr3t-two", "s3cr3t-three", "s3cr3t-four"]
    for path in (beside, elsewhere):
        write_env(path, values[0])
        path.chmod(0o600)
    up.write_site("alpha", site_yaml(["alpha.test"], extra="env_file: alpha.env\n"))
    up.write_site("beta", site_yaml(["beta.test"], extra=f"env_file: {elsewhere}\n"))
    up.start()
    assert up.get("alpha.test").body == f"alpha says {values[0]}\n"
    for value, in_place in ((values[1], False), (values[2], True)):
        for path in (beside, elsewhere):
            write_env(path, value, in_place=in_place)
        for site in ("alpha", "beta"):
            wait_until(serves(up, f"{site}.test", f"{site} says {value}\n"), timeout=30,
                       what=f"{site}'s env file applied by the watcher")  # fmt: skip
    elsewhere.chmod(0o644)  # refused: beta keeps its last good version
    wait_until(lambda: "has mode 0644" in str(up.status()["sites"]["beta"]["error"]),
               timeout=30, what="the refused mode reported")  # fmt: skip
    write_env(elsewhere, values[3])
    wait_until(serves(up, "beta.test", f"beta says {values[3]}\n"), timeout=30,
               what="the env file fixed")  # fmt: skip
    outputs = [up.log(), (up.home / "log" / "hostd.log").read_text()]
    outputs += [up.hostd(*a).stdout for a in (("status", "--json"), ("status",), ("plan",),
                                              ("plan", "--json"), ("check", "--json"))]  # fmt: skip
    outputs += [p.read_text() for p in (up.home / "log").rglob("hostd.log")]
    for text in outputs:
        assert not any(value in text for value in values), text


def test_pausing_a_site_whose_file_is_invalid_pauses_its_last_good_version(
    instance: HostdUp,
) -> None:
    """alpha's file broken after it went live: `hostd pause alpha` serves the 503 page
    in front of the held version, status says so; `hostd resume` serves it again; the
    file stays refused by name throughout."""
    up = instance
    two_sites(up)
    up.write_site("alpha", site_yaml(["alpha.test"], extra="colour: blue\n"))
    done = up.hostd("pause", "alpha", "--message", "Back soon")
    assert done.returncode == 1 and "colour" in done.stdout, done.stdout + done.stderr
    response = up.get("alpha.test")
    assert response.status == 503 and "Back soon" in response.body, response
    assert up.get("beta.test").body == BETA
    entry = up.status()["sites"]["alpha"]
    assert entry["paused"] == "Back soon" and "colour" in str(entry["error"]), entry
    plan = up.hostd("plan").stdout
    assert "alpha: rejected" in plan and "nothing to change" in plan, plan
    up.stop()
    up.start()
    assert up.get("alpha.test").status == 503, "the pause of the held version survives"
    done = up.hostd("resume", "alpha")
    assert done.returncode == 1, done.stdout + done.stderr
    assert up.get("alpha.test").body == ALPHA
    assert up.status()["sites"]["alpha"]["paused"] is None


def upgrade_answer(up: HostdUp, path: str) -> bytes:
    """The status line nginx answers a WebSocket upgrade request for `path` with."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", up.port), timeout=10) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(1)
            assert chunk, "nginx closed without an answer"
            head += chunk
    return head.strip()


def test_websockets_false_under_a_prefix_turns_them_off_there(instance: HostdUp) -> None:
    """`websockets: true` for the site and `false` under /plain/: the upgrade passes
    everywhere but there, where the app answers plain HTTP."""
    up = instance
    up.write_site("ws", site_yaml(["ws.test"], root=APPS / "edge", wsgi="edgeapp:app",
                                  extra="websockets: true\npaths:\n  /plain/:\n"
                                        "    websockets: false\n"))  # fmt: skip
    up.start()
    assert upgrade_answer(up, "/chat").startswith(b"HTTP/1.1 101"), "on for the site"
    assert upgrade_answer(up, "/plain/chat") == b"HTTP/1.1 200 OK", "off under /plain/"
    assert up.get("ws.test", "/plain/x").body == "ws at /plain/x\n"
