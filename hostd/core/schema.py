"""The JSON Schema of the site file, built from the key table the parser reads.

`site_schema()` walks `hostd.core.sitekeys.KEYS`: each entry becomes a property
with its type, bounds, pattern, choices, default and description, so the schema
and the parser cannot disagree on which keys exist. Editors use it through the
YAML language server (`# yaml-language-server: $schema=...`); `hostd schema`
prints it and the wheel ships it as `hostd/site.schema.json`.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from hostd.core import sitekeys
from hostd.core.sitekeys import BOOLEAN, INTEGER, LIST, MAPPING, NUMBER, STRING, Key

SCHEMA_ID = "https://hostd.invalid/schema/site-v1.json"
_TYPES = {
    STRING: "string",
    INTEGER: "integer",
    NUMBER: "number",
    BOOLEAN: "boolean",
    LIST: "array",
    MAPPING: "object",
    "null": "null",
}


def site_schema() -> dict[str, Any]:
    """The whole schema: the top-level mapping and everything below it."""
    top: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "hostd site file",
        "description": "One site served by hostd: its domains, its app and its edge policies.",
    }
    top.update(_object(""))
    return top


def _children(parent: str) -> list[Key]:
    return [key for key in sitekeys.KEYS if key.parent == parent and "[" not in key.name]


def _object(parent: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    patterns: dict[str, Any] = {}
    required: list[str] = []
    for key in _children(parent):
        if key.name == "*":
            patterns[key.key_pattern or ".*"] = _property(key)
        else:
            properties[key.name] = _property(key)
            if key.required:
                required.append(key.name)
    out: dict[str, Any] = {"type": "object", "additionalProperties": False}
    if properties:
        out["properties"] = properties
    if patterns:
        out["patternProperties"] = patterns
    if required:
        out["required"] = required
    return out


def _property(key: Key) -> dict[str, Any]:
    types = [_TYPES[kind] for kind in key.kinds]
    out: dict[str, Any] = {"description": key.doc}
    if MAPPING in key.kinds:
        out.update(_object(key.path))
    if LIST in key.kinds:
        items = sitekeys.spec(f"{key.path}[]") if f"{key.path}[]" in _paths() else None
        out["items"] = _property(items) if items else {}
    out["type"] = types[0] if len(types) == 1 else types
    if key.default is not None:
        out["default"] = key.default
    if key.choices:
        out["enum"] = list(key.choices)
    if key.pattern:
        out["pattern"] = key.pattern
    if key.minimum is not None:
        out["minimum"] = key.minimum
    if key.maximum is not None:
        out["maximum"] = key.maximum
    return out


def _paths() -> set[str]:
    return {key.path for key in sitekeys.KEYS}
