"""The bad-input corpus against a live instance: each bad file is refused, nothing moves.

One `hostd up` serves two sites for the whole module. Each case writes one bad
file (a new version of the live site `alpha`, or a new file where the class
needs one), runs one `hostd reload`, and checks: the site is rejected by name
with its file, line and key path; `alpha` and `beta` keep serving with the same
gunicorn masters; a new bad file serves nothing. Parse-level cases come from the
unit table in tests/unit/test_model.py (here they go through the real loader and
CLI); the rest need files, folders or other sites. (A file name cannot hold a path,
so traversal through the site name is impossible; dots, uppercase and length are
the name's cases.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from tests.unit.test_model import BAD

from .harness import APPS, HostdUp, site_yaml

GOOD_ALPHA_BODY = "alpha says good\n"
BETA_BODY = "beta says hello\n"
SITES = ("alpha", "beta")


@dataclass(frozen=True)
class Case:
    """A file to write, and how its rejection must read."""

    content: str | bytes
    fragment: str  # in the message
    key: str | None = None
    line: int | None = None
    file: str = "alpha.yaml"
    reported_as: str = "alpha"  # the name on the output line (the file name if it has no site name)
    held: bool = True  # False: a new file, so nothing of it is served

    @property
    def unserved(self) -> str | None:
        """A domain only this new file names, which must get no answer."""
        if self.held or isinstance(self.content, bytes):
            return None
        return self.content.split("[", 1)[1].split(",")[0].split("]")[0].strip()


def alpha(folder: Path, /, **changes: str) -> str:
    """alpha's good file (7 lines plus static on line 8), with lines swapped by `changes`.

    1 domains  3 app.root  4 app.wsgi  5 app.workers  7 app.env.GREETING  8 static
    """
    lines = {
        "domains": "domains: [alpha.test]",
        "app": "app:",
        "root": f"  root: {APPS / 'probe'}",
        "wsgi": "  wsgi: 'probe:app'",
        "workers": "  workers: 1",
        "env": "  env:",
        "greeting": '    GREETING: "good"',
        "static": f"static: {{/files/: {folder / 'files'}}}",
    }
    lines.update(changes)
    return "\n".join(lines.values()) + "\n"


# parse-level cases of the unit table, through the real loader and CLI here
UNIT_IDS = [
    "yaml-unclosed", "yaml-tab", "yaml-two-docs", "empty", "list", "domains-str",
    "unknown-top", "unknown-app", "yaml-billion-laughs", "yaml-duplicate-key", "domain-semi",
    "domain-newline", "domain-label-64", "domain-254", "domain-wildcard", "domain-dup",
    "wsgi-semicolon", "wsgi-newline", "env-newline", "env-nul", "env-dquote", "env-space-semi",
    "static-dots", "static-well-known", "workers-0", "workers-65",
]  # fmt: skip
# id -> (text, key path, line, fragment of the message)
UNIT_CASES = {
    str(p.id): cast(tuple[str, str | None, int | None, str], tuple(p.values))
    for p in BAD
    if p.id in UNIT_IDS
}
assert len(UNIT_CASES) == len(UNIT_IDS)


def file_cases(root: Path) -> dict[str, Case]:
    """Cases that need the disk, other sites or odd file names, for an instance in `root`."""
    good = alpha(root)
    nowhere = "/nonexistent/hostd-test"
    return {
        "huge file (65 KiB)": Case(good + "#" + "x" * 65 * 1024 + "\n", "larger than 64 KiB"),
        "not UTF-8 (latin-1 on line 7)": Case(
            good.replace('"good"', '"g\xf6od"').encode("latin-1"), "not UTF-8", line=7
        ),
        "UTF-16 with a BOM": Case(good.encode("utf-16"), "not UTF-8", line=1),
        "NUL byte on line 4": Case(
            good.replace("'probe:app'", "'probe:app\0'"), "NUL character", line=4
        ),
        "IDNA label too long": Case(
            alpha(root, domains=f"domains: [alpha.test, {'ü' * 60}.test]"),
            "invalid internationalised domain", "domains[1]", 1,
        ),
        "IDNA invalid character": Case(
            alpha(root, domains='domains: [alpha.test, "a\\ufffdb.test"]'),
            "invalid internationalised domain", "domains[1]", 1,
        ),
        "wildcard at the end": Case(
            alpha(root, domains="domains: ['alpha.*']"), "wildcard", "domains[0]", 1
        ),
        "wsgi with backticks": Case(
            alpha(root, wsgi="  wsgi: 'probe:`id`'"), "invalid wsgi target", "app.wsgi", 4
        ),
        "wsgi with an option": Case(
            alpha(root, wsgi="  wsgi: 'probe:app --bind=0.0.0.0:80'"), "invalid wsgi", "app.wsgi", 4
        ),
        "env value with a recursive YAML alias": Case(
            alpha(root, env="  env: &e", greeting="    GREETING: *e"), "anchors and aliases", line=6
        ),
        "env key with '='": Case(
            alpha(root, greeting='    "A=B": x'), "variable name", "app.env.A=B", 7
        ),
        "workers negative": Case(alpha(root, workers="  workers: -1"), "1 to 64", "app.workers", 5),
        "root missing": Case(
            alpha(root, root=f"  root: {nowhere}"), "does not exist", "app.root", 3
        ),
        "root escaping to nowhere": Case(
            alpha(root, root="  root: ../../../../../../../nonexistent"),
            "does not exist", "app.root", 3,
        ),
        "root is a file": Case(
            alpha(root, root=f"  root: {APPS / 'probe' / 'probe.py'}"), "does not exist",
            "app.root", 3,
        ),
        "venv missing": Case(
            good.replace("  workers: 1", f"  workers: 1\n  venv: {nowhere}"),
            "gunicorn is missing", "app.venv", 6,
        ),
        "venv without gunicorn": Case(
            good.replace("  workers: 1", f"  workers: 1\n  venv: {root}"),
            "gunicorn is missing", "app.venv", 6,
        ),
        "module missing": Case(
            alpha(root, wsgi="  wsgi: 'no_such_module:app'"), "not found", "app.wsgi", 4
        ),
        "factory without ()": Case(
            alpha(root, wsgi="  wsgi: 'probe:create_app'"), "application factory", "app.wsgi", 4
        ),
        "static folder missing": Case(
            alpha(root, static=f"static: {{/files/: {nowhere}}}"), "does not exist",
            "static./files/", 8,
        ),
        "static folder with ';' laundered by '..'": Case(
            alpha(root, static=f"static: {{/files/: '{root}/x;/../files'}}"), "characters",
            "static./files/", 8,
        ),
        "static prefix with '..' escaping": Case(
            alpha(root, static=f"static: {{/files/../../: {root / 'files'}}}"),
            "static prefix", "static./files/../../", 8,
        ),
        "static prefix twice": Case(
            alpha(root, static=f"static: {{/files/: {root}, /files/: {root / 'files'}}}"),
            "duplicate key", "static./files/", 8,
        ),
        "domain of another site": Case(
            alpha(root, domains="domains: [alpha.test, beta.test]"),
            "'beta.test' is already served by site 'beta'", "domains[1]", 1,
        ),
        "new site with a live domain": Case(
            site_yaml(["zulu.test", "alpha.test"]),
            "'alpha.test' is already served by site 'alpha'", "domains[1]", 1,
            file="zulu.yaml", reported_as="zulu", held=False,
        ),
        "site defined twice (.yml)": Case(
            good, "site 'alpha' is defined twice: alpha.yaml and alpha.yml", file="alpha.yml"
        ),
        "name with uppercase": Case(
            site_yaml(["upper.test"]), "bad site name 'Upper'", file="Upper.yaml",
            reported_as="Upper.yaml", held=False,
        ),
        "name with dots": Case(
            site_yaml(["dots.test"]), "bad site name 'do.ts'", file="do.ts.yaml",
            reported_as="do.ts.yaml", held=False,
        ),
        "name of 64 characters": Case(
            site_yaml(["long.test"]), "bad site name", file="x" * 64 + ".yaml",
            reported_as="x" * 64 + ".yaml", held=False,
        ),
        "name with an underscore": Case(
            site_yaml(["under.test"]), "bad site name 'a_b'", file="a_b.yaml",
            reported_as="a_b.yaml", held=False,
        ),
        "name starting with '-'": Case(
            site_yaml(["dash.test"]), "bad site name '-dash'", file="-dash.yaml",
            reported_as="-dash.yaml", held=False,
        ),
    }  # fmt: skip


# an env value that looks risky but is fine: `%` (doubled for Supervisor, even before
# "(ENV_HOME)s"), `;` and `#` without a space before them, `$` and braces
RISKY_BUT_SAFE = "50% off;a#b ${HOME}{x} %(ENV_HOME)s 100%%"


@dataclass
class Corpus:
    up: HostdUp
    masters: dict[str, int]


def masters(up: HostdUp) -> dict[str, int]:
    """Each site's gunicorn master pid, as its app reports it through nginx."""
    return {site: up.get(f"{site}.test", "/info").json()["master_pid"] for site in SITES}


@pytest.fixture(scope="module")
def corpus() -> Iterator[Corpus]:
    """One instance serving `alpha` (the site every case changes) and `beta`."""
    up = HostdUp()
    try:
        (up.root / "files").mkdir(parents=True)
        (up.root / "files" / "hello.txt").write_text("static hello\n")
        up.write_site("alpha", alpha(up.root))
        up.write_site("beta", site_yaml(["beta.test"]))
        up.start()
        assert up.get("alpha.test").body == GOOD_ALPHA_BODY
        yield Corpus(up, masters(up))
    finally:
        print(up.log()[-5000:])
        strays = up.cleanup()
    assert not strays, f"processes left behind: {strays}"


@pytest.fixture
def clean(corpus: Corpus) -> Iterator[Corpus]:
    """After a case: only alpha's good file and beta's are in the folder again."""
    yield corpus
    up = corpus.up
    for path in up.sites.iterdir():
        if path.name not in ("alpha.yaml", "beta.yaml"):
            path.unlink()
    up.write_site("alpha", alpha(up.root))


def live_generation(up: HostdUp) -> str:
    return os.readlink(up.home / "state" / "live")


def write(up: HostdUp, name: str, content: str | bytes) -> Path:
    path = up.sites / name
    tmp = up.sites / f".{name}.tmp"
    if isinstance(content, bytes):
        tmp.write_bytes(content)
    else:
        tmp.write_text(content)
    tmp.replace(path)
    return path


def expect_rejected(corpus: Corpus, case: Case) -> None:
    up = corpus.up
    path = write(up, case.file, case.content)
    before = live_generation(up)
    done = up.reload()
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    prefix = f"{case.reported_as}: rejected "
    [line] = [text for text in done.stdout.splitlines() if text.startswith(prefix)] or [out]
    state = "serving its last good version" if case.held else "not served"
    where = f"{path}" + (f":{case.line}" if case.line else "") + ":"
    where += f" {case.key}:" if case.key else ""
    assert line.startswith(f"{prefix}({state}): {where} "), line
    assert case.fragment in line, line
    assert live_generation(up) == before, "a rejected file must not make a new generation"
    # nothing moved: both sites serve their last good versions from the same masters
    assert up.get("alpha.test").body == GOOD_ALPHA_BODY
    assert up.get("beta.test").body == BETA_BODY
    assert masters(up) == corpus.masters
    if case.unserved:
        with pytest.raises(ConnectionError):
            up.get(case.unserved)


@pytest.mark.parametrize("case_id", UNIT_IDS)
def test_a_bad_version_from_the_schema_table_is_rejected_and_nothing_moves(
    clean: Corpus, case_id: str
) -> None:
    """Each parse-level bad file, as alpha's new version: rejected at its line and key."""
    text, key, line, fragment = UNIT_CASES[case_id]
    expect_rejected(clean, Case(text, fragment, key, line))


FILE_CASES = list(file_cases(Path("/tmp/ids")))


def test_the_corpus_has_at_least_40_files() -> None:
    """The issue asks for at least 40 bad files across its classes."""
    assert len(UNIT_IDS) + len(FILE_CASES) >= 40


@pytest.mark.parametrize("case_id", FILE_CASES)
def test_a_bad_file_is_rejected_by_name_and_nothing_moves(clean: Corpus, case_id: str) -> None:
    """Files the disk, other sites or the file name make bad: rejected, the rest serves on."""
    expect_rejected(clean, file_cases(clean.up.root)[case_id])


def test_a_risky_looking_value_that_is_safe_is_served_as_written(clean: Corpus) -> None:
    """`%`, `;`, `#`, `$` and braces in an env value reach the app unchanged; beta never moves."""
    up = clean.up
    up.write_site("alpha", alpha(up.root, greeting=f"    GREETING: {json.dumps(RISKY_BUT_SAFE)}"))
    done = up.reload()
    assert done.returncode == 0 and "alpha: changed" in done.stdout, done.stdout + done.stderr
    assert up.get("alpha.test").body == f"alpha says {RISKY_BUT_SAFE}\n"
    assert up.get("beta.test").body == BETA_BODY
    assert masters(up)["beta"] == clean.masters["beta"]
    up.write_site("alpha", alpha(up.root))
    assert up.reload().returncode == 0
    assert up.get("alpha.test").body == GOOD_ALPHA_BODY
    clean.masters.update(masters(up))  # alpha restarted twice: a new master, same contract


def test_an_idna_domain_is_served_under_its_punycode_name(clean: Corpus) -> None:
    """An internationalised domain is accepted and answers on its xn-- form."""
    up = clean.up
    up.write_site("alpha", alpha(up.root, domains="domains: [alpha.test, bücher.test]"))
    done = up.reload()
    assert done.returncode == 0, done.stdout + done.stderr
    assert up.get("xn--bcher-kva.test").body == GOOD_ALPHA_BODY
    assert up.get("alpha.test", "/files/hello.txt").body == "static hello\n"
    up.write_site("alpha", alpha(up.root))
    assert up.reload().returncode == 0
    with pytest.raises(ConnectionError):
        up.get("xn--bcher-kva.test")
    assert masters(up) == clean.masters  # nginx-only change: no program restarted
