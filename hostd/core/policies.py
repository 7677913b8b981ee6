"""Edge policies of a site: what nginx decides before a request reaches the app.

Upload limit, redirects, basic authentication, address lists, rate limits, extra
headers, HSTS, compression and WebSockets, for the whole site and per URL prefix
(`paths:`). Each value is checked against its declaration in `hostd.core.sitekeys`
and reaches the templates only once it is known to be safe to write unquoted.

Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hostd.core import sitekeys
from hostd.core.yamlnode import Field
from hostd.errors import SiteError

HSTS_MAX_AGE = 63072000
WEBSOCKET_TIMEOUT = 3600


@dataclass(frozen=True)
class RateLimit:
    rate: int
    burst: int = 0


@dataclass(frozen=True)
class Hsts:
    max_age: int = HSTS_MAX_AGE
    include_subdomains: bool = False
    preload: bool = False

    @property
    def header(self) -> str:
        value = f"max-age={self.max_age}"
        if self.include_subdomains:
            value += "; includeSubDomains"
        if self.preload:
            value += "; preload"
        return value


@dataclass(frozen=True)
class PathPolicy:
    """The policies of one URL prefix; None means: as for the whole site."""

    prefix: str
    basic_auth: bool | None = None
    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] | None = None
    rate_limit: RateLimit | None = None
    websockets: int | None = None  # idle timeout in seconds; 0: off here (`false`)
    max_body: str | None = None

    @property
    def has_access_rules(self) -> bool:
        return self.allow is not None or self.deny is not None


@dataclass(frozen=True)
class Policies:
    max_body: str = "10m"
    canonical: str | None = None  # "apex" or "www"
    redirect_code: int = 301
    redirects: tuple[tuple[str, str], ...] = ()
    basic_auth: bool = False
    realm: str = "Restricted"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    rate_limit: RateLimit | None = None
    headers: tuple[tuple[str, str], ...] = ()
    hsts: Hsts | None = field(default_factory=Hsts)
    compression: bool = True
    websockets: int | None = None  # idle timeout in seconds; None: no upgrades
    paths: tuple[PathPolicy, ...] = ()

    @property
    def has_access_rules(self) -> bool:
        return bool(self.allow or self.deny)

    @property
    def uses_basic_auth(self) -> bool:
        return self.basic_auth or any(p.basic_auth for p in self.paths)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_body": self.max_body,
            "canonical": self.canonical,
            "redirect_code": self.redirect_code,
            "redirects": dict(self.redirects),
            "basic_auth": self.basic_auth,
            "realm": self.realm,
            "allow": list(self.allow),
            "deny": list(self.deny),
            "rate_limit": _rate_dict(self.rate_limit),
            "headers": dict(self.headers),
            "hsts": None if self.hsts is None else vars(self.hsts),
            "compression": self.compression,
            "websockets": self.websockets,
            "paths": [
                {**vars(p), "rate_limit": _rate_dict(p.rate_limit),
                 "allow": None if p.allow is None else list(p.allow),
                 "deny": None if p.deny is None else list(p.deny)}
                for p in self.paths
            ],
        }  # fmt: skip


def _rate_dict(rate: RateLimit | None) -> dict[str, int] | None:
    return None if rate is None else {"rate": rate.rate, "burst": rate.burst}


def _rate(data: Mapping[str, int] | None) -> RateLimit | None:
    return None if data is None else RateLimit(data["rate"], data["burst"])


def _tuple(data: list[str] | None) -> tuple[str, ...] | None:
    return None if data is None else tuple(data)


def policies_from_dict(data: Mapping[str, Any] | None) -> Policies:
    """The inverse of `Policies.to_dict`; None (a record from before policies): defaults."""
    if not data:
        return Policies()
    hsts = data["hsts"]
    return Policies(
        max_body=data["max_body"],
        canonical=data["canonical"],
        redirect_code=data["redirect_code"],
        redirects=tuple(data["redirects"].items()),
        basic_auth=data["basic_auth"],
        realm=data["realm"],
        allow=tuple(data["allow"]),
        deny=tuple(data["deny"]),
        rate_limit=_rate(data["rate_limit"]),
        headers=tuple(data["headers"].items()),
        hsts=None if hsts is None else Hsts(**hsts),
        compression=data["compression"],
        websockets=data["websockets"],
        paths=tuple(
            PathPolicy(**{**p, "rate_limit": _rate(p["rate_limit"]),
                          "allow": _tuple(p["allow"]), "deny": _tuple(p["deny"])})
            for p in data["paths"]
        ),
    )  # fmt: skip


def parse_policies(top: Mapping[str, Field], static_prefixes: set[str]) -> Policies:
    """The policies among the top-level keys `top` of a site file."""
    out: dict[str, Any] = {}
    if "max_body" in top:
        out["max_body"] = _size(top["max_body"], "max_body")
    if "redirects" in top:
        out.update(_redirects(top["redirects"]))
    if "basic_auth" in top:
        out.update(_basic_auth(top["basic_auth"]))
    if "allow" in top:
        out["allow"] = _addresses(top["allow"], "allow")
    if "deny" in top:
        out["deny"] = _addresses(top["deny"], "deny")
    if "rate_limit" in top:
        out["rate_limit"] = _rate_limit(top["rate_limit"], "rate_limit")
    if "headers" in top:
        out["headers"] = _headers(top["headers"])
    if "hsts" in top:
        out["hsts"] = _hsts(top["hsts"])
    if "compression" in top:
        out["compression"] = sitekeys.read(top["compression"], "compression")
    if "websockets" in top:
        out["websockets"] = _websockets(top["websockets"], "websockets")
    if "paths" in top:
        out["paths"] = _paths(top["paths"], static_prefixes)
    return Policies(**out)


def _known(value: Field, parent: str) -> dict[str, Field]:
    sitekeys.read(value, parent)
    fields = dict(value.items())
    known = sitekeys.allowed(parent)
    for key, item in fields.items():
        if key not in known:
            raise item.error(f"unknown key (allowed here: {', '.join(sorted(known))})")
    for key in sorted(known):
        if sitekeys.spec(f"{parent}.{key}").required and key not in fields:
            raise SiteError("required key is missing", line=value.line, key=f"{value.key}.{key}")
    return fields


def _size(value: Field, path: str) -> str:
    raw = sitekeys.read(value, path)
    text = str(raw).lower()
    number, unit = (int(text[:-1]), text[-1]) if text[-1] in "kmg" else (int(text), "")
    if number * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit] > sitekeys.MAX_BODY_BYTES:
        raise value.error(f"{value.key} must be at most 10g, not {raw!r}")
    return text


def _redirects(value: Field) -> dict[str, Any]:
    fields = _known(value, "redirects")
    out: dict[str, Any] = {}
    if "canonical" in fields:
        out["canonical"] = sitekeys.read(fields["canonical"], "redirects.canonical")
    if "code" in fields:
        out["redirect_code"] = sitekeys.read(fields["code"], "redirects.code")
    if "paths" in fields:
        sitekeys.read(fields["paths"], "redirects.paths")
        spec = sitekeys.spec("redirects.paths.*")
        pairs: list[tuple[str, str]] = []
        for source, target in fields["paths"].items():
            _key_matches(source, target, spec)
            if source.startswith("/.well-known/"):
                raise target.error("paths under /.well-known/ are reserved for hostd")
            pairs.append((source, spec.read(target)))
        out["redirects"] = tuple(sorted(pairs))
    return out


def _key_matches(key: str, where: Field, spec: sitekeys.Key) -> None:
    assert spec.key_pattern is not None
    if not re.match(spec.key_pattern[:-1] + r"\Z", key) or "/../" in key or "/./" in key:
        raise where.error(f"invalid key {key!r} (must match {spec.key_pattern})")


def _basic_auth(value: Field) -> dict[str, Any]:
    fields = _known(value, "basic_auth")
    out: dict[str, Any] = {"basic_auth": True}
    if "realm" in fields:
        out["realm"] = sitekeys.read(fields["realm"], "basic_auth.realm")
    return out


def _addresses(value: Field, path: str) -> tuple[str, ...]:
    sitekeys.read(value, path)
    out: list[str] = []
    for item in value.sequence():
        text = sitekeys.read(item, f"{path}[]")
        if text != "all":
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise item.error(f"invalid address or network {text!r}") from None
        out.append(text)
    if not out:
        raise value.error(f"{value.key} needs at least one address (or leave it out)")
    return tuple(out)


def _rate_limit(value: Field, path: str) -> RateLimit:
    fields = _known(value, path)
    rate = sitekeys.read(fields["rate"], f"{path}.rate")
    burst = sitekeys.read(fields["burst"], f"{path}.burst") if "burst" in fields else 0
    return RateLimit(rate=rate, burst=burst)


def _headers(value: Field) -> tuple[tuple[str, str], ...]:
    sitekeys.read(value, "headers")
    spec = sitekeys.spec("headers.*")
    out: dict[str, str] = {}
    for name, item in value.items():
        try:
            _key_matches(name, item, spec)
        except SiteError:
            raise item.error(
                f"header {name!r} is not one hostd sets (allowed: Content-Security-Policy, "
                "Permissions-Policy, Referrer-Policy, X-Frame-Options, X-Content-Type-Options, "
                "X-Robots-Tag, Cross-Origin-*-Policy, Access-Control-Allow-Origin, "
                "Cache-Control)"
            ) from None
        canonical = "-".join(part.capitalize() for part in name.split("-"))
        if canonical.lower() in (k.lower() for k in out):
            raise item.error(f"header {name!r} is listed twice")
        out[canonical] = spec.read(item)
    return tuple(sorted(out.items()))


def _hsts(value: Field) -> Hsts | None:
    raw = sitekeys.read(value, "hsts")
    if raw is True:
        return Hsts()
    if raw is False:
        return None
    fields = _known(value, "hsts")
    return Hsts(**{key: sitekeys.read(item, f"hsts.{key}") for key, item in fields.items()})


def _websockets(value: Field, path: str) -> int | None:
    raw = sitekeys.read(value, path)
    if raw is True:
        return WEBSOCKET_TIMEOUT
    if raw is False:
        return None
    fields = _known(value, path)
    if "timeout" in fields:
        return int(sitekeys.read(fields["timeout"], f"{path}.timeout"))
    return WEBSOCKET_TIMEOUT


def _paths(value: Field, static_prefixes: set[str]) -> tuple[PathPolicy, ...]:
    sitekeys.read(value, "paths")
    spec = sitekeys.spec("paths.*")
    out: list[PathPolicy] = []
    for prefix, item in value.items():
        _key_matches(prefix, item, spec)
        if prefix.startswith("/.well-known/"):
            raise item.error("prefixes under /.well-known/ are reserved for hostd")
        if prefix in static_prefixes:
            raise item.error(f"{prefix} is a static prefix: nginx serves it from disk")
        fields = _known(item, "paths.*")
        policy: dict[str, Any] = {"prefix": prefix}
        if "basic_auth" in fields:
            policy["basic_auth"] = sitekeys.read(fields["basic_auth"], "paths.*.basic_auth")
        for key in ("allow", "deny"):
            if key in fields:
                policy[key] = _addresses(fields[key], f"paths.*.{key}")
        if "rate_limit" in fields:
            policy["rate_limit"] = _rate_limit(fields["rate_limit"], "paths.*.rate_limit")
        if "websockets" in fields:
            # `false` under a prefix turns them off there (0), even if the site has them
            policy["websockets"] = _websockets(fields["websockets"], "paths.*.websockets") or 0
        if "max_body" in fields:
            policy["max_body"] = _size(fields["max_body"], "paths.*.max_body")
        out.append(PathPolicy(**policy))
    return tuple(sorted(out, key=lambda p: p.prefix))
