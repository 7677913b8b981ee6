"""Any site the schema accepts renders to a configuration the real nginx and Supervisor take.

Hypothesis generates batches of sites (domains with IDNA, env, static prefixes,
workers, wsgi targets, health paths, tls with and without a certificate); each
batch is rendered into one generation in a temporary folder and checked once
with `nginx -t` and Supervisor's parser, then every server block is parsed and
must hold exactly the directives the template means, with the site's own values.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hostd.core.certificate import Certificate
from hostd.core.facts import HostFacts
from hostd.core.generation import Files, nginx_site_path
from hostd.core.layout import embedded_layout
from hostd.core.render import render_generation
from hostd.core.site import Site, Tls, parse_site
from hostd.edges.certstore import read_certificate
from hostd.edges.fs import write_atomic
from hostd.edges.host import prepare_site_folders
from hostd.edges.nginx import NginxProcess
from hostd.edges.runner import SubprocessRunner
from hostd.edges.supervisor import check_config
from hostd.errors import SiteError
from hostd.runtime.wiring import tool
from tests.unit.test_render import all_cases, case_site

from .harness import free_port
from .stress import self_signed

BUDGET = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SITES = Path("/srv/sites.d")

# -- accepted sites ---------------------------------------------------------------

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
UNICODE_LABEL = st.sampled_from(["bücher", "例え", "пример", "straße", "café", "ñandú"])
NAME = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)
IDENT = r"[A-Za-z_][A-Za-z0-9_]{0,8}"
WSGI = st.from_regex(rf"{IDENT}(\.{IDENT})?(:{IDENT}(\(\))?)?", fullmatch=True)
SEGMENT = st.from_regex(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,8}", fullmatch=True).filter(
    lambda s: s not in (".", "..")
)
PREFIX = st.lists(SEGMENT, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts) + "/")
FOLDER = st.lists(
    st.from_regex(r"[A-Za-z0-9_@+,=~-][A-Za-z0-9._@+,=~-]{0,10}", fullmatch=True),
    min_size=1, max_size=3,
).map(lambda parts: "/srv/" + "/".join(parts))  # fmt: skip
ENV_VALUE = st.text(
    st.characters(categories=["L", "N", "P", "S", "Zs"], exclude_characters="\"'"), max_size=20
).filter(lambda v: not re.search(r"\s[;#]|%\(here\)s", v))
HEALTH = st.from_regex(r"/[A-Za-z0-9._~/-]{0,12}(\?[A-Za-z0-9._~=&-]{0,8})?", fullmatch=True)


@st.composite
def site_files(draw: st.DrawFn, name: str) -> str:
    """The text of a site file the schema accepts, for site `name`."""
    domains = [
        ".".join([*draw(st.lists(LABEL | UNICODE_LABEL, min_size=0, max_size=3)), name, "test"])
        for _ in range(draw(st.integers(1, 4)))
    ]
    app: dict[str, object] = {
        "root": draw(FOLDER),
        "wsgi": draw(WSGI),
        "workers": draw(st.sampled_from(["auto", 1, 2, 64])),
        "env": draw(st.dictionaries(st.from_regex(IDENT, fullmatch=True), ENV_VALUE, max_size=3)),
    }
    if draw(st.booleans()):
        app["health"] = draw(HEALTH)
    if draw(st.booleans()):
        app["timeout"] = draw(st.integers(1, 3600))
        app["buffering"] = draw(st.booleans())
    static = draw(st.dictionaries(PREFIX, FOLDER, max_size=3))
    data = {
        "domains": list(dict.fromkeys(domains)),
        "app": app,
        "static": {p: f for p, f in static.items() if not p.startswith("/.well-known/")},
        "tls": draw(st.sampled_from(["off", "auto"])),
    }
    return json.dumps(data, ensure_ascii=False)  # JSON is YAML


@st.composite
def batches(draw: st.DrawFn) -> tuple[dict[str, Site], set[str]]:
    """Sites with distinct names and domains, and which `tls: auto` ones have a certificate."""
    names = draw(st.lists(NAME, min_size=1, max_size=12, unique=True))
    sites: dict[str, Site] = {}
    for name in names:
        try:
            sites[name] = parse_site(SITES / f"{name}.yaml", draw(site_files(name)))
        except SiteError:
            assume(False)  # e.g. an ASCII "xn--" label that is not valid punycode
    auto = sorted(n for n, s in sites.items() if s.tls is Tls.AUTO)
    with_cert = set(draw(st.lists(st.sampled_from(auto), unique=True))) if auto else set()
    return sites, with_cert


# -- reading nginx configuration back ---------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]


def tokens(text: str) -> list[str]:
    """nginx's tokens: words, quoted strings (unquoted), `;`, `{`, `}`; comments dropped."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif char in ";{}":
            out.append(char)
            i += 1
        elif char in "\"'":
            end = i + 1
            while text[end] != char:
                end += 2 if text[end] == "\\" else 1
            out.append(text[i + 1 : end])
            i = end + 1
        else:
            end = i
            while end < len(text) and not text[end].isspace() and text[end] not in ";{}":
                end += 1
            out.append(text[i:end])
            i = end
    return out


def directives(text: str) -> list[Directive]:
    """The directive tree of an nginx file."""
    stack: list[list[Directive]] = [[]]
    words: list[str] = []
    for token in tokens(text):
        if token == ";":
            stack[-1].append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            block: list[Directive] = []
            stack[-1].append(Directive(words[0], words[1:], block))
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        else:
            words.append(token)
    assert not words and len(stack) == 1, "unbalanced configuration"
    return stack[0]


SERVER = {"listen", "server_name", "access_log", "error_log", "client_max_body_size", "location"}
SERVER |= {"gzip", "gzip_vary", "gzip_proxied", "gzip_min_length", "gzip_types"}  # on by default
HTTPS = SERVER | {
    "ssl_certificate", "ssl_certificate_key", "ssl_protocols", "ssl_ecdh_curve", "ssl_ciphers",
    "ssl_prefer_server_ciphers", "ssl_session_timeout", "ssl_session_cache",
    "ssl_session_tickets", "add_header",
}  # fmt: skip
PROXY = {"proxy_pass", "proxy_set_header", "proxy_redirect", "proxy_read_timeout",
         "proxy_send_timeout"}  # fmt: skip
STATIC = {"alias", "expires"}
ACME = {"root", "default_type"}


def names(block: Directive) -> set[str]:
    return {d.name for d in block.block or []}


def assert_intended(site: Site, text: str, instance: HostFacts, cert: Certificate | None) -> None:
    """The server blocks of `site` hold exactly the template's directives, with its values."""
    top = directives(text)
    assert [d.name for d in top] == ["upstream", "server"] + (["server"] if cert else [])
    upstream, http = top[0], top[1]
    socket = instance.layout.site_socket(site.name)
    assert upstream.args == [f"hostd_{site.name}"]
    assert [(d.name, d.args) for d in upstream.block or []] == [
        ("server", [f"unix:{socket}", "fail_timeout=0"])
    ]
    served = [http] + ([top[2]] if cert else [])
    for server in served:
        assert names(server) <= (HTTPS if server is not http else SERVER)
        assert [d.args for d in server.all("server_name")] == [list(site.domains)]
        [listen] = server.all("listen")
        port = instance.https_port if server is not http else instance.http_port
        assert listen.args[0] == f"{instance.listen}:{port}"
    acme = ("^~", "/.well-known/acme-challenge/")
    app = {("^~", prefix) for prefix, _ in site.static} | {("/",)}
    http_locations = {tuple(d.args): d for d in http.all("location")}
    assert set(http_locations) == ({("/",)} if cert else app) | (
        {acme} if site.tls is Tls.AUTO else set()
    )
    if site.tls is Tls.AUTO:
        assert names(http_locations[acme]) == ACME
        assert http_locations[acme].all("root")[0].args == [str(instance.layout.acme_webroot)]
    if cert:
        redirect = http_locations[("/",)]
        assert [(d.name, d.args) for d in redirect.block or []] == [
            ("return", ["301", f"https://$host:{instance.https_port}$request_uri"])
        ]
        https = top[2]
        assert https.all("ssl_certificate")[0].args == [str(cert.fullchain)]
        assert https.all("ssl_certificate_key")[0].args == [str(cert.privkey)]
    app_locations = {tuple(d.args): d for d in (top[2] if cert else http).all("location")}
    assert set(app_locations) - {acme} == app
    for prefix, folder in site.static:
        assert names(app_locations[("^~", prefix)]) == STATIC
        assert app_locations[("^~", prefix)].all("alias")[0].args == [f"{folder}/"]
    unbuffered = set() if site.app.buffering else {"proxy_buffering"}
    assert names(app_locations[("/",)]) == PROXY | unbuffered
    timeout = f"{site.app.timeout + 5}s"
    assert app_locations[("/",)].all("proxy_read_timeout")[0].args == [timeout]
    assert app_locations[("/",)].all("proxy_pass")[0].args == [f"http://hostd_{site.name}"]


# -- the property -----------------------------------------------------------------


@dataclass
class Scratch:
    """A short folder under /tmp holding one candidate generation at a time."""

    root: Path
    certificate: Certificate

    def instance(self, certificates: dict[str, Certificate]) -> HostFacts:
        return HostFacts(
            layout=embedded_layout(self.root / "h"),
            http_port=free_port(),
            https_port=free_port(),
            config_root=self.root / "gen",
            certificates=certificates,
            nginx_user="root",
        )


@pytest.fixture(scope="module")
def scratch() -> Iterator[Scratch]:
    root = Path(tempfile.mkdtemp(prefix="hp-", dir="/tmp"))
    fullchain, _ = self_signed(root / "cert", ["property.test"])
    certificate = read_certificate(fullchain.parent)
    assert certificate is not None
    try:
        yield Scratch(root, certificate)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_with_real_daemons(scratch: Scratch, instance: HostFacts, files: Files) -> None:
    """Write `files` as a generation and have the real `nginx -t` and Supervisor's
    parser read it."""
    for rel, text in files.items():
        write_atomic(scratch.root / "gen" / rel, text, 0o600)
    layout = instance.layout
    nginx = NginxProcess(
        SubprocessRunner(), binary=tool("nginx"), prefix=layout.nginx_prefix,
        pid_file=layout.nginx_pid, error_log=layout.log_root / "nginx-error.log",
        address="127.0.0.1", port=instance.http_port,
    )  # fmt: skip
    nginx.check(scratch.root / "gen" / "nginx" / "nginx.conf")
    check_config(scratch.root / "gen" / "supervisor" / "supervisord.conf")


@BUDGET
@given(batch=batches())
def test_any_accepted_site_renders_a_config_nginx_and_supervisor_take(
    scratch: Scratch, batch: tuple[dict[str, Site], set[str]]
) -> None:
    """A batch of valid sites passes the real `nginx -t`; each block says only what it should."""
    sites, with_cert = batch
    instance = scratch.instance({name: scratch.certificate for name in with_cert})
    shutil.rmtree(scratch.root / "gen", ignore_errors=True)
    files = render_generation(sites, instance)
    prepare_site_folders(sites, instance)
    for folder in (instance.layout.run_dir, instance.layout.nginx_prefix / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)  # as `hostd up` prepares them
    check_with_real_daemons(scratch, instance, files)
    for name, site in sites.items():
        cert = instance.certificates.get(name)
        assert_intended(site, files[nginx_site_path(name)], instance, cert)


def test_every_golden_case_with_and_without_a_certificate_passes_the_real_nginx_check(
    scratch: Scratch,
) -> None:
    """The golden sites (edge policies, processes, secrets among them) pass `nginx -t` and
    Supervisor's parser, served over HTTP and with a certificate."""
    sites = {case: case_site(case) for case in all_cases()}
    for certificates in ({}, {name: scratch.certificate for name in sites}):
        instance = scratch.instance(certificates)
        shutil.rmtree(scratch.root / "gen", ignore_errors=True)
        files = render_generation(sites, instance)
        for folder in (instance.layout.run_dir, instance.layout.nginx_prefix / "tmp",
                       *(instance.layout.site_log_dir(n) for n in sites)):  # fmt: skip
            folder.mkdir(parents=True, exist_ok=True)
        check_with_real_daemons(scratch, instance, files)
