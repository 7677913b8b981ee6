"""Properties of the schema: no metacharacter gets through any field, `%` survives Supervisor.

Hypothesis generates the values, with a fixed budget and a fixed seed so CI runs
the same examples every time.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hostd.core.facts import HostFacts
from hostd.core.layout import embedded_layout
from hostd.core.render import render_program
from hostd.core.site import Site, parse_site
from hostd.errors import SiteError

FILE = Path("/srv/sites.d/alpha.yaml")
BUDGET = settings(max_examples=60, deadline=None, derandomize=True, database=None)

# nginx, ini and shell metacharacters: never in any field but an environment value
META = [";", "{", "}", '"', "'", "\n", "\r", "\0", "$", "`", "%", " #", " ;", "\\", "\t"]
# what Supervisor's `environment=` cannot carry; `%` is doubled, `;`/`#` alone are fine
ENV_META = ['"', "'", "\n", "\r", "\0", " #", " ;", "\t#", "\t;", "%(here)s"]


def quoted(value: str) -> str:
    """`value` as a YAML double-quoted scalar, everything but printable ASCII escaped."""
    out = []
    for char in value:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def site_text(
    *,
    domain: str = '"alpha.example.com"',
    app: dict[str, str] | None = None,
    extra: str = "",
) -> str:
    """A valid site file with `app` entries (already YAML) replaced or added."""
    entries = {"root": "/srv/apps/alpha", "wsgi": "alpha:app", **(app or {})}
    lines = [f"domains: [{domain}]", "app:", *(f"  {k}: {v}" for k, v in entries.items())]
    return "\n".join(lines) + "\n" + extra


@dataclass(frozen=True)
class Slot:
    """A place in a site file where a generated value goes, and the key path it has."""

    text: Callable[[str], str]
    key: Callable[[str], str]
    trimmed: bool = False  # surrounding whitespace is dropped (YAML block scalars end in \n)


SLOTS: dict[str, Slot] = {
    "domain": Slot(lambda v: site_text(domain=quoted(v)), lambda v: "domains[0]", trimmed=True),
    "root": Slot(lambda v: site_text(app={"root": quoted(v)}), lambda v: "app.root"),
    "wsgi": Slot(lambda v: site_text(app={"wsgi": quoted(v)}), lambda v: "app.wsgi", True),
    "venv": Slot(lambda v: site_text(app={"venv": quoted(v)}), lambda v: "app.venv"),
    "workers": Slot(lambda v: site_text(app={"workers": quoted(v)}), lambda v: "app.workers"),
    "user": Slot(lambda v: site_text(app={"user": quoted(v)}), lambda v: "app.user"),
    "health": Slot(lambda v: site_text(app={"health": quoted(v)}), lambda v: "app.health"),
    "env key": Slot(lambda v: site_text(app={"env": f"{{{quoted(v)}: x}}"}), "app.env.{}".format),
    "static prefix": Slot(
        lambda v: site_text(extra=f"static: {{{quoted(v)}: /srv/static}}\n"), "static.{}".format
    ),
    "static folder": Slot(
        lambda v: site_text(extra=f"static: {{/s/: {quoted(v)}}}\n"), lambda v: "static./s/"
    ),
    "tls": Slot(lambda v: site_text(extra=f"tls: {quoted(v)}\n"), lambda v: "tls", trimmed=True),
}
ENV_VALUE = Slot(lambda v: site_text(app={"env": f"{{GREETING: {quoted(v)}}}"}), lambda v: "")

# any character a YAML file can carry escaped (no surrogates)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
FIELD_TEXT = st.text(st.characters(codec="ascii"), max_size=8) | TEXT


def with_one_of(marks: list[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda a, m, b: a + m + b, FIELD_TEXT, st.sampled_from(marks), FIELD_TEXT)


def has_any(value: str, marks: list[str]) -> bool:
    return any(mark in value for mark in marks)


@BUDGET
@given(slot=st.sampled_from(sorted(SLOTS)), value=with_one_of(META))
@example(slot="root", value="apps;/../alpha")  # normalising must not launder it
@example(slot="static folder", value="x`/..")
@example(slot="domain", value="alpha.example.com;")
@example(slot="env key", value="A B")
@example(slot="domain", value="x\n.com")  # `$` matched before a final newline: ".com" leaked
@example(slot="env key", value="A\n")
@example(slot="static folder", value="/srv/s\n")
def test_a_metacharacter_in_any_field_rejects_the_site_naming_that_field(
    slot: str, value: str
) -> None:
    """Whatever surrounds it, `;{}"'$%` and the like in a field make the site rejected there."""
    where = SLOTS[slot]
    if where.trimmed and not has_any(value.strip(), META):
        return  # only surrounding whitespace: trimmed away (see the next test)
    try:
        site = parse_site(FILE, where.text(value))
    except SiteError as exc:
        assert exc.key == where.key(value), (exc.key, str(exc))
        assert exc.file == FILE and exc.line is not None
        return
    raise AssertionError(f"{slot} {value!r} was accepted: {site}")


@BUDGET
@given(slot=st.sampled_from(["domain", "wsgi", "tls"]), space=st.sampled_from(["\n", "\r\n", " "]))
def test_whitespace_around_a_name_is_trimmed_never_passed_on(slot: str, space: str) -> None:
    """A block scalar's trailing newline around a domain, target or tls value goes nowhere."""
    value = {"domain": "alpha.example.com", "wsgi": "alpha:app", "tls": "auto"}[slot]
    site = parse_site(FILE, SLOTS[slot].text(space + value + space))
    got = {"domain": site.domains[0], "wsgi": site.app.wsgi, "tls": site.tls.value}[slot]
    assert got == value


@BUDGET
@given(value=with_one_of(ENV_META))
def test_an_environment_value_supervisor_cannot_carry_is_rejected(value: str) -> None:
    """Quotes, NUL, newlines and a `;`/`#` after whitespace in an env value are refused."""
    try:
        parse_site(FILE, ENV_VALUE.text(value))
    except SiteError as exc:
        assert exc.key == "app.env.GREETING", str(exc)
        return
    raise AssertionError(f"env value {value!r} was accepted")


# anything else, control characters and Unicode spaces included
SAFE_ENV_VALUE = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\"'\0\r\n"), max_size=30
).filter(lambda v: not re.search(r"\s[;#]|%\(here\)s", v))


@BUDGET
@given(env=st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True),
                           SAFE_ENV_VALUE | st.just("100%"), max_size=4))  # fmt: skip
@example(env={"MSG": "50% off;100%% sure#1", "URL": "a=b,c=d", "X": "%(ENV_HOME)s"})
def test_an_accepted_environment_reaches_the_app_exactly(env: dict[str, str]) -> None:
    """Every env value the schema accepts, `%` and `;` included, is what Supervisor reads back."""
    entries = ", ".join(f"{quoted(key)}: {quoted(value)}" for key, value in env.items())
    text = site_text(app={"env": "{" + entries + "}"})
    site = parse_site(FILE, text)
    assert dict(site.app.env) == env
    base = {"PYTHONUNBUFFERED": "1", "PATH": "/usr/local/bin:/usr/bin:/bin", "HOSTD_SITE": "alpha"}
    assert supervisor_environment(site) == {**base, **env}


def supervisor_environment(site: Site) -> dict[str, str]:
    """The environment Supervisor's own parser reads from the site's program file."""
    from supervisor.options import ServerOptions

    with tempfile.TemporaryDirectory(prefix="hd-prop-") as folder:
        layout = embedded_layout(Path(folder))
        layout.site_log_dir(site.name).mkdir(parents=True)
        program = render_program(site, HostFacts(layout=layout))
        main = Path(folder) / "supervisord.conf"
        (Path(folder) / "alpha.conf").write_text(program)
        main.write_text(
            f"[supervisord]\nlogfile={folder}/s.log\npidfile={folder}/s.pid\n"
            f"[include]\nfiles = {folder}/alpha.conf\n"
        )
        options = ServerOptions()
        options.configfile = str(main)
        options.process_config(do_usage=False)
        [group] = options.process_group_configs
        [process] = group.process_configs
        return dict(process.environment)
