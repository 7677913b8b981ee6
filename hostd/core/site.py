"""The site schema (v1): parsing and validating one site file into a `Site`.

Pure: takes the file's name and text, touches nothing. Every rejected value is a
`SiteError` naming the line and the key path; the loader adds the file. Values
that reach a template are validated here (no quoting, no injection), so the
renderer can trust them.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from hostd.core import sitekeys
from hostd.core.dotenv import SECRET
from hostd.core.factory import factory_call_problem
from hostd.core.layout import SAFE_PATH
from hostd.core.policies import Policies, parse_policies, policies_from_dict
from hostd.core.processes import parse_processes, parse_release
from hostd.core.sitekeys import APP_NUMBERS, ASGI_WORKERS, WORKER_CLASSES, Bound
from hostd.core.static_rule import system_refusal
from hostd.core.yamlnode import Field, compose
from hostd.errors import SiteError

# \Z, not $: `$` also matches before a final newline ("x\n.com" would pass)
SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_WSGI_PART = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
WSGI_TARGET = re.compile(rf"^{_WSGI_PART}(?::{_WSGI_PART}(\(\))?)?\Z")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\Z")
HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*(?:\?[A-Za-z0-9._~=&-]*)?\Z")
STATIC_PREFIX = re.compile(r"^/(?:[A-Za-z0-9._~-]+/)+\Z")
MAX_WORKERS = 64
APP_TUNING_KEYS = {"worker_class", "preload", "buffering", *APP_NUMBERS}
MAX_DOMAINS = 100
SITE_SUFFIXES = (".yaml", ".yml")


class Tls(enum.Enum):
    OFF = "off"
    AUTO = "auto"


@dataclass(frozen=True)
class App:
    root: Path
    wsgi: str
    venv: Path | None = None
    workers: int | None = None  # None means auto
    env: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    health: str | None = None
    worker_class: str = "sync"
    threads: int = APP_NUMBERS["threads"].default
    timeout: int = APP_NUMBERS["timeout"].default
    graceful_timeout: int = APP_NUMBERS["graceful_timeout"].default
    max_requests: int = APP_NUMBERS["max_requests"].default
    max_requests_jitter: int = APP_NUMBERS["max_requests_jitter"].default
    preload: bool = False
    buffering: bool = True  # nginx buffers responses; off for streams and server-sent events

    @property
    def is_factory_call(self) -> bool:
        return self.wsgi.endswith(")")

    @property
    def is_asgi(self) -> bool:
        return self.worker_class in ASGI_WORKERS


@dataclass(frozen=True)
class Site:
    name: str
    file: Path
    domains: tuple[str, ...]
    app: App
    static: tuple[tuple[str, Path], ...] = ()
    tls: Tls = Tls.OFF
    policies: Policies = field(default_factory=Policies)
    # secrets (`env_file:`): the file, and once the loader has read it, its variables'
    # names and a digest of its content; the values never enter a Site
    env_file: Path | None = None
    secret_names: tuple[str, ...] = ()
    secret_digest: str | None = None
    paused: str | None = None  # `hostd pause`: the maintenance message; None: serving
    processes: tuple[tuple[str, str], ...] = ()  # worker processes: name, command
    release: str | None = None  # run once per new version before it goes live
    # line of each key path, for errors found after parsing; not part of identity
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def line(self, key: str) -> int | None:
        return self.lines.get(key)

    def app_tuning(self) -> dict[str, Any]:
        app = self.app
        numbers = {key: getattr(app, key) for key in APP_NUMBERS}
        flags = {"preload": app.preload, "buffering": app.buffering}
        return {"worker_class": app.worker_class, **numbers, **flags}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, the inverse of `site_from_dict`."""
        return {
            "name": self.name,
            "file": str(self.file),
            "domains": list(self.domains),
            "app": {
                "root": str(self.app.root),
                "wsgi": self.app.wsgi,
                "venv": str(self.app.venv) if self.app.venv else None,
                "workers": self.app.workers,
                "env": dict(self.app.env),
                "user": self.app.user,
                "health": self.app.health,
                **self.app_tuning(),
            },
            "static": {prefix: str(folder) for prefix, folder in self.static},
            "tls": self.tls.value,
            "policies": self.policies.to_dict(),
            "env_file": str(self.env_file) if self.env_file else None,
            "secrets": {name: SECRET for name in self.secret_names},
            "secret_digest": self.secret_digest,
            "paused": self.paused,
            "processes": dict(self.processes),
            "release": self.release,
        }


def site_from_dict(data: Mapping[str, Any]) -> Site:
    app = data["app"]
    return Site(
        name=data["name"],
        file=Path(data["file"]),
        domains=tuple(data["domains"]),
        app=App(
            root=Path(app["root"]),
            wsgi=app["wsgi"],
            venv=Path(app["venv"]) if app.get("venv") else None,
            workers=app.get("workers"),
            env=tuple(sorted(app.get("env", {}).items())),
            user=app.get("user"),
            health=app.get("health"),
            **_tuning_from_dict(app),
        ),
        static=tuple(sorted((p, Path(f)) for p, f in data.get("static", {}).items())),
        tls=Tls(data.get("tls", "off")),
        policies=policies_from_dict(data.get("policies")),
        env_file=Path(data["env_file"]) if data.get("env_file") else None,
        secret_names=tuple(sorted(data.get("secrets", {}))),
        secret_digest=data.get("secret_digest"),
        paused=data.get("paused"),
        processes=tuple(sorted(data.get("processes", {}).items())),
        release=data.get("release"),
    )


def _tuning_from_dict(app: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {key: app[key] for key in APP_NUMBERS if key in app}
    for key in ("worker_class", "preload", "buffering"):
        if key in app:
            out[key] = app[key]
    return out


def is_site_file(path: Path) -> bool:
    """True for `name.yaml`/`name.yml`; false for dotfiles and editor temporaries."""
    return path.suffix in SITE_SUFFIXES and not path.name.startswith((".", "#", "~"))


def shown(pattern: re.Pattern[str]) -> str:
    """A pattern as people write it: `$` for the end."""
    return pattern.pattern.replace("\\Z", "$")


def site_name(file: Path) -> str:
    """The site name a file defines: its stem, which must be a valid name."""
    name = file.stem
    if not SITE_NAME.match(name):
        raise SiteError(
            f"bad site name {name!r}: the file name must match {shown(SITE_NAME)} "
            "(lowercase letters, digits and '-', at most 63)",
            file=file,
        )
    return name


def parse_site(file: Path, text: str) -> Site:
    """The site that `text` (the content of `file`) defines, or a SiteError."""
    try:
        return _parse(file, text)
    except SiteError as exc:
        raise exc.located(file) from exc


def _parse(file: Path, text: str) -> Site:
    name = site_name(file)
    node = compose(text)
    if node is None:
        raise SiteError("empty site file: expected a mapping with 'domains' and 'app'")
    top = dict(Field(node, "").items())
    lines = {"": 1}
    _refuse_unknown(top, sitekeys.allowed(""), "")
    domains = _domains(_required(top, "domains", Field(node, "")), lines)
    app = _app(_required(top, "app", Field(node, "")), file.parent, lines)
    static = _static(top["static"], file.parent, lines) if "static" in top else ()
    tls = _tls(top["tls"]) if "tls" in top else Tls.OFF
    policies = parse_policies(top, {prefix for prefix, _ in static})
    env_file = resolved_path(top["env_file"], file.parent) if "env_file" in top else None
    processes = parse_processes(top["processes"]) if "processes" in top else ()
    release = parse_release(top["release"]) if "release" in top else None
    for key, value in top.items():
        lines[key] = value.line
    return Site(
        name=name, file=file, domains=domains, app=app, static=static, tls=tls,
        policies=policies, env_file=env_file, processes=processes, release=release,
        lines=lines,
    )  # fmt: skip


def _refuse_unknown(fields: Mapping[str, Field], known: Collection[str], parent: str) -> None:
    for key, value in fields.items():
        if key not in known:
            allowed = ", ".join(sorted(known))
            path = f"{parent}.{key}" if parent else key
            raise SiteError(f"unknown key (allowed here: {allowed})", line=value.line, key=path)


def _required(fields: Mapping[str, Field], key: str, parent: Field) -> Field:
    if key not in fields:
        path = f"{parent.key}.{key}" if parent.key else key
        raise SiteError("required key is missing", line=parent.line, key=path)
    return fields[key]


def _domains(value: Field, lines: dict[str, int]) -> tuple[str, ...]:
    items = value.sequence()
    if not items:
        raise value.error("at least one domain is required")
    if len(items) > MAX_DOMAINS:
        raise value.error(f"at most {MAX_DOMAINS} domains per site")
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        domain = normal_domain(item.string(), item)
        if domain in seen:
            raise item.error(f"domain {domain!r} is listed twice")
        seen.add(domain)
        lines[item.key] = item.line
        out.append(domain)
    return tuple(out)


def normal_domain(raw: str, where: Field) -> str:
    """`raw` as a lowercase RFC 1123 name, internationalised names as punycode."""
    name = raw.strip().lower()
    if name.endswith("."):
        name = name[:-1]
    if "*" in name:
        raise where.error(f"wildcard domains are not supported: {raw!r}")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise where.error(f"invalid internationalised domain {raw!r}: {exc}") from exc
    if not name or len(name) > 253:
        raise where.error(f"invalid domain {raw!r}: must be 1 to 253 characters")
    labels = name.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise where.error(
                f"invalid domain {raw!r}: each label is 1 to 63 of a-z, 0-9 and '-', "
                "not starting or ending with '-'"
            )
    if labels[-1].isdigit():
        raise where.error(f"invalid domain {raw!r}: IP addresses are not domains")
    return name


def _app(value: Field, base: Path, lines: dict[str, int]) -> App:
    fields = dict(value.items())
    known = {"root", "wsgi", "venv", "workers", "env", "user", "health"} | APP_TUNING_KEYS
    _refuse_unknown(fields, known, "app")
    for key, item in fields.items():
        lines[f"app.{key}"] = item.line
    root = resolved_path(_required(fields, "root", value), base)
    wsgi_field = _required(fields, "wsgi", value)
    wsgi = _wsgi_target(wsgi_field)
    venv = _optional(fields.get("venv"), lambda f: resolved_path(f, base))
    workers = _workers(fields["workers"]) if "workers" in fields else None
    env = _env(fields["env"]) if "env" in fields else ()
    user = _optional(fields.get("user"), lambda f: _matching(f, USER_NAME, "user name"))
    health = _optional(fields.get("health"), lambda f: _matching(f, HEALTH_PATH, "health path"))
    return App(
        root=root,
        wsgi=wsgi,
        venv=venv,
        workers=workers,
        env=env,
        user=user,
        health=health,
        **_app_tuning(fields),
    )


FACTORY_TARGET = re.compile(rf"^{_WSGI_PART}:{_WSGI_PART}\(")


def _wsgi_target(value: Field) -> str:
    """`module:name`, `module:factory()` or `module:factory(literal, key=literal)`."""
    wsgi = value.string().strip()
    if FACTORY_TARGET.match(wsgi) and not wsgi.endswith("()"):
        problem = factory_call_problem(wsgi.partition(":")[2])
        if problem:
            raise value.error(f"invalid wsgi target {wsgi!r}: {problem}")
        return wsgi
    if not WSGI_TARGET.match(wsgi):
        raise value.error(
            f"invalid wsgi target {wsgi!r}: expected 'module:name', 'module:factory()' or "
            "'module:factory(literal, key=literal)', dotted Python names only"
        )
    return wsgi


def _app_tuning(fields: Mapping[str, Field]) -> dict[str, Any]:
    """The gunicorn and proxy keys of `app:` that are present, checked against each other."""
    out: dict[str, Any] = {}
    if "worker_class" in fields:
        out["worker_class"] = _worker_class(fields["worker_class"])
    for key, bound in APP_NUMBERS.items():
        if key in fields:
            out[key] = _bounded(fields[key], bound)
    for key in ("preload", "buffering"):
        if key in fields:
            out[key] = _flag(fields[key])
    if out.get("worker_class") in ASGI_WORKERS and out.get("threads", 1) != 1:
        raise fields["threads"].error("threads apply to the sync and gthread workers, not ASGI")
    jitter = out.get("max_requests_jitter", 0)
    if jitter and jitter > out.get("max_requests", 0):
        raise fields["max_requests_jitter"].error(
            "max_requests_jitter must not exceed max_requests (set max_requests first)"
        )
    return out


def _worker_class(value: Field) -> str:
    raw = value.raw().strip()
    if raw not in WORKER_CLASSES:
        raise value.error(f"worker_class must be one of {', '.join(WORKER_CLASSES)}, not {raw!r}")
    return raw


def _bounded(value: Field, bound: Bound) -> int:
    raw = value.scalar()
    if isinstance(raw, bool) or not isinstance(raw, int) or not bound.low <= raw <= bound.high:
        raise value.error(
            f"expected a whole number from {bound.low} to {bound.high} (default {bound.default}), "
            f"got {value.raw()!r}"
        )
    return raw


def _flag(value: Field) -> bool:
    raw = value.scalar()
    if not isinstance(raw, bool):
        raise value.error(f"expected true or false, got {value.raw()!r}")
    return raw


def _optional(value: Field | None, parse: Any) -> Any:
    if value is None or value.is_null:
        return None
    return parse(value)


def _matching(value: Field, pattern: re.Pattern[str], what: str) -> str:
    text = value.string()
    if not pattern.match(text):
        raise value.error(f"invalid {what} {text!r} (must match {shown(pattern)})")
    return text


def resolved_path(value: Field, base: Path) -> Path:
    """`value` as an absolute, normalised path; relative paths start at `base`."""
    text = value.string()
    if not text or "\x00" in text:
        raise value.error("a path must be a non-empty string")
    path = Path(os.path.normpath(base / os.path.expanduser(text)))
    # the text as written too: normalising must not launder `a;/../b` into `b`
    for form in (text, str(path)):
        if not SAFE_PATH.match("/" + form.lstrip("/")):
            raise value.error(
                f"path {form!r} has characters hostd does not pass to nginx or Supervisor "
                "(allowed: letters, digits and ._/@+,=~-)"
            )
    return path


def _workers(value: Field) -> int | None:
    raw = value.scalar()
    if raw == "auto":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_WORKERS:
        raise value.error(f"workers must be 'auto' or a whole number from 1 to {MAX_WORKERS}")
    return raw


_UNSAFE_ENV = re.compile(r"[\"'\x00\r\n]|\s[;#]")
_HERE = "%(here)s"


def _env(value: Field) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for key, item in value.items():
        if not ENV_KEY.match(key):
            raise item.error(f"invalid environment variable name {key!r}")
        raw = item.scalar()
        if isinstance(raw, bool) or raw is None or not isinstance(raw, (str, int, float)):
            raise item.error(
                f"environment values must be strings or numbers, got {item.describe()} "
                '(quote it: "true")'
            )
        text = raw if isinstance(raw, str) else item.raw()
        bad = _UNSAFE_ENV.search(text)
        if bad:
            raise item.error(
                f"environment value contains {bad.group()!r}: quotes, NUL, newlines and "
                "' ;' or ' #' cannot be passed through Supervisor safely"
            )
        if _HERE in text:
            # Supervisor substitutes it before %-unescaping, even after a doubled `%`
            raise item.error(f"environment value contains {_HERE!r}, which Supervisor rewrites")
        out.append((key, text))
    return tuple(sorted(out))


def _static(value: Field, base: Path, lines: dict[str, int]) -> tuple[tuple[str, Path], ...]:
    out: list[tuple[str, Path]] = []
    for prefix, item in value.items():
        if not STATIC_PREFIX.match(prefix) or any(p in (".", "..") for p in prefix.split("/")):
            raise item.error(
                f"invalid static prefix {prefix!r}: a URL path like /static/ "
                "(starting and ending with '/', not '/' alone)"
            )
        if prefix.startswith("/.well-known/"):
            raise item.error("static prefixes under /.well-known/ are reserved for hostd")
        lines[item.key] = item.line
        folder = resolved_path(item, base)
        if (problem := system_refusal(PurePosixPath(folder))) is not None:
            raise item.error(f"nginx may not serve this folder: {problem}")
        out.append((prefix, folder))
    return tuple(sorted(out))


def _tls(value: Field) -> Tls:
    raw = value.raw().strip().lower()
    try:
        return Tls(raw)
    except ValueError:
        raise value.error(f"tls must be 'off' or 'auto', not {raw!r}") from None


def duplicate_domain_errors(
    sites: Mapping[str, Site], holders: Mapping[str, str]
) -> dict[str, SiteError]:
    """Errors for sites that claim a domain another site keeps.

    `holders` maps each domain to the site that serves it now; that site keeps it.
    Among new claimants the first site name in sorted order keeps it.
    """
    claimants: dict[str, list[str]] = {}
    for name in sorted(sites):
        for domain in sites[name].domains:
            claimants.setdefault(domain, []).append(name)
    errors: dict[str, SiteError] = {}
    for domain, names in claimants.items():
        if len(names) < 2:
            continue
        holder = holders.get(domain)
        keeper = holder if holder in names else names[0]
        for name in names:
            if name == keeper or name in errors:
                continue
            site, other = sites[name], sites[keeper]
            key = f"domains[{site.domains.index(domain)}]"
            errors[name] = SiteError(
                f"domain {domain!r} is already served by site {keeper!r} ({other.file})",
                file=site.file,
                line=site.line(key) or site.line("domains"),
                key=key,
            )
    return errors
