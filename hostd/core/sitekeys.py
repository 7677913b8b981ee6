"""The site file's keys, declared once: the parser reads them, the JSON Schema is made of them.

Each `Key` names a key path (`app.workers`; `*` stands for any key of a mapping,
`[]` for the items of a list), the YAML kinds it accepts, its bounds and its
documentation. `allowed(parent)` is what the parser refuses unknown keys against;
`read(field)` checks a value's kind, range, pattern and choices; `hostd.core.schema`
turns the same table into the published JSON Schema. A new key is one entry here.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from hostd.core.yamlnode import BOOL, FLOAT, INT, NULL, STR, Field

STRING, INTEGER, NUMBER, BOOLEAN, LIST, MAPPING = (
    "string",
    "integer",
    "number",
    "boolean",
    "list",
    "mapping",
)
_TAGS = {STRING: STR, INTEGER: INT, NUMBER: FLOAT, BOOLEAN: BOOL}
PREFIX = r"^/(?:[A-Za-z0-9._~-]+/)+$"
CIDR = (
    r"^(?:all|(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?:/[0-9]{1,2})?"
    r"|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(?:/[0-9]{1,3})?)$"
)
SIZE = r"^[1-9][0-9]{0,5}[kKmMgG]?$"
# `app.worker_class` -> gunicorn's --worker-class; the ASGI ones run `app.wsgi` as ASGI 3
WORKER_CLASSES = {
    "sync": "sync",
    "gthread": "gthread",
    "asgi": "asgi",  # gunicorn's own ASGI worker (gunicorn >= 24)
    "uvicorn": "uvicorn_worker.UvicornWorker",  # the uvicorn-worker package in the venv
}
ASGI_WORKERS = frozenset({"asgi", "uvicorn"})


@dataclass(frozen=True)
class Bound:
    """A whole-number key's default and its allowed range."""

    default: int
    low: int
    high: int


# the whole-number keys of `app:` that tune gunicorn (seconds for the timeouts)
APP_NUMBERS = {
    "threads": Bound(1, 1, 64),
    "timeout": Bound(30, 1, 3600),
    "graceful_timeout": Bound(25, 1, 3600),
    "max_requests": Bound(0, 0, 1_000_000),
    "max_requests_jitter": Bound(0, 0, 1_000_000),
}

MAX_BODY_BYTES = 10 * 1024**3


@dataclass(frozen=True)
class Key:
    path: str
    kinds: tuple[str, ...]
    doc: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # for strings; `$` for the end, as people write it
    choices: tuple[Any, ...] = ()
    required: bool = False
    key_pattern: str | None = None  # for `*` children: what their keys must look like

    @property
    def parent(self) -> str:
        return self.path.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]

    def read(self, value: Field) -> Any:
        """The value of `value` for this key, or a SiteError naming it."""
        kind = _kind_of(value)
        if kind == INTEGER and NUMBER in self.kinds and INTEGER not in self.kinds:
            kind = NUMBER
        if kind not in self.kinds:
            wanted = " or ".join(_WORDS[k] for k in self.kinds)
            raise value.error(f"expected {wanted}, got {value.describe()}")
        if kind in (LIST, MAPPING):
            return value
        raw = value.scalar()
        if self.choices and raw not in self.choices:
            shown = ", ".join(repr(c) for c in self.choices)
            raise value.error(f"{self.name} must be one of {shown}, not {raw!r}")
        if kind in (INTEGER, NUMBER):
            if self.minimum is not None and raw < self.minimum:
                raise value.error(f"{self.name} must be at least {_num(self.minimum)}, not {raw}")
            if self.maximum is not None and raw > self.maximum:
                raise value.error(f"{self.name} must be at most {_num(self.maximum)}, not {raw}")
        if kind == STRING and self.pattern and not re.match(_python(self.pattern), raw):
            raise value.error(f"invalid {self.name} {raw!r} (must match {self.pattern})")
        return raw


_WORDS = {
    STRING: "a string",
    INTEGER: "a whole number",
    NUMBER: "a number",
    BOOLEAN: "true or false",
    LIST: "a list",
    MAPPING: "a mapping",
}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _python(pattern: str) -> str:
    return pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern


def _kind_of(value: Field) -> str:
    if isinstance(value.node, yaml.MappingNode):
        return MAPPING
    if isinstance(value.node, yaml.SequenceNode):
        return LIST
    for kind, tag in _TAGS.items():
        if value.node.tag == tag:
            return kind
    return "null" if value.node.tag == NULL else "other"


def _any_case(name: str) -> str:
    """`name` as a pattern matching it in any case, without flags (JSON Schema has none)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in name)


_APP_KEYS = (
    Key("app", (MAPPING,), "How the app runs.", required=True),
    Key("app.root", (STRING,), "The app's folder (relative paths start at the site file's).",
        required=True),
    Key("app.wsgi", (STRING,), "The WSGI target: 'module:name' or 'module:factory()'.",
        required=True,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*(?::[A-Za-z_][A-Za-z0-9_.]*(\(.*\))?)?$"),
    Key("app.venv", (STRING, "null"), "The app's virtualenv; default: hostd's own gunicorn."),
    Key("app.workers", (INTEGER, STRING), "gunicorn workers: 'auto' (2 x cores + 1) or 1..64.",
        default="auto", pattern="^auto$", minimum=1, maximum=64),
    Key("app.env", (MAPPING,), "Environment variables of the app (strings or numbers)."),
    Key("app.env.*", (STRING, INTEGER, NUMBER), "One environment variable.",
        key_pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"),
    Key("app.user", (STRING, "null"), "System mode: the user the app runs as (www-data).",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$"),
    Key("app.health", (STRING, "null"), "A path hostd asks after a start, expecting 2xx/3xx.",
        pattern=r"^/[A-Za-z0-9._~/-]*(?:\?[A-Za-z0-9._~=&-]*)?$"),
    Key("app.worker_class", (STRING,), "gunicorn's worker: sync, gthread, or an ASGI worker "
        "(asgi: gunicorn's own; uvicorn: uvicorn-worker in the venv).", default="sync",
        choices=tuple(WORKER_CLASSES)),
    Key("app.threads", (INTEGER,), "Threads per worker (sync and gthread).",
        default=APP_NUMBERS["threads"].default, minimum=APP_NUMBERS["threads"].low,
        maximum=APP_NUMBERS["threads"].high),
    Key("app.timeout", (INTEGER,), "gunicorn's worker timeout in seconds; nginx's proxy "
        "timeouts are 5 s longer.", default=APP_NUMBERS["timeout"].default,
        minimum=APP_NUMBERS["timeout"].low, maximum=APP_NUMBERS["timeout"].high),
    Key("app.graceful_timeout", (INTEGER,), "Seconds workers get to finish on a restart.",
        default=APP_NUMBERS["graceful_timeout"].default,
        minimum=APP_NUMBERS["graceful_timeout"].low,
        maximum=APP_NUMBERS["graceful_timeout"].high),
    Key("app.max_requests", (INTEGER,), "Recycle a worker after this many requests (0: never).",
        default=APP_NUMBERS["max_requests"].default, minimum=APP_NUMBERS["max_requests"].low,
        maximum=APP_NUMBERS["max_requests"].high),
    Key("app.max_requests_jitter", (INTEGER,), "A random 0..N added to max_requests per worker.",
        default=APP_NUMBERS["max_requests_jitter"].default,
        minimum=APP_NUMBERS["max_requests_jitter"].low,
        maximum=APP_NUMBERS["max_requests_jitter"].high),
    Key("app.preload", (BOOLEAN,), "Load the app in gunicorn's master before forking.",
        default=False),
    Key("app.buffering", (BOOLEAN,), "false: nginx passes responses on as the app writes "
        "them (server-sent events, long downloads).", default=True),
)  # fmt: skip

_V1_KEYS = (
    Key("domains", (LIST,), "The site's domain names, 1 to 100.", required=True),
    Key("domains[]", (STRING,), "One domain name; internationalised names are allowed."),
    *_APP_KEYS,
    Key("static", (MAPPING,), "URL prefixes nginx serves straight from folders."),
    Key("static.*", (STRING,), "The folder for one prefix like /static/.", key_pattern=PREFIX),
    Key("tls", (STRING, BOOLEAN), "'auto': a Let's Encrypt certificate and HTTPS; 'off' "
        "(YAML reads a bare off as false).", default="off", choices=("off", "auto", False)),
)  # fmt: skip

_POLICY_KEYS = (
    Key("max_body", (STRING, INTEGER), "Largest request body, bytes or with k/m/g; "
        "larger ones get 413. Up to 10g.", default="10m", pattern=SIZE, minimum=1),
    Key("redirects", (MAPPING,), "Redirects nginx answers itself."),
    Key("redirects.canonical", (STRING,), "'apex' sends www.NAME to NAME, 'www' sends NAME "
        "to www.NAME.", choices=("apex", "www")),
    Key("redirects.code", (INTEGER,), "The status of every redirect of the site.", default=301,
        choices=(301, 302, 307, 308)),
    Key("redirects.paths", (MAPPING,), "Exact paths redirected to another path or URL."),
    Key("redirects.paths.*", (STRING,), "The target: a path or an http(s) URL.",
        pattern=r"^(?:https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?)?/[A-Za-z0-9._~/%!&()*+,=:@?-]*$",
        key_pattern=r"^/[A-Za-z0-9._~/-]*$"),
    Key("basic_auth", (MAPPING,), "HTTP basic authentication for the whole site; users are "
        "added with `hostd auth add SITE USER`."),
    Key("basic_auth.realm", (STRING,), "The realm browsers show.", default="Restricted",
        pattern=r"^[A-Za-z0-9 ._,:()-]{1,64}$"),
    Key("allow", (LIST,), "Only these addresses or networks may connect (others get 403)."),
    Key("allow[]", (STRING,), "An IPv4/IPv6 address or CIDR network, or 'all'.", pattern=CIDR),
    Key("deny", (LIST,), "These addresses or networks get 403."),
    Key("deny[]", (STRING,), "An IPv4/IPv6 address or CIDR network, or 'all'.", pattern=CIDR),
    Key("rate_limit", (MAPPING,), "Requests per second per client address; past it, 429."),
    Key("rate_limit.rate", (INTEGER,), "Requests per second.", required=True, minimum=1,
        maximum=100000),
    Key("rate_limit.burst", (INTEGER,), "Requests allowed above the rate at once.", default=0,
        minimum=0, maximum=100000),
    Key("headers", (MAPPING,), "Extra response headers, from an allow-list of names."),
    Key("headers.*", (STRING,), "A header value (printable, no quotes, '\\' or '$').",
        pattern=r"^[ !#%-\[\]-~]{1,1024}$",
        key_pattern="^(?:" + "|".join(_any_case(n) for n in (
            "Content-Security-Policy", "Content-Security-Policy-Report-Only",
            "Permissions-Policy", "Referrer-Policy", "X-Frame-Options",
            "X-Content-Type-Options", "X-Robots-Tag", "Cross-Origin-Opener-Policy",
            "Cross-Origin-Embedder-Policy", "Cross-Origin-Resource-Policy",
            "Access-Control-Allow-Origin", "Cache-Control")) + ")$"),
    Key("hsts", (MAPPING, BOOLEAN), "Strict-Transport-Security of TLS sites; false: none.",
        default=True),
    Key("hsts.max_age", (INTEGER,), "Seconds browsers remember HTTPS-only.", default=63072000,
        minimum=0, maximum=126144000),
    Key("hsts.include_subdomains", (BOOLEAN,), "Add includeSubDomains.", default=False),
    Key("hsts.preload", (BOOLEAN,), "Add preload.", default=False),
    Key("compression", (BOOLEAN,), "gzip for text types.", default=True),
    Key("websockets", (BOOLEAN, MAPPING), "Pass WebSocket upgrades to the app.", default=False),
    Key("websockets.timeout", (INTEGER,), "Idle seconds before nginx closes a connection.",
        default=3600, minimum=1, maximum=86400),
    Key("env_file", (STRING,), "A dotenv file of secrets (mode 0600 or 0640), beside this "
        "file or absolute; its values are never shown."),
    Key("release", (STRING,), "A command run once per new version before it goes live (e.g. "
        "`flask db upgrade`), in the app's root as its user with its env and venv; if it "
        "fails, the site stays at its live version."),
    Key("processes", (MAPPING,), "Worker processes run beside the app, by name: each a "
        "command line (a bare program name is the venv's)."),
    Key("processes.*", (STRING,), "The command of one process.",
        key_pattern=r"^[a-z][a-z0-9-]{0,30}$"),
    Key("paths", (MAPPING,), "Policies for URL prefixes like /admin/; under a prefix they "
        "replace the site's."),
    Key("paths.*", (MAPPING,), "The policies of one prefix.", key_pattern=PREFIX),
    Key("paths.*.basic_auth", (BOOLEAN,), "true: basic authentication here; false: none."),
    Key("paths.*.allow", (LIST,), "As `allow`, for this prefix."),
    Key("paths.*.allow[]", (STRING,), "An address, network or 'all'.", pattern=CIDR),
    Key("paths.*.deny", (LIST,), "As `deny`, for this prefix."),
    Key("paths.*.deny[]", (STRING,), "An address, network or 'all'.", pattern=CIDR),
    Key("paths.*.rate_limit", (MAPPING,), "As `rate_limit`, for this prefix."),
    Key("paths.*.rate_limit.rate", (INTEGER,), "Requests per second.", required=True,
        minimum=1, maximum=100000),
    Key("paths.*.rate_limit.burst", (INTEGER,), "Requests above the rate at once.", default=0,
        minimum=0, maximum=100000),
    Key("paths.*.websockets", (BOOLEAN, MAPPING), "As `websockets`, for this prefix; `false` turns "
        "them off here even where the site has them on."),
    Key("paths.*.websockets.timeout", (INTEGER,), "Idle seconds.", default=3600, minimum=1,
        maximum=86400),
    Key("paths.*.max_body", (STRING, INTEGER), "As `max_body`, for this prefix.",
        pattern=SIZE, minimum=1),
)  # fmt: skip

KEYS: tuple[Key, ...] = (*_V1_KEYS, *_POLICY_KEYS)
_BY_PATH = {key.path: key for key in KEYS}


_ALLOWED: dict[str, frozenset[str]] = {}  # by parent, as KEYS declare them now


def add(*keys: Key) -> None:
    """Declare more keys (a module that owns a key calls this at import)."""
    global KEYS
    KEYS = (*KEYS, *keys)
    _BY_PATH.update({key.path: key for key in keys})
    _ALLOWED.clear()


def spec(path: str) -> Key:
    """The declaration of the table path `path` (`paths.*.allow`, `domains[]`)."""
    return _BY_PATH[path]


def allowed(parent: str) -> frozenset[str]:
    """The keys a mapping at `parent` may hold ('' for the top); every site file asks
    for the same ones, so each answer is kept until more keys are declared."""
    if parent not in _ALLOWED:
        _ALLOWED[parent] = frozenset(
            key.name for key in KEYS if key.parent == parent and "[" not in key.name
        )
    return _ALLOWED[parent]


def read(value: Field, path: str) -> Any:
    """`value` checked against the declaration of the table path `path`."""
    return spec(path).read(value)
