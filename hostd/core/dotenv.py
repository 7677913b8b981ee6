"""Reading a dotenv file (`env_file:`) without ever repeating a value. Pure.

    # comment
    NAME=value            # unquoted: up to the end of the line, spaces trimmed
    export NAME=value     # `export ` is allowed and ignored
    NAME='any "text" \\n' # single quotes: exactly as written
    NAME="a\\nb \\" \\\\"   # double quotes: \\n \\t \\r \\" \\\\ and \\$ are escapes

Values may hold any character (a newline through "\\n"); errors name the line and
at most the variable's name, never its value.
"""

from __future__ import annotations

import hashlib
import re

from hostd.errors import HostdError

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
SECRET = "<secret>"
MAX_ENV_FILE = 256 * 1024
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


class DotenvError(HostdError):
    """A line of an env file that cannot be read; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def parse_dotenv(text: str) -> dict[str, str]:
    """Name -> value of every variable in `text`."""
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, rest = line.partition("=")
        name = name.strip()
        if not sep or not NAME.match(name):
            raise DotenvError(number, "expected NAME=value with a name of letters, digits and _")
        if name in out:
            raise DotenvError(number, f"{name} is set twice")
        out[name] = _value(rest.strip(), number, name)
    return out


def _value(rest: str, number: int, name: str) -> str:
    if rest[:1] == "'":
        end = rest.find("'", 1)
        if end < 0:
            raise DotenvError(number, f"the value of {name} has no closing quote")
        _only_comment(rest[end + 1 :], number, name)
        return rest[1:end]
    if rest[:1] == '"':
        out: list[str] = []
        i = 1
        while i < len(rest):
            char = rest[i]
            if char == "\\" and i + 1 < len(rest):
                escaped = _ESCAPES.get(rest[i + 1])
                if escaped is None:
                    raise DotenvError(number, f"unknown escape in the value of {name}")
                out.append(escaped)
                i += 2
                continue
            if char == '"':
                _only_comment(rest[i + 1 :], number, name)
                return "".join(out)
            out.append(char)
            i += 1
        raise DotenvError(number, f"the value of {name} has no closing quote")
    value = re.split(r"\s+#", rest, maxsplit=1)[0]
    return value.strip()


def _only_comment(tail: str, number: int, name: str) -> None:
    tail = tail.strip()
    if tail and not tail.startswith("#"):
        raise DotenvError(number, f"text after the quoted value of {name}")


def digest(text: str) -> str:
    """What changes when the file's variables change: for the program's command line."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]
