"""Edge policies in the site file: what they parse to, and each bad value refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostd.core.edgeconf import locations, proxy, websocket_timeout
from hostd.core.policies import Hsts, PathPolicy, Policies, RateLimit
from hostd.core.site import parse_site, site_from_dict
from hostd.errors import SiteError

BASE = "domains: [a.com]\napp:\n  root: /srv/a\n  wsgi: a:app\n"  # policies start on line 5
FILE = Path("/srv/sites/a.yaml")


def policies(text: str) -> Policies:
    return parse_site(FILE, BASE + text).policies


def test_a_v1_file_has_the_defaults() -> None:
    assert policies("") == Policies()
    assert Policies().max_body == "10m" and Policies().compression is True
    assert Policies().hsts == Hsts(max_age=63072000)


def test_every_policy_parses_and_survives_a_round_trip() -> None:
    text = (
        "max_body: 2G\nredirects: {canonical: www, code: 302, paths: {/a: /b}}\n"
        "basic_auth: {realm: Staff}\nallow: [10.0.0.0/8, '::1']\ndeny: [all]\n"
        "rate_limit: {rate: 3, burst: 9}\nheaders: {referrer-policy: no-referrer}\n"
        "hsts: false\ncompression: false\nwebsockets: {timeout: 90}\n"
        "paths: {/api/: {basic_auth: false, rate_limit: {rate: 1}, websockets: true}}\n"
    )
    site = parse_site(FILE, BASE + text)
    got = site.policies
    assert got.max_body == "2g" and got.canonical == "www" and got.redirect_code == 302
    assert got.redirects == (("/a", "/b"),) and got.basic_auth and got.realm == "Staff"
    assert got.allow == ("10.0.0.0/8", "::1") and got.deny == ("all",)
    assert got.rate_limit == RateLimit(3, 9) and got.headers == (
        ("Referrer-Policy", "no-referrer"),
    )
    assert got.hsts is None and got.compression is False and got.websockets == 90
    assert got.paths == (
        PathPolicy("/api/", basic_auth=False, rate_limit=RateLimit(1), websockets=3600),
    )
    assert site_from_dict(site.to_dict()) == site


def test_websockets_false_under_a_prefix_is_off_there_even_when_the_site_has_them() -> None:
    site = parse_site(FILE, BASE + "websockets: true\npaths: {/x/: {websockets: false}}\n")
    assert site.policies.paths == (PathPolicy("/x/", websockets=0),)
    assert site_from_dict(site.to_dict()) == site
    where = {w.path.prefix: w for w in locations("a", site.policies) if w.path is not None}
    assert websocket_timeout(site.policies, where["/x/"]) is None
    assert proxy(site.policies, where["/x/"]) == []


BAD = [
    ("max_body: 0", "max_body", "at least 1"),
    ("max_body: 0k", "max_body", "must match"),
    ("max_body: 11g", "max_body", "at most 10g"),
    ("max_body: 1t", "max_body", "must match"),
    ("redirects: {canonical: both}", "redirects.canonical", "one of"),
    ("redirects: {code: 303}", "redirects.code", "one of"),
    ("redirects: {paths: {/a: 'x y'}}", "redirects.paths./a", "invalid"),
    ('redirects: {paths: {/a: "/b\\"; return 200"}}', "redirects.paths./a", "invalid"),
    ("redirects: {paths: {a: /b}}", "redirects.paths.a", "invalid key"),
    ("redirects: {paths: {/.well-known/x: /b}}", "redirects.paths./.well-known/x", "reserved"),
    ("redirects: {colour: red}", "redirects.colour", "unknown key"),
    ('basic_auth: {realm: "a\\"b"}', "basic_auth.realm", "invalid realm"),
    ("basic_auth: true", "basic_auth", "expected a mapping"),
    ("allow: [10.0.0.0/33]", "allow[0]", "invalid address"),
    ("allow: ['1.2.3.4; allow all']", "allow[0]", "must match"),
    ("deny: []", "deny", "at least one"),
    ("deny: 1.2.3.4", "deny", "expected a list"),
    ("rate_limit: {rate: 0}", "rate_limit.rate", "at least 1"),
    ("rate_limit: {burst: 5}", "rate_limit.rate", "required key is missing"),
    ("rate_limit: {rate: 5, burst: -1}", "rate_limit.burst", "at least 0"),
    ("rate_limit: {rate: 1.5}", "rate_limit.rate", "expected a whole number"),
    ("headers: {Server: hostd}", "headers.Server", "not one hostd sets"),
    ("headers: {X-Frame-Options: 'a$b'}", "headers.X-Frame-Options", "invalid"),
    ("headers: {X-Frame-Options: DENY, x-frame-options: DENY}", "headers.x-frame-options", "twice"),
    ("hsts: {max_age: -1}", "hsts.max_age", "at least 0"),
    ("hsts: {preload: yes please}", "hsts.preload", "expected true or false"),
    ("compression: gzip", "compression", "expected true or false"),
    ("websockets: {timeout: 0}", "websockets.timeout", "at least 1"),
    ("websockets: {timeout: 86401}", "websockets.timeout", "at most 86400"),
    ("paths: {/admin: {basic_auth: true}}", "paths./admin", "invalid key"),
    ("paths: {/a/: {colour: red}}", "paths./a/.colour", "unknown key"),
    ("paths: {/a/: {allow: [nope]}}", "paths./a/.allow[0]", "must match"),
    ("paths: {/.well-known/x/: {basic_auth: true}}", "paths./.well-known/x/", "reserved"),
    ("static: {/s/: /srv/s}\npaths: {/s/: {basic_auth: true}}", "paths./s/", "static prefix"),
    ("processes: {Worker: run}", "processes.Worker", "invalid process name"),
    ("processes: {web: run}", "processes.web", "invalid process name"),
    ("processes: {worker: 1}", "processes.worker", "expected a string"),
    ('processes: {worker: "run \'x"}', "processes.worker", "cannot split"),
    ("processes: {worker: ''}", "processes.worker", "empty"),
    ("processes: {worker: 'a %(here)s'}", "processes.worker", "%(here)s"),
    ("processes: [run]", "processes", "expected a mapping"),
    ("env_file: [a.env]", "env_file", "expected a string"),
]


@pytest.mark.parametrize(("text", "key", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_policy_value_is_refused_with_file_line_and_key(
    text: str, key: str, fragment: str
) -> None:
    with pytest.raises(SiteError) as caught:
        parse_site(FILE, BASE + text + "\n")
    error = caught.value
    assert error.file == FILE and error.key == key, str(error)
    assert error.line is not None and error.line >= 5, str(error)
    assert fragment in error.message, str(error)


def test_processes_and_env_file_parse() -> None:
    site = parse_site(
        FILE, BASE + "env_file: a.env\nprocesses:\n  worker: q -w 2\n  beat: /bin/b\n"
    )
    assert site.processes == (("beat", "/bin/b"), ("worker", "q -w 2"))
    assert site.env_file == Path("/srv/sites/a.env")
    assert site_from_dict(site.to_dict()) == site
