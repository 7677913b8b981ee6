"""env_file syntax: every character a secret may hold, and errors that never show a value."""

from __future__ import annotations

import pytest

from hostd.core.dotenv import DotenvError, digest, parse_dotenv


def test_quoting_styles_and_comments() -> None:
    text = (
        "# a comment\n\nA=plain value  # trailing comment\nexport B='it is \"raw\" \\n'\n"
        'C="line\\nbreak \\"q\\" \\\\ \\$x"  # c\nD=\nE=a#b\n'
    )
    assert parse_dotenv(text) == {
        "A": "plain value",
        "B": 'it is "raw" \\n',
        "C": 'line\nbreak "q" \\ $x',
        "D": "",
        "E": "a#b",
    }


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("A=1\n1B=hunter2\n", 2, "expected NAME=value"),
        ("A=1\nA=hunter2\n", 2, "A is set twice"),
        ("A='hunter2\n", 1, "no closing quote"),
        ('A="hunter2\n', 1, "no closing quote"),
        ('A="hunter2\\q"\n', 1, "unknown escape"),
        ("A='x' hunter2\n", 1, "text after"),
        ("just hunter2\n", 1, "expected NAME=value"),
    ],
)
def test_a_bad_line_is_named_without_its_value(text: str, line: int, fragment: str) -> None:
    with pytest.raises(DotenvError) as caught:
        parse_dotenv(text)
    assert caught.value.line == line and fragment in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_digest_changes_with_the_file() -> None:
    assert digest("A=1\n") != digest("A=2\n") and len(digest("A=1\n")) == 16
