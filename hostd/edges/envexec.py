"""Start a site's program with the variables of its env file: `python -m hostd.edges.envexec`.

    python -m hostd.edges.envexec [--digest D] FILE -- COMMAND [ARG...]

Supervisor runs this in front of gunicorn (or a worker process) of a site with
`env_file:`, as the site's user: it reads FILE, adds its variables to the
environment and replaces itself with COMMAND (same pid, so Supervisor signals the
program itself). The values travel in no generated file and no command line;
`--digest` only makes a change of the file a change of the command. Errors name
the file and line, never a value.
"""

from __future__ import annotations

import os
import sys

from hostd.core.dotenv import DotenvError, parse_dotenv


def main(argv: list[str]) -> int:
    if argv[:1] == ["--digest"]:
        argv = argv[2:]
    if len(argv) < 3 or argv[1] != "--":
        print("usage: envexec [--digest D] FILE -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    file, command = argv[0], argv[2:]
    try:
        with open(file, encoding="utf-8") as handle:
            variables = parse_dotenv(handle.read())
    except (OSError, UnicodeDecodeError, DotenvError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        print(f"hostd: cannot read env_file {file}: {reason}", file=sys.stderr, flush=True)
        return 1
    os.environ.update(variables)
    os.execvp(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
