"""The nginx directives of a site's edge policies, as lines the site template places.

`site.conf.j2` asks for them at fixed spots (`zones` at the http level, `server`
after the upload limit of each server block, `acme` in the challenge location,
`location` and `proxy` inside each proxied location); each function returns
the lines for that spot, none when the policy is at its default, so a site file
without policies renders exactly as before. Every value was validated by the
parser (`hostd.core.policies`), so it is written as is.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hostd.core.policies import PathPolicy, Policies, RateLimit

GZIP_TYPES = (
    "text/plain text/css text/javascript text/xml application/javascript application/json "
    "application/xml application/rss+xml application/atom+xml image/svg+xml"
)


@dataclass(frozen=True)
class Location:
    """One proxied location: `/`, or a prefix of `paths:` with its policies."""

    selector: str
    path: PathPolicy | None = None
    zone: str | None = None  # the rate-limit zone of this prefix


def indented(lines: list[str], indent: int = 4) -> str:
    """`lines` each on a new line, for `{{- lines | indented }}` after a line of the template."""
    return "".join("\n" + " " * indent + line for line in lines)


def zone_name(site: str, index: int | None = None) -> str:
    return f"hostd_{site}" if index is None else f"hostd_{site}_{index}"


def zones(site: str, policies: Policies) -> list[str]:
    """limit_req_zone lines, at the http level (the top of the site's file)."""
    out: list[str] = []
    if policies.rate_limit:
        out.append(_zone(zone_name(site), policies.rate_limit))
    for index, path in enumerate(policies.paths):
        if path.rate_limit:
            out.append(_zone(zone_name(site, index), path.rate_limit))
    return out


def _zone(name: str, rate: RateLimit) -> str:
    return f"limit_req_zone $binary_remote_addr zone={name}:1m rate={rate.rate}r/s;"


def locations(site: str, policies: Policies) -> list[Location]:
    """`/` and one location per prefix of `paths:`."""
    out = [Location("/")]
    for index, path in enumerate(policies.paths):
        zone = zone_name(site, index) if path.rate_limit else None
        out.append(Location(f"^~ {path.prefix}", path, zone))
    return out


def server(
    site: str, policies: Policies, auth_file: Path, *, port_suffix: str, redirect_only: bool
) -> list[str]:
    """Server-level lines: compression, canonical host, auth, addresses, rate, headers."""
    if redirect_only:
        return []
    out = [
        "gzip on;",
        "gzip_vary on;",
        "gzip_proxied any;",
        "gzip_min_length 256;",
        f"gzip_types {GZIP_TYPES};",
    ] if policies.compression else ["gzip off;"]  # fmt: skip
    code = policies.redirect_code
    if policies.canonical == "apex":
        out.append(
            f"if ($host ~* ^www\\.(.+)$) {{ return {code} $scheme://$1{port_suffix}$request_uri; }}"
        )
    elif policies.canonical == "www":
        target = f"$scheme://www.$host{port_suffix}$request_uri"
        out.append(f"if ($host !~* ^www\\.) {{ return {code} {target}; }}")
    if policies.basic_auth:
        out += _auth(policies.realm, auth_file)
    out += _access(policies.allow, policies.deny)
    if policies.rate_limit:
        out += _limit(zone_name(site), policies.rate_limit)
    out += [f'add_header {name} "{value}" always;' for name, value in policies.headers]
    return out


def acme(policies: Policies) -> list[str]:
    """Lines that keep the ACME challenge reachable whatever the site's own rules are."""
    if policies.basic_auth or policies.has_access_rules:
        return ["auth_basic off;", "allow all;"]
    return []


def redirect_locations(policies: Policies) -> list[str]:
    return [
        f'location = {source} {{ return {policies.redirect_code} "{target}"; }}'
        for source, target in policies.redirects
    ]


def location(policies: Policies, where: Location, auth_file: Path) -> list[str]:
    """A prefix's own lines, before its proxy lines."""
    path = where.path
    if path is None:
        return []
    out: list[str] = []
    if path.basic_auth is True:
        out += _auth(policies.realm, auth_file)
    elif path.basic_auth is False:
        out.append("auth_basic off;")
    if path.has_access_rules:
        out += _access(path.allow or (), path.deny or ()) or ["allow all;"]
    if path.rate_limit and where.zone:
        out += _limit(where.zone, path.rate_limit)
    if path.max_body:
        out.append(f"client_max_body_size {path.max_body};")
    return out


def websocket_timeout(policies: Policies, where: Location) -> int | None:
    """The idle timeout of a location that takes WebSocket upgrades; None if it does not."""
    timeout = policies.websockets
    if where.path is not None and where.path.websockets is not None:
        timeout = where.path.websockets or None  # 0: `websockets: false` here
    return timeout


def proxy(policies: Policies, where: Location) -> list[str]:
    """WebSocket lines after the proxy lines of a location, if it takes upgrades (its
    idle timeout is the location's proxy timeout, `RenderedLocation.timeout`)."""
    if websocket_timeout(policies, where) is None:
        return []
    return [
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $hostd_connection_upgrade;",
    ]


def _auth(realm: str, auth_file: Path) -> list[str]:
    return [f'auth_basic "{realm}";', f"auth_basic_user_file {auth_file};"]


def _access(allow: tuple[str, ...], deny: tuple[str, ...]) -> list[str]:
    out = [f"deny {address};" for address in deny]
    out += [f"allow {address};" for address in allow]
    if allow and "all" not in allow:
        out.append("deny all;")
    return out


def _limit(zone: str, rate: RateLimit) -> list[str]:
    burst = f" burst={rate.burst}" if rate.burst else ""
    return [f"limit_req zone={zone}{burst} nodelay;", "limit_req_status 429;"]


@dataclass(frozen=True)
class RenderedLocation:
    selector: str
    before: str
    after: str
    timeout: int | None  # the proxy timeouts, if not the site's own (WebSocket idle time)


def template_context(
    site: str,
    policies: Policies,
    auth_file: Path,
    *,
    http_port: int,
    https_port: int,
    redirect_only: bool,
) -> dict[str, object]:
    """What `site.conf.j2` reads as `edge`: each spot's lines, ready to place."""
    http_suffix = "" if http_port == 80 else f":{http_port}"
    https_suffix = "" if https_port == 443 else f":{https_port}"
    return {
        "zones": indented(zones(site, policies), 0),
        "http_server": indented(server(site, policies, auth_file, port_suffix=http_suffix,
                                       redirect_only=redirect_only)),
        "https_server": indented(server(site, policies, auth_file, port_suffix=https_suffix,
                                        redirect_only=False)),
        "acme": indented(acme(policies), 8),
        "redirects": redirect_locations(policies),
        "locations": [
            RenderedLocation(where.selector, indented(location(policies, where, auth_file), 8),
                             indented(proxy(policies, where), 8),
                             websocket_timeout(policies, where))
            for where in locations(site, policies)
        ],
    }  # fmt: skip
