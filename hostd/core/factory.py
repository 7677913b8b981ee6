"""Application targets with a factory call: `pkg.mod:create_app(root="/srv", debug=False)`.

The call is read with `ast` and each argument must be a literal (strings, numbers,
booleans, None, and tuples, lists, dicts and sets of them), as gunicorn itself
requires; nothing is ever evaluated as code. Pure.
"""

from __future__ import annotations

import ast
import re

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
# Supervisor cuts a command at ` ;` or ` #` (inline comments); NUL and line breaks
# cannot be passed through its file at all
_UNSAFE = re.compile(r"[\x00\r\n]|\s[;#]")
MAX_TARGET = 1000


def factory_call_problem(target: str) -> str | None:
    """Why `target` (the part after ':') is not `name(literal, key=literal, ...)`; None if it is."""
    if len(target) > MAX_TARGET:
        return f"the factory call is longer than {MAX_TARGET} characters"
    bad = _UNSAFE.search(target)
    if bad:
        return f"the factory call contains {bad.group()!r}, which Supervisor cannot pass on"
    try:
        tree = ast.parse(target, mode="eval")
    except SyntaxError:
        return "the factory call is not valid Python call syntax"
    call = tree.body
    if (
        not isinstance(call, ast.Call)
        or not isinstance(call.func, (ast.Name, ast.Attribute))
        or not _NAME.match(ast.unparse(call.func))
    ):
        return "expected a dotted name followed by one call, like create_app(debug=False)"
    if any(keyword.arg is None for keyword in call.keywords):
        return "** arguments are not allowed: write key=literal"
    for node in [*call.args, *(keyword.value for keyword in call.keywords)]:
        if isinstance(node, ast.Starred) or not _is_literal(node):
            return f"argument {ast.unparse(node)!r} is not a literal (no names, calls or operators)"
    return None


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True
