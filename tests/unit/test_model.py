"""The site schema: what a site file may say, and how a rejected one is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hostd.core.site import App, Site, Tls, duplicate_domain_errors, parse_site, site_from_dict
from hostd.errors import SiteError

FILE = Path("/srv/sites.d/blog.yaml")
APP = "app:\n  root: /srv/apps/blog\n  wsgi: blog:app\n"
MINIMAL = "domains: [blog.example.com]\n" + APP


def expected(**changes: object) -> Site:
    """The minimal site, with `changes` on top (keys of App prefixed with `app_`)."""
    app_changes = {k.removeprefix("app_"): v for k, v in changes.items() if k.startswith("app_")}
    site_changes = {k: v for k, v in changes.items() if not k.startswith("app_")}
    app = App(root=Path("/srv/apps/blog"), wsgi="blog:app")
    fields: dict[str, object] = {
        "name": "blog",
        "file": FILE,
        "domains": ("blog.example.com",),
        "app": App(**{**app.__dict__, **app_changes}),
    }
    return Site(**{**fields, **site_changes})  # type: ignore[arg-type]


def with_domains(*names: str) -> str:
    """A site file listing `names` (JSON strings are valid YAML) on line 1."""
    return f"domains: {json.dumps(list(names))}\n" + APP


def with_app_line(line: str) -> str:
    """The minimal site with one more `app:` entry, on line 5."""
    return MINIMAL + f"  {line}\n"


def with_top_line(line: str) -> str:
    """The minimal site with one more top-level entry, on line 5."""
    return MINIMAL + f"{line}\n"


FULL = """\
# the blog, with every key
domains:
  - blog.example.com
  - www.blog.example.com
app:
  root: ../apps/blog
  wsgi: blog.main:create_app()
  venv: /srv/venvs/blog
  workers: 3
  env: {FLASK_ENV: production, PORT: 8000}
  user: www-blog
  health: /healthz
static: {/static/: static, /media/uploads/: /srv/media}
tls: auto
"""

VALID = [
    pytest.param(MINIMAL, expected(), id="minimal"),
    pytest.param(
        FULL,
        expected(
            domains=("blog.example.com", "www.blog.example.com"),
            app_root=Path("/srv/apps/blog"),
            app_wsgi="blog.main:create_app()",
            app_venv=Path("/srv/venvs/blog"),
            app_workers=3,
            app_env=(("FLASK_ENV", "production"), ("PORT", "8000")),
            app_user="www-blog",
            app_health="/healthz",
            static=(
                ("/media/uploads/", Path("/srv/media")),
                ("/static/", Path("/srv/sites.d/static")),
            ),
            tls=Tls.AUTO,
        ),
        id="full",
    ),
    pytest.param(
        with_domains("bücher.example", "例え.テスト"),
        expected(domains=("xn--bcher-kva.example", "xn--r8jz45g.xn--zckzah")),
        id="idna-to-punycode",
    ),
    pytest.param(
        with_domains("Blog.EXAMPLE.com"), expected(domains=("blog.example.com",)), id="uppercase"
    ),
    pytest.param(
        with_domains("blog.example.com."),
        expected(domains=("blog.example.com",)),
        id="trailing-dot",
    ),
    pytest.param(
        with_domains("a-b.example.com", "x1.example.com", "a" * 63 + ".example.com"),
        expected(domains=("a-b.example.com", "x1.example.com", "a" * 63 + ".example.com")),
        id="hyphens-digits-63-char-label",
    ),
    pytest.param(with_app_line("workers: auto"), expected(app_workers=None), id="workers-auto"),
    pytest.param(with_app_line("workers: 1"), expected(app_workers=1), id="workers-1"),
    pytest.param(with_app_line("workers: 64"), expected(app_workers=64), id="workers-64"),
    pytest.param(
        with_app_line('env: {PORT: 8000, RATIO: 0.5, MSG: "50% off", A_B: ""}'),
        expected(
            app_env=(("A_B", ""), ("MSG", "50% off"), ("PORT", "8000"), ("RATIO", "0.5")),
        ),
        id="env-numbers-and-percent",
    ),
    pytest.param(
        with_app_line('env: {SEMI: "a;b#c", URL: "postgres://u:p@db/x?a=1&b=2"}'),
        expected(app_env=(("SEMI", "a;b#c"), ("URL", "postgres://u:p@db/x?a=1&b=2"))),
        id="env-semicolon-and-hash-without-space",
    ),
    pytest.param(
        with_top_line("static: {/static/: static, /a/b.c/: ../assets/}"),
        expected(
            static=(("/a/b.c/", Path("/srv/assets")), ("/static/", Path("/srv/sites.d/static")))
        ),
        id="static-prefixes-resolved",
    ),
    pytest.param(with_top_line("tls: off"), expected(tls=Tls.OFF), id="tls-off"),
    pytest.param(with_top_line("tls: auto"), expected(tls=Tls.AUTO), id="tls-auto"),
    pytest.param(with_top_line('tls: "off"'), expected(tls=Tls.OFF), id="tls-quoted-off"),
    pytest.param(
        MINIMAL.replace("blog:app", "blog:create_app()"),
        expected(app_wsgi="blog:create_app()"),
        id="factory-call",
    ),
    pytest.param(MINIMAL.replace("blog:app", "blog"), expected(app_wsgi="blog"), id="module-only"),
    pytest.param(
        with_app_line("venv: ../venv"), expected(app_venv=Path("/srv/venv")), id="venv-relative"
    ),
    pytest.param(
        with_app_line("venv: null") + "  user: null\n  health: null\n",
        expected(),
        id="explicit-nulls",
    ),
]


@pytest.mark.parametrize(("text", "site"), VALID)
def test_a_valid_site_file_gives_its_site(text: str, site: Site) -> None:
    """A valid file becomes exactly the site it describes, names normalised, paths absolute."""
    assert parse_site(FILE, text) == site


def test_relative_paths_resolve_against_the_site_files_folder() -> None:
    """`root: ../apps/blog` in /etc/hostd/sites.d means /etc/hostd/apps/blog."""
    site = parse_site(Path("/etc/hostd/sites.d/blog.yaml"), MINIMAL.replace("/srv/", "../"))
    assert site.app.root == Path("/etc/hostd/apps/blog")


def test_a_site_remembers_the_line_of_each_key() -> None:
    """Errors found after parsing (missing folders, duplicate domains) can name the line."""
    site = parse_site(FILE, FULL)
    assert site.line("domains[1]") == 4
    assert site.line("app.wsgi") == 7
    assert site.line("static") == 13
    assert site.line("nope") is None


def test_a_site_survives_a_round_trip_through_json() -> None:
    """The live state on disk gives back the same site it recorded."""
    site = parse_site(FILE, FULL)
    assert site_from_dict(json.loads(json.dumps(site.to_dict()))) == site


BILLION_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    + ["domains: [blog.example.com]", APP]
)

# (text, key path, line, fragment of the message)
BAD = [
    pytest.param("domains: [a.com\napp: x\n", None, 2, "malformed YAML", id="yaml-unclosed"),
    pytest.param(MINIMAL + "\tx: 1\n", None, 5, "malformed YAML", id="yaml-tab"),
    pytest.param(MINIMAL + "tls: \x07\n", None, 5, "#x0007 is not allowed", id="yaml-control"),
    pytest.param(MINIMAL + "---\n" + MINIMAL, None, 5, "another document", id="yaml-two-docs"),
    pytest.param("", None, None, "empty site file", id="empty"),
    pytest.param("# nothing yet\n\n", None, None, "empty site file", id="only-comments"),
    pytest.param("- blog.example.com\n", None, 1, "expected a mapping, got a list", id="list"),
    pytest.param("blog.example.com\n", None, 1, "expected a mapping, got a string", id="str"),
    pytest.param(with_top_line("colour: blue"), "colour", 5, "unknown key", id="unknown-top"),
    pytest.param(with_app_line("port: 80"), "app.port", 5, "unknown key", id="unknown-app"),
    pytest.param(APP, "domains", 1, "required key is missing", id="missing-domains"),
    pytest.param("domains: [a.com]\n", "app", 1, "required key is missing", id="missing-app"),
    pytest.param(
        "domains: [a.com]\napp:\n", "app", 2, "expected a mapping, got null", id="app-null"
    ),
    pytest.param(
        "domains: [a.com]\napp:\n  wsgi: blog:app\n", "app.root", 3, "missing", id="missing-root"
    ),
    pytest.param(
        "domains: [a.com]\napp:\n  root: /srv/x\n", "app.wsgi", 3, "missing", id="missing-wsgi"
    ),
    pytest.param("domains: a.com\n" + APP, "domains", 1, "expected a list", id="domains-str"),
    pytest.param("domains: []\n" + APP, "domains", 1, "at least one", id="domains-empty"),
    pytest.param(
        with_domains("a.com; return 200 x"), "domains[0]", 1, "invalid domain", id="domain-semi"
    ),
    pytest.param(with_domains("a{b.com"), "domains[0]", 1, "invalid domain", id="domain-brace"),
    pytest.param(with_domains("a}b.com"), "domains[0]", 1, "invalid domain", id="domain-close"),
    pytest.param(with_domains("a b.com"), "domains[0]", 1, "invalid domain", id="domain-space"),
    pytest.param(with_domains('a"b.com'), "domains[0]", 1, "invalid domain", id="domain-dquote"),
    pytest.param(with_domains("a'b.com"), "domains[0]", 1, "invalid domain", id="domain-squote"),
    pytest.param(with_domains("a.com\nb"), "domains[0]", 1, "invalid domain", id="domain-newline"),
    pytest.param(with_domains("a_b.com"), "domains[0]", 1, "invalid domain", id="domain-under"),
    pytest.param(with_domains("a..com"), "domains[0]", 1, "each label", id="domain-empty-label"),
    pytest.param(with_domains("a" * 64 + ".com"), "domains[0]", 1, "1 to 63", id="domain-label-64"),
    pytest.param(
        with_domains(".".join(["a" * 63] * 4)), "domains[0]", 1, "1 to 253", id="domain-254"
    ),
    pytest.param(with_domains("-a.com"), "domains[0]", 1, "not starting", id="domain-lead-dash"),
    pytest.param(with_domains("a-.com"), "domains[0]", 1, "ending with", id="domain-trail-dash"),
    pytest.param(with_domains("*.a.com"), "domains[0]", 1, "wildcard", id="domain-wildcard"),
    pytest.param(with_domains("10.0.0.1"), "domains[0]", 1, "IP address", id="domain-ipv4"),
    pytest.param(
        with_domains("a.com", "b.com", "::1"), "domains[2]", 1, "invalid domain", id="domain-ipv6"
    ),
    pytest.param("domains: [1]\n" + APP, "domains[0]", 1, "expected a string", id="domain-int"),
    pytest.param(
        "domains:\n  - a.com\n  - A.com.\n" + APP, "domains[1]", 3, "listed twice", id="domain-dup"
    ),
    pytest.param(
        with_domains(*[f"d{i}.example.com" for i in range(101)]),
        "domains",
        1,
        "at most 100",
        id="domains-101",
    ),
    pytest.param(
        "domains: [a.com]\ndomains: [b.com]\n" + APP,
        "domains",
        2,
        "duplicate key 'domains'",
        id="yaml-duplicate-key",
    ),
    pytest.param(
        with_app_line("env: {A: x, A: y}"), "app.env.A", 5, "duplicate key", id="env-dup-key"
    ),
    pytest.param(
        "x: &d [a.com]\ndomains: *d\n" + APP, None, 1, "anchors and aliases", id="yaml-alias"
    ),
    pytest.param(BILLION_LAUGHS, None, 1, "anchors and aliases", id="yaml-billion-laughs"),
    pytest.param(
        MINIMAL.replace("blog:app", '"blog:app; rm -rf /"'),
        "app.wsgi",
        4,
        "invalid wsgi target",
        id="wsgi-semicolon",
    ),
    pytest.param(
        MINIMAL.replace("blog:app", '"blog:app $(reboot)"'),
        "app.wsgi",
        4,
        "invalid wsgi target",
        id="wsgi-subshell",
    ),
    pytest.param(
        MINIMAL.replace("blog:app", '"blog:app\\n--bind=0.0.0.0:80"'),
        "app.wsgi",
        4,
        "invalid wsgi target",
        id="wsgi-newline",
    ),
    pytest.param(
        MINIMAL.replace("blog:app", '"blog : app"'), "app.wsgi", 4, "module:name", id="wsgi-spaces"
    ),
    pytest.param(
        MINIMAL.replace("blog:app", "\"blog:create_app(open('x'))\""),
        "app.wsgi",
        4,
        "is not a literal",
        id="wsgi-args",
    ),
    pytest.param(
        MINIMAL.replace("blog:app", "blog:app:x"), "app.wsgi", 4, "invalid wsgi", id="wsgi-2-colons"
    ),
    pytest.param(
        MINIMAL.replace("blog:app", "42"), "app.wsgi", 4, "expected a string", id="wsgi-int"
    ),
    pytest.param(with_app_line("workers: 0"), "app.workers", 5, "1 to 64", id="workers-0"),
    pytest.param(with_app_line("workers: 65"), "app.workers", 5, "1 to 64", id="workers-65"),
    pytest.param(with_app_line("workers: many"), "app.workers", 5, "'auto'", id="workers-many"),
    pytest.param(with_app_line("workers: true"), "app.workers", 5, "'auto'", id="workers-true"),
    pytest.param(with_app_line("workers: 2.5"), "app.workers", 5, "whole", id="workers-float"),
    pytest.param(with_app_line('workers: "4"'), "app.workers", 5, "whole", id="workers-string"),
    pytest.param(with_app_line("env: {1A: x}"), "app.env.1A", 5, "variable name", id="env-1A"),
    pytest.param(with_app_line("env: {A-B: x}"), "app.env.A-B", 5, "variable name", id="env-A-B"),
    pytest.param(
        with_app_line('env: {A: "x\\nuser=root"}'), "app.env.A", 5, "'\\n'", id="env-newline"
    ),
    pytest.param(with_app_line('env: {A: "x\\ry"}'), "app.env.A", 5, "'\\r'", id="env-cr"),
    pytest.param(with_app_line('env: {A: "x\\0y"}'), "app.env.A", 5, "'\\x00'", id="env-nul"),
    pytest.param(with_app_line('env: {A: "x\\"y"}'), "app.env.A", 5, "'\"'", id="env-dquote"),
    pytest.param(with_app_line('env: {A: "x\'y"}'), "app.env.A", 5, '"\'"', id="env-squote"),
    pytest.param(with_app_line('env: {A: "x ;y"}'), "app.env.A", 5, "' ;'", id="env-space-semi"),
    pytest.param(with_app_line('env: {A: "x #y"}'), "app.env.A", 5, "' #'", id="env-space-hash"),
    pytest.param(with_app_line('env: {A: "x\\t;y"}'), "app.env.A", 5, "'\\t;'", id="env-tab-semi"),
    pytest.param(with_app_line("env: {A: true}"), "app.env.A", 5, "a boolean", id="env-bool"),
    pytest.param(with_app_line("env: {A: no}"), "app.env.A", 5, "a boolean", id="env-bool-no"),
    pytest.param(with_app_line("env: {A: null}"), "app.env.A", 5, "got null", id="env-null"),
    pytest.param(with_app_line("env: {A: [x]}"), "app.env.A", 5, "got a list", id="env-list"),
    pytest.param(with_app_line("env: [A]"), "app.env", 5, "expected a mapping", id="env-list-top"),
    pytest.param(with_top_line("static: {/: x}"), "static./", 5, "static prefix", id="static-/"),
    pytest.param(
        with_top_line("static: {static: x}"), "static.static", 5, "static prefix", id="static-bare"
    ),
    pytest.param(
        with_top_line("static: {/static: x}"), "static./static", 5, "ending with", id="static-nosl"
    ),
    pytest.param(
        with_top_line("static: {/../x/: x}"), "static./../x/", 5, "static prefix", id="static-dots"
    ),
    pytest.param(
        with_top_line("static: {/a/./b/: x}"), "static./a/./b/", 5, "prefix", id="static-dot"
    ),
    pytest.param(
        with_top_line("static: {/a b/: x}"), "static./a b/", 5, "static prefix", id="static-space"
    ),
    pytest.param(
        with_top_line("static: {/.well-known/x/: x}"),
        "static./.well-known/x/",
        5,
        "reserved for hostd",
        id="static-well-known",
    ),
    pytest.param(
        with_top_line('static: {/s/: "my files"}'), "static./s/", 5, "characters", id="static-sp"
    ),
    pytest.param(
        with_top_line('static: {/s/: "/srv/a\\"b"}'), "static./s/", 5, "characters", id="path-dq"
    ),
    pytest.param(
        with_top_line("static: {/s/: /srv/it's}"), "static./s/", 5, "characters", id="path-sq"
    ),
    pytest.param(
        MINIMAL.replace("/srv/apps/blog", '"/srv/apps/my blog"'),
        "app.root",
        3,
        "characters",
        id="root-space",
    ),
    pytest.param(
        MINIMAL.replace("/srv/apps/blog", '"/srv/apps/b;log"'),
        "app.root",
        3,
        "characters",
        id="root-semicolon",
    ),
    pytest.param(
        MINIMAL.replace("/srv/apps/blog", '""'), "app.root", 3, "non-empty", id="root-empty"
    ),
    pytest.param(
        MINIMAL.replace("/srv/apps/blog", "null"), "app.root", 3, "got null", id="root-null"
    ),
    pytest.param(with_app_line('venv: "/srv/v{1}"'), "app.venv", 5, "characters", id="venv-brace"),
    pytest.param(with_top_line("tls: on"), "tls", 5, "'off' or 'auto'", id="tls-on"),
    pytest.param(with_top_line("tls: yes"), "tls", 5, "'off' or 'auto'", id="tls-yes"),
    pytest.param(with_top_line("tls: true"), "tls", 5, "'off' or 'auto'", id="tls-true"),
    pytest.param(with_top_line("tls: [auto]"), "tls", 5, "single value", id="tls-list"),
    pytest.param(with_app_line("user: Root"), "app.user", 5, "invalid user name", id="user-upper"),
    pytest.param(with_app_line('user: "a b"'), "app.user", 5, "invalid user name", id="user-space"),
    pytest.param(with_app_line("user: 1000"), "app.user", 5, "expected a string", id="user-uid"),
    pytest.param(with_app_line("health: healthz"), "app.health", 5, "health path", id="health-rel"),
    pytest.param(
        with_app_line('health: "/a b"'), "app.health", 5, "invalid health path", id="health-space"
    ),
    pytest.param(
        with_app_line('health: "/a;b"'), "app.health", 5, "invalid health path", id="health-semi"
    ),
]


@pytest.mark.parametrize(("text", "key", "line", "fragment"), BAD)
def test_a_bad_site_file_is_rejected_with_its_line_and_key(
    text: str, key: str | None, line: int | None, fragment: str
) -> None:
    """A rejected value names the file, the line and the key path, and says what is wrong."""
    with pytest.raises(SiteError) as caught:
        parse_site(FILE, text)
    error = caught.value
    assert (error.key, error.line) == (key, line)
    assert fragment in error.message
    assert error.file == FILE
    assert str(error).startswith(str(FILE))


def test_the_error_message_reads_file_line_key_message() -> None:
    """The one-line form an operator sees is `file:line: key: message`."""
    with pytest.raises(SiteError) as caught:
        parse_site(FILE, with_app_line("workers: 0"))
    assert str(caught.value) == (
        "/srv/sites.d/blog.yaml:5: app.workers: "
        "workers must be 'auto' or a whole number from 1 to 64"
    )


@pytest.mark.parametrize(
    "name", ["Blog.yaml", "a.b.yaml", "-x.yaml", "a_b.yaml", "x" * 64 + ".yaml", ".yaml"]
)
def test_a_badly_named_site_file_is_rejected(name: str) -> None:
    """The file's stem is the site name, so a name nginx or Supervisor cannot take is refused."""
    file = Path("/srv/sites.d") / name
    with pytest.raises(SiteError) as caught:
        parse_site(file, MINIMAL)
    assert (caught.value.file, caught.value.key, caught.value.line) == (file, None, None)
    assert "bad site name" in caught.value.message
    assert str(caught.value).startswith(str(file))


@pytest.mark.parametrize("name", ["a", "blog", "x" * 63, "0day", "my-blog-2"])
def test_a_well_named_site_file_gives_its_stem_as_the_site_name(name: str) -> None:
    """Lowercase letters, digits and '-', up to 63 characters, make a site name."""
    assert parse_site(Path(f"/srv/sites.d/{name}.yaml"), MINIMAL).name == name


def sites_with_domains(**domains: list[str]) -> dict[str, Site]:
    return {
        name: parse_site(Path(f"/srv/sites.d/{name}.yaml"), with_domains(*names))
        for name, names in domains.items()
    }


def test_a_domain_claimed_by_two_sites_stays_with_its_holder() -> None:
    """The site already serving a domain keeps it; the newcomer's error names both files."""
    sites = sites_with_domains(alpha=["x.com", "shared.com"], beta=["shared.com"])
    errors = duplicate_domain_errors(sites, holders={"shared.com": "beta"})
    assert list(errors) == ["alpha"]
    error = errors["alpha"]
    assert (error.file, error.key, error.line) == (
        Path("/srv/sites.d/alpha.yaml"),
        "domains[1]",
        1,
    )
    assert "'shared.com' is already served by site 'beta' (/srv/sites.d/beta.yaml)" in str(error)
    assert str(error).startswith("/srv/sites.d/alpha.yaml:1: domains[1]:")


def test_among_new_claimants_the_first_site_name_keeps_the_domain() -> None:
    """Without a holder the order is by site name, so the outcome never depends on timing."""
    sites = sites_with_domains(gamma=["d.com"], beta=["d.com"], alpha=["d.com"])
    errors = duplicate_domain_errors(sites, holders={})
    assert sorted(errors) == ["beta", "gamma"]
    assert all("site 'alpha'" in e.message for e in errors.values())


def test_distinct_domains_give_no_errors() -> None:
    """Sites with their own domains do not disturb each other."""
    sites = sites_with_domains(alpha=["a.com"], beta=["b.com", "www.b.com"])
    assert duplicate_domain_errors(sites, holders={"a.com": "alpha"}) == {}
