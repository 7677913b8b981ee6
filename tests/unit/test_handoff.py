"""The handed reload's light parts: its command line read by hand as the command's
parser reads it, the run folder found by name as the layout finds it, the request
written by hand as JSON would write it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hostd.cli import build_parser
from hostd.cli.handoff import read_reload_arguments
from hostd.core.layout import layout_for
from hostd.core.run_folder import UP_LOCK, run_folder
from hostd.edges.reload_inbox import Request, _request_text

READ_ALIKE = [
    ["alpha"],
    ["alpha", "beta", "--json"],
    ["--json", "alpha"],
    ["--home", "/srv/h", "alpha"],
    ["--home=/srv/h", "alpha"],
    ["alpha", "--root", "/tmp/r"],
    ["--root=/tmp/r", "--home", "rel/h", "alpha"],
]
LEFT_TO_THE_PARSER = [
    [],  # no site: every site is reloaded, in the command
    ["--json"],
    ["--ho", "/srv/h", "alpha"],  # an abbreviation argparse accepts
    ["--home"],
    ["--home", "--json", "alpha"],
    ["alpha", "--verbose"],
    ["--", "alpha"],
    ["-h"],
]


@pytest.mark.parametrize("argv", READ_ALIKE, ids=" ".join)
def test_what_the_handoff_reads_the_commands_parser_reads_alike(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOSTD_HOME", raising=False)
    monkeypatch.delenv("HOSTD_ROOT", raising=False)
    args = build_parser().parse_args(["reload", *argv])
    assert read_reload_arguments(argv) == (args.home, args.root or "/", args.json, args.sites)


@pytest.mark.parametrize("argv", LEFT_TO_THE_PARSER, ids=lambda a: " ".join(a) or "nothing")
def test_what_the_handoff_is_not_sure_of_goes_to_the_parser(argv: list[str]) -> None:
    assert read_reload_arguments(argv) is None


def test_the_handoff_takes_home_and_root_from_the_environment_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOSTD_HOME", "/srv/h")
    monkeypatch.setenv("HOSTD_ROOT", "/tmp/r")
    assert read_reload_arguments(["alpha"]) == ("/srv/h", "/tmp/r", False, ["alpha"])
    assert read_reload_arguments(["--home", "/x", "alpha"]) == ("/x", "/tmp/r", False, ["alpha"])


@pytest.mark.parametrize("home", [None, Path("/srv/h"), Path("rel/h")])
def test_the_run_folder_by_name_is_the_layouts(home: Path | None, tmp_path: Path) -> None:
    layout = layout_for(home, root=tmp_path)
    found = run_folder(str(home) if home else None, str(tmp_path))
    assert Path(found) == layout.run_dir
    assert Path(found, UP_LOCK) == layout.up_lock


@pytest.mark.parametrize("sites", [["alpha"], ["a-1", "b_2.x"], ['we"ird', "ü"]])
@pytest.mark.parametrize("as_json", [True, False])
def test_a_request_written_by_hand_is_the_json_of_it(sites: list[str], as_json: bool) -> None:
    text = _request_text(Request("1-a", sites, as_json))
    assert json.loads(text) == {"sites": sites, "json": as_json}
