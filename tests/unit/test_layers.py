"""The layers hold: every import in the package, read with `ast` (those inside
functions too), checked against what each folder may import."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import hostd

PACKAGE = Path(hostd.__file__).resolve().parent

# folder -> the hostd packages it must never import
FORBIDDEN = {
    "core": ("hostd.edges", "hostd.apply", "hostd.runtime", "hostd.queries", "hostd.cli",
             "hostd.dashboard", "hostd.testing"),
    "apply": ("hostd.edges", "hostd.runtime", "hostd.queries", "hostd.cli", "hostd.dashboard",
              "hostd.testing"),
    "edges": ("hostd.apply", "hostd.runtime", "hostd.queries", "hostd.cli", "hostd.dashboard",
              "hostd.testing"),
    "runtime": ("hostd.queries", "hostd.cli", "hostd.dashboard", "hostd.testing"),
    "queries": ("hostd.runtime", "hostd.cli", "hostd.dashboard", "hostd.testing"),
    "dashboard": ("hostd.cli", "hostd.testing"),
}  # fmt: skip
# the pure core touches nothing: no process, socket, daemon, lock or file system walk
EFFECTS = ("subprocess", "socket", "ssl", "http", "urllib", "xmlrpc", "shutil", "fcntl", "pwd",
           "grp", "ctypes", "resource", "signal", "threading", "watchdog", "dns")  # fmt: skip
CORE_MAY_USE = ("hostd.core", "hostd.errors")


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in `path`, absolute names."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def violations(package: Path) -> list[str]:
    """Every import that crosses a layer the wrong way, as `file:line: module`."""
    out: list[str] = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        layer = rel.parts[0] if len(rel.parts) > 1 else None
        for line, module in imports(path):
            where = f"{rel}:{line}: {module}"
            if layer in FORBIDDEN and _under(module, FORBIDDEN[layer]):
                out.append(f"{where} ({layer}/ may not import it)")
            elif (
                layer == "core"
                and module.startswith("hostd")
                and module != "hostd"
                and not (_under(module, CORE_MAY_USE))
            ):
                out.append(f"{where} (the core imports only the core and hostd.errors)")
            elif layer == "core" and _under(module, EFFECTS):
                out.append(f"{where} (the core touches nothing)")
            elif rel.name == "errors.py" and layer is None and module.startswith("hostd"):
                out.append(f"{where} (the error tree imports nothing of hostd)")
            elif layer not in (None, "cli", "dashboard") and _under(module, ("hostd.dashboard",)):
                out.append(f"{where} (nothing but the CLI imports the dashboard)")
    return out


def test_the_package_keeps_its_layers() -> None:
    assert violations(PACKAGE) == []


def test_every_layer_says_what_it_may_import() -> None:
    for layer in (*FORBIDDEN, "cli"):
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
        assert doc and ("import" in doc), layer


def test_a_forbidden_import_is_caught(tmp_path: Path) -> None:
    """The check itself fails when the transaction reaches for an edge, or the core for
    a process."""
    copy = tmp_path / "hostd"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    reconciler = copy / "apply" / "reconciler.py"
    reconciler.write_text(reconciler.read_text() + "\nfrom hostd.edges.nginx import NginxProcess\n")
    plan = copy / "core" / "plan.py"
    plan.write_text(plan.read_text() + "\nimport subprocess\n")
    found = violations(copy)
    assert any(v.startswith("apply/reconciler.py:") and "hostd.edges.nginx" in v for v in found)
    assert any(v.startswith("core/plan.py:") and "subprocess" in v for v in found)
