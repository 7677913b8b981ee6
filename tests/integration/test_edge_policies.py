"""Edge policies seen from a client of the real nginx: each one's effect, and bad values refused.

One `hostd up` serves the site `edge` with every policy for the whole module, the
way a new user would write them: an upload limit, redirects, basic authentication
on a prefix (users written by `hostd auth add`), a denied address, a rate limit,
an extra header, gzip of text and a WebSocket prefix.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import os
import socket
import stat
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import APPS, HostdUp, site_yaml

CSS = "body { color: black; }\n" * 200  # a text file well past gzip's minimum length


def edge_site(up: HostdUp, *, max_body: str = "1k") -> str:
    return site_yaml(
        ["edge.test", "www.edge.test"], root=APPS / "edge", wsgi="edgeapp:app",
        extra=f"""static:
  /assets/: {up.root / "assets"}
max_body: {max_body}
redirects:
  canonical: apex
  paths:
    /old: /new/
headers:
  X-Frame-Options: DENY
paths:
  /private/:
    basic_auth: true
  /blocked/:
    deny: [127.0.0.1]
  /limited/:
    rate_limit: {{rate: 1}}
  /ws/:
    websockets: {{timeout: 60}}
""",
    )  # fmt: skip


@pytest.fixture(scope="module")
def edge() -> Iterator[HostdUp]:
    up = HostdUp()
    try:
        (up.root / "assets").mkdir(parents=True)
        (up.root / "assets" / "style.css").write_text(CSS)
        up.write_site("edge", edge_site(up))
        up.start()
        yield up
    finally:
        print(up.log()[-5000:])
        strays = up.cleanup()
    assert not strays, f"processes left behind: {strays}"


def request(
    up: HostdUp,
    path: str,
    *,
    host: str = "edge.test",
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", up.port, timeout=10)
    conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def body_of(up: HostdUp, path: str, **kwargs: object) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", up.port, timeout=10)
    conn.request("GET", path, headers={"Host": "edge.test", **kwargs})  # type: ignore[arg-type]
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data, {k.lower(): v for k, v in response.getheaders()}


def test_a_body_past_max_body_gets_413_and_a_smaller_one_reaches_the_app(edge: HostdUp) -> None:
    assert request(edge, "/upload", method="POST", body=b"x" * 4096).status == 413
    assert request(edge, "/upload", method="POST", body=b"x" * 100).status == 200


def test_redirects_go_to_the_apex_and_to_the_new_path(edge: HostdUp) -> None:
    www = request(edge, "/page?q=1", host="www.edge.test")
    assert www.status == 301
    assert www.getheader("Location") == f"http://edge.test:{edge.port}/page?q=1"
    old = request(edge, "/old")
    assert old.status == 301
    assert old.getheader("Location") == f"http://edge.test:{edge.port}/new/"


def test_basic_auth_answers_401_without_and_200_with_the_user(edge: HostdUp) -> None:
    assert request(edge, "/private/x").status in (401, 500)  # no users yet: nobody gets in
    done = edge.hostd("auth", "add", "edge", "alice", "--stdin", check=False)
    assert done.returncode == 2, "a password comes from stdin or a terminal"
    added = subprocess_input(edge, "auth", "add", "edge", "alice", "--stdin", text="s3cret pw\n")
    assert added.returncode == 0, added.stderr
    file = edge.home / "state" / "auth" / "edge.htpasswd"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert "s3cret" not in file.read_text() and file.read_text().startswith("alice:$2b$")
    assert request(edge, "/private/x").status == 401
    wrong = base64.b64encode(b"alice:nope").decode()
    assert request(edge, "/private/x", headers={"Authorization": f"Basic {wrong}"}).status == 401
    right = base64.b64encode(b"alice:s3cret pw").decode()
    assert request(edge, "/private/x", headers={"Authorization": f"Basic {right}"}).status == 200
    assert request(edge, "/public").status == 200, "only the prefix asks for a user"
    assert edge.hostd("auth", "list", "edge", check=True).stdout == "alice\n"


def subprocess_input(up: HostdUp, *args: str, text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostd", *args, "--home", str(up.home)],
        input=text, capture_output=True, text=True, env=up.environ(), timeout=60,
    )  # fmt: skip


def test_a_denied_address_gets_403_elsewhere_it_is_served(edge: HostdUp) -> None:
    assert request(edge, "/blocked/x").status == 403
    assert request(edge, "/x").status == 200


def test_requests_past_the_rate_get_429(edge: HostdUp) -> None:
    statuses = [request(edge, "/limited/x").status for _ in range(6)]
    assert statuses[0] == 200 and 429 in statuses, statuses
    assert request(edge, "/x").status == 200, "the rest of the site has no limit"


def test_the_extra_header_and_gzip_of_text(edge: HostdUp) -> None:
    status, data, headers = body_of(edge, "/assets/style.css", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip"
    assert gzip.decompress(data).decode() == CSS
    assert headers.get("x-frame-options") == "DENY"
    status, data, headers = body_of(edge, "/assets/style.css")
    assert "content-encoding" not in headers and data.decode() == CSS


def test_a_websocket_upgrade_passes_through_nginx(edge: HostdUp) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", edge.port), timeout=10) as sock:
        sock.sendall(
            f"GET /ws/chat HTTP/1.1\r\nHost: edge.test\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        mask = os.urandom(4)
        message = b"hello"
        frame = bytes([0x81, 0x80 | len(message)]) + mask
        frame += bytes(b ^ mask[i % 4] for i, b in enumerate(message))
        sock.sendall(frame)
        reply = b""
        while len(reply) < 2 or len(reply) < 2 + reply[1]:
            chunk = sock.recv(64)
            assert chunk, "nginx closed the tunnel before the echo"
            reply += chunk
        assert struct.unpack("!B", reply[:1])[0] == 0x81
        assert reply[2 : 2 + reply[1]] == b"echo: hello"
    plain = request(edge, "/chat", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert plain.status == 200, "outside /ws/ the upgrade is not passed on"


@pytest.mark.parametrize(
    ("line", "key", "fragment"),
    [
        ("max_body: 20t", "max_body", "invalid max_body"),
        ("rate_limit: {rate: 0}", "rate_limit.rate", "at least 1"),
        ("hsts: {max_age: -1}", "hsts.max_age", "at least 0"),
        ("deny: [300.1.1.1]", "deny[0]", "invalid address"),
    ],
)
def test_a_bad_policy_is_refused_by_name_and_the_site_keeps_serving(
    edge: HostdUp, line: str, key: str, fragment: str
) -> None:
    good = edge_site(edge)
    path = edge.write_site("edge", good.replace("max_body: 1k\n", line + "\n"))
    try:
        done = edge.reload()
        assert done.returncode == 1, done.stdout + done.stderr
        lineno = good.splitlines().index("max_body: 1k") + 1
        assert f"{path}:{lineno}: {key}: " in done.stdout and fragment in done.stdout, done.stdout
        assert request(edge, "/x").status == 200
    finally:
        edge.write_site("edge", good)
        assert edge.reload().returncode == 0


def test_check_plan_and_reload_speak_versioned_json(edge: HostdUp) -> None:
    """--json of check, plan and reload: version 1, each site, a rejection's file/line/key."""
    bad = edge.write_site("bad", site_yaml(["bad.test"], extra="rate_limit: {rate: 0}\n"))
    try:
        check = edge.hostd("check", "--json")
        assert check.returncode == 1
        doc = json.loads(check.stdout)
        assert doc["version"] == 1 and doc["command"] == "check" and doc["ok"] is False
        [rejected] = [s for s in doc["sites"] if s["name"] == "bad"]
        assert rejected["error"] == {
            "file": str(bad), "line": 6, "key": "rate_limit.rate",
            "message": "rate must be at least 1, not 0",
        }  # fmt: skip
        plan = json.loads(edge.hostd("plan", "--json", check=True).stdout)
        assert plan["version"] == 1 and plan["command"] == "plan"
        assert {s["name"]: s["change"] for s in plan["sites"]} == {
            "bad": "rejected", "edge": "unchanged",
        }  # fmt: skip
        done = edge.hostd("reload", "--json")
        assert done.returncode == 1
        reload = json.loads(done.stdout)
        assert reload["version"] == 1 and reload["command"] == "reload"
        assert reload["ok"] is False and isinstance(reload["generation"], int)
        outcomes = {s["name"]: (s["outcome"], s["held"]) for s in reload["sites"]}
        assert outcomes == {"bad": ("rejected", False), "edge": ("unchanged", False)}
    finally:
        bad.unlink()


def test_hostd_new_writes_a_starter_file_that_points_at_the_schema(edge: HostdUp) -> None:
    folder = edge.root / "new"
    done = edge.hostd("new", "shop", "--sites", str(folder), check=True)
    text = (folder / "shop.yaml").read_text()
    schema = text.splitlines()[0].removeprefix("# yaml-language-server: $schema=")
    assert json.loads(Path(schema).read_text())["title"] == "hostd site file"
    assert "shop.localhost" in text and "wrote" in done.stdout
    assert edge.hostd("new", "shop", "--sites", str(folder)).returncode == 2, "never overwrites"
    printed = json.loads(edge.hostd("schema", check=True).stdout)
    assert printed == json.loads(Path(schema).read_text())


SECRET = 'tok-"7f3a9c" \\ $HOME;#x'  # quotes, a backslash, a dollar, ';' and '#'


def test_a_secret_reaches_the_app_and_appears_in_no_output_and_no_file(edge: HostdUp) -> None:
    """env_file: refused unless 0600/0640; the app gets the value; hostd never repeats it."""
    env = edge.sites / "vault.env"
    env.write_text(f"# secrets\nexport API_TOKEN='{SECRET}'\nOTHER=\"two\\nlines\"\n")
    env.chmod(0o644)
    site = edge.write_site(
        "vault", site_yaml(["vault.test"], root=APPS / "edge", wsgi="edgeapp:app",
                           extra="env_file: vault.env\n"),
    )  # fmt: skip
    outputs: list[str] = []
    try:
        refused = edge.reload()
        outputs.append(refused.stdout + refused.stderr)
        assert refused.returncode == 1
        assert f"{site}:6: env_file: {env} has mode 0644" in refused.stdout, refused.stdout
        env.chmod(0o600)
        done = edge.reload()
        assert done.returncode == 0 and "vault: added" in done.stdout, done.stdout
        expected = f"{hashlib.sha256(SECRET.encode()).hexdigest()} {len(SECRET.encode())}\n"
        assert edge.get("vault.test", "/secret").body == expected
        plan_text = edge.hostd("plan").stdout
        env.write_text(f"API_TOKEN='{SECRET}2'\nOTHER=x\n")
        plan = edge.hostd("plan")
        assert "vault: changed (program)" in plan.stdout, plan.stdout
        assert "API_TOKEN=<secret>" in plan.stdout
        changed = edge.reload()
        assert "vault: changed" in changed.stdout, changed.stdout
        assert edge.get("vault.test", "/secret").body.endswith(f" {len(SECRET.encode()) + 1}\n")
        outputs += [plan_text, plan.stdout, changed.stdout]
        outputs += [edge.hostd(*a).stdout for a in (("status", "--json"), ("check", "--json"),
                                                     ("plan", "--json"), ("status",))]  # fmt: skip
        outputs.append(edge.log())
        for text in outputs:
            assert SECRET not in text and "tok-" not in text
        holders = [
            path for path in edge.root.rglob("*")
            if path.is_file() and path != env and not path.is_socket()
            and b"tok-" in path.read_bytes()
        ]  # fmt: skip
        assert holders == [], "a secret value was written to a file"
        program = edge.home / "state" / "live" / "supervisor" / "programs" / "vault.conf"
        assert stat.S_IMODE(program.stat().st_mode) == 0o600, "generated env files stay 0600"
    finally:
        site.unlink()
        edge.reload()
        env.unlink()


def test_pause_serves_503_with_retry_after_across_a_restart_and_resume_brings_it_back(
    edge: HostdUp,
) -> None:
    """hostd pause: nginx answers 503 + Retry-After (status shows it); still after a
    restart of hostd; hostd resume: the app again."""
    message = 'Back at 5 <b>"soon"</b> $host \\ ; }'
    done = edge.hostd("pause", "edge", "--message", message)
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        status, data, headers = body_of(edge, "/anything")
        assert status == 503 and headers.get("retry-after") == "300"
        page = data.decode()
        assert "Back at 5 &lt;b&gt;&quot;soon&quot;&lt;/b&gt; &#36;host &#92; ; }" in page
        assert edge.status()["sites"]["edge"]["paused"] == message
        assert "paused (503 maintenance page)" in edge.hostd("status", check=True).stdout
        edge.stop()
        edge.start()
        assert body_of(edge, "/anything")[0] == 503, "the pause survives a restart"
    finally:
        resumed = edge.hostd("resume", "edge")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    status, data, _ = body_of(edge, "/anything")
    assert status == 200 and data == b"edge at /anything\n"
    assert edge.status()["sites"]["edge"]["paused"] is None
