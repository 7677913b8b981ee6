"""The published JSON Schema: made from the parser's key table, shipped, and true to every
example and golden site file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from hostd.cli.authoring import SCHEMA_FILE
from hostd.core import sitekeys
from hostd.core.schema import site_schema
from hostd.core.site import parse_site
from hostd.core.starter import starter_site
from hostd.errors import SiteError

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = sorted((ROOT / "sites.d").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "cases").glob("*/site.yaml")
)
VALIDATOR = jsonschema.Draft202012Validator(site_schema())


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(site_schema())


def test_the_shipped_schema_file_is_the_generated_one() -> None:
    """hostd/site.schema.json (in the wheel) is what `hostd schema` prints; after a change to
    the key table: `hostd schema > hostd/site.schema.json`."""
    assert json.loads(SCHEMA_FILE.read_text()) == site_schema()


def test_there_are_example_and_golden_files() -> None:
    assert len(EXAMPLES) >= 7, EXAMPLES


@pytest.mark.parametrize("file", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_and_golden_site_file_is_valid_against_the_schema(file: Path) -> None:
    errors = [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(file.read_text()))]
    assert errors == []


def test_the_starter_file_is_valid_against_the_schema_and_the_parser() -> None:
    text = starter_site("shop", "shop.example.com", "/x/site.schema.json")
    assert text.startswith("# yaml-language-server: $schema=/x/site.schema.json\n")
    assert list(VALIDATOR.iter_errors(yaml.safe_load(text))) == []
    site = parse_site(Path("/srv/sites/shop.yaml"), text)
    assert site.domains == ("shop.example.com",)


@pytest.mark.parametrize(
    "text",
    [
        "colour: blue\n",
        "max_body: 1t\n",
        "rate_limit: {burst: 3}\n",
        "headers: {Server: x}\n",
        "paths: {/admin: {basic_auth: true}}\n",
        "tls: on\n",
    ],
)
def test_the_schema_refuses_what_the_parser_refuses(text: str) -> None:
    full = "domains: [a.com]\napp: {root: /srv/a, wsgi: 'a:app'}\n" + text
    with pytest.raises(SiteError):
        parse_site(Path("/srv/sites/a.yaml"), full)
    assert list(VALIDATOR.iter_errors(yaml.safe_load(full))), "the schema lets it through"


@pytest.mark.parametrize("parent", ["", "app"])
def test_the_parser_allows_exactly_the_keys_of_the_table(parent: str) -> None:
    """A key added to the parser without its table entry (or the other way) fails here."""
    text = "domains: [a.com]\napp: {root: /srv/a, wsgi: 'a:app', zzz: 1}\n"
    if not parent:
        text = "domains: [a.com]\nzzz: 1\napp: {root: /srv/a, wsgi: 'a:app'}\n"
    with pytest.raises(SiteError) as caught:
        parse_site(Path("/srv/sites/a.yaml"), text)
    listed = re.search(r"allowed here: ([^)]*)", caught.value.message)
    assert listed, caught.value.message
    assert set(listed.group(1).split(", ")) == sitekeys.allowed(parent)
