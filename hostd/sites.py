"""Loading the sites folder: which files count, reading them, checking their paths.

This is the effectful side of `model`: it reads files and looks at the disk to
catch what the schema alone cannot (missing folders, the factory trap).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from hostd.errors import SiteError
from hostd.model import Site, parse_site, site_name

SITE_SUFFIXES = (".yaml", ".yml")
MAX_SITE_FILE = 64 * 1024


def is_site_file(path: Path) -> bool:
    """True for `name.yaml`/`name.yml`; false for dotfiles and editor temporaries."""
    return path.suffix in SITE_SUFFIXES and not path.name.startswith((".", "#", "~"))


def site_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if is_site_file(p) and p.is_file())
    except FileNotFoundError:
        return []


def load_site(path: Path) -> Site:
    """The site defined by `path`, checked against the disk; SiteError if refused."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SiteError(f"cannot read the file: {exc.strerror}", file=path) from exc
    if len(data) > MAX_SITE_FILE:
        raise SiteError(f"file is larger than {MAX_SITE_FILE // 1024} KiB", file=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SiteError(f"not UTF-8 text (byte {exc.start})", file=path, line=line) from exc
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise SiteError("the file contains a NUL character", file=path, line=line)
    site = _parsed(path, text)
    check_paths(site)
    return site


_PARSED: dict[tuple[Path, str], Site] = {}


def _parsed(path: Path, text: str) -> Site:
    """parse_site, remembered by file and content: the daemon reads every file per apply."""
    key = (path, text)
    if key not in _PARSED:
        if len(_PARSED) > 4096:
            _PARSED.clear()
        _PARSED[key] = parse_site(path, text)
    return _PARSED[key]


def load_sites(folder: Path) -> dict[str, Site | SiteError]:
    """Every site file in `folder` by site name, loaded or refused."""
    out: dict[str, Site | SiteError] = {}
    files: dict[str, Path] = {}
    for path in site_files(folder):
        try:
            name = site_name(path)
        except SiteError as exc:
            out[path.name] = exc
            continue
        if name in files:
            out[name] = SiteError(
                f"site {name!r} is defined twice: {files[name].name} and {path.name}", file=path
            )
            continue
        files[name] = path
        try:
            out[name] = load_site(path)
        except SiteError as exc:
            out[name] = exc
    return out


def _error(site: Site, key: str, message: str) -> SiteError:
    return SiteError(message, file=site.file, line=site.line(key), key=key)


def check_paths(site: Site) -> None:
    """Refuse paths that do not exist and wsgi targets that cannot work."""
    app = site.app
    if not app.root.is_dir():
        raise _error(site, "app.root", f"folder {app.root} does not exist")
    if app.venv is not None:
        gunicorn = app.venv / "bin" / "gunicorn"
        if not os.access(gunicorn, os.X_OK):
            raise _error(site, "app.venv", f"{gunicorn} is missing: install gunicorn in the venv")
    for prefix, folder in site.static:
        if not folder.is_dir():
            raise _error(site, f"static.{prefix}", f"folder {folder} does not exist")
    _check_wsgi_target(site)


def module_source(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _check_wsgi_target(site: Site) -> None:
    module, _, target = site.app.wsgi.partition(":")
    source = module_source(site.app.root, module)
    if source is None:
        if site.app.venv is None:
            raise _error(
                site,
                "app.wsgi",
                f"module {module!r} not found in {site.app.root} "
                f"(looked for {module.replace('.', '/')}.py and its __init__.py)",
            )
        return  # may be installed in the venv
    called = target.endswith("()")
    name = (target.removesuffix("()") or "application").split(".")[0]
    try:
        tree = ast.parse(source.read_bytes(), filename=str(source))
    except (SyntaxError, ValueError):
        return  # gunicorn will report it with the real traceback
    definition = _top_level(tree, name)
    if isinstance(definition, ast.FunctionDef) and not called and not definition.decorator_list:
        args = definition.args
        params = len(args.posonlyargs) + len(args.args)
        required = params - len(args.defaults)
        if required > 2 or (params < 2 and args.vararg is None):
            raise _error(
                site,
                "app.wsgi",
                f"{name!r} in {source.name} is a function of {params} argument(s), not a WSGI "
                f"app; for an application factory write '{module}:{name}()'",
            )
    if called and definition is not None and not isinstance(definition, ast.FunctionDef):
        raise _error(
            site, "app.wsgi", f"{name!r} in {source.name} is not a factory function; drop the ()"
        )


def _top_level(tree: ast.Module, name: str) -> ast.AST | None:
    """The last top-level statement that binds `name`, if any."""
    found: ast.AST | None = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        else:
            names = []
        if name in names:
            found = node
    return found
