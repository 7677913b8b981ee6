"""Reading YAML as a tree of nodes that remember their lines.

hostd validates site files node by node so that every error can name the line
and the key path. Aliases are refused (no billion laughs), duplicate keys are
errors (PyYAML would silently keep the last one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from hostd.errors import SiteError

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"

# libyaml's parser when PyYAML has it (10x faster over a thousand site files); the
# nodes and their marks are the same
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(text: str) -> yaml.Node | None:
    """The root node of `text`, or None for an empty document."""
    try:
        loader = Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise SiteError(f"malformed YAML: {problem}", line=line) from exc
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise SiteError(
            f"malformed YAML: character #x{exc.character:04x} is not allowed ({exc.reason})",
            line=line,
        ) from exc
    except yaml.YAMLError as exc:
        raise SiteError(f"malformed YAML: {exc}") from exc
    if node is not None:
        _refuse_aliases(node, set())
    return node


def _refuse_aliases(node: yaml.Node, seen: set[int]) -> None:
    if id(node) in seen:
        raise SiteError(
            "YAML anchors and aliases are not allowed in site files", line=line_of(node)
        )
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _refuse_aliases(key, seen)
            _refuse_aliases(value, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_aliases(item, seen)


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


@dataclass(frozen=True)
class Field:
    """One value in the tree, with its key path and line for error messages."""

    node: yaml.Node
    key: str

    @property
    def line(self) -> int:
        return line_of(self.node)

    def error(self, message: str) -> SiteError:
        return SiteError(message, line=self.line, key=self.key or None)

    def describe(self) -> str:
        if isinstance(self.node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self.node, yaml.SequenceNode):
            return "a list"
        return {
            STR: "a string",
            INT: "an integer",
            FLOAT: "a number",
            BOOL: "a boolean",
            NULL: "null",
        }.get(self.node.tag, f"a {self.node.tag} value")

    @property
    def is_null(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode) and self.node.tag == NULL

    def raw(self) -> str:
        """The scalar exactly as written, whatever YAML would make of it."""
        if not isinstance(self.node, yaml.ScalarNode):
            raise self.error(f"expected a single value, got {self.describe()}")
        return str(self.node.value)

    def string(self) -> str:
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag != STR:
            raise self.error(f"expected a string, got {self.describe()}")
        return str(self.node.value)

    def scalar(self) -> Any:
        """A str, int, float, bool or None, typed the way YAML types it."""
        if not isinstance(self.node, yaml.ScalarNode):
            raise self.error(f"expected a single value, got {self.describe()}")
        try:
            return yaml.SafeLoader("").construct_object(self.node, deep=True)
        except yaml.YAMLError as exc:
            raise self.error(f"unreadable value: {exc}") from exc

    def items(self) -> list[tuple[str, Field]]:
        """The entries of a mapping, keys as strings; duplicate keys are errors."""
        if not isinstance(self.node, yaml.MappingNode):
            raise self.error(f"expected a mapping, got {self.describe()}")
        seen: set[str] = set()
        out: list[tuple[str, Field]] = []
        for key_node, value_node in self.node.value:
            key_field = Field(key_node, self.key)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in (STR, INT):
                raise key_field.error(f"keys must be plain strings, got {key_field.describe()}")
            name = str(key_node.value)
            path = f"{self.key}.{name}" if self.key else name
            if name in seen:
                raise SiteError(f"duplicate key {name!r}", line=line_of(key_node), key=path)
            seen.add(name)
            out.append((name, Field(value_node, path)))
        return out

    def sequence(self) -> list[Field]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.error(f"expected a list, got {self.describe()}")
        return [Field(item, f"{self.key}[{i}]") for i, item in enumerate(self.node.value)]
