"""What hostd reads as its input: the site files, hostd.toml, and which instance runs.

Site files: which files count, reading them, checking their paths against the disk
to catch what the schema alone cannot (missing folders, the factory trap). The
schema itself is `hostd.core.site`.
"""

from __future__ import annotations

import ast
import contextlib
import os
import stat
from collections.abc import Callable, Collection
from dataclasses import replace
from functools import lru_cache
from pathlib import Path, PurePosixPath

from hostd.core.builtin import NAME as DASHBOARD
from hostd.core.builtin import Builtin, builtin_of
from hostd.core.layout import Layout, Mode, layout_for
from hostd.core.settings import Settings, default_settings, parse_settings, with_overrides
from hostd.core.site import Site, is_site_file, parse_site, site_name
from hostd.core.static_rule import protected_folders, static_refusal
from hostd.edges.envfile import with_secrets
from hostd.edges.host import own_venv, package_root
from hostd.edges.maintenance import with_pauses
from hostd.edges.records import read_folder_identity, read_up, write_folder_identity
from hostd.edges.system_sites import with_system_refused
from hostd.edges.up_lock import instance_running
from hostd.edges.workers import check_worker_class
from hostd.errors import InstanceError, SettingsError, SiteError, SitesFolderError

MAX_SITE_FILE = 64 * 1024


def site_files(folder: Path) -> list[Path]:
    """The files in `folder` that count as site files (not folders); none if it is gone.

    Not only regular files: a FIFO, a device or a dangling link named `*.yaml` is
    listed too, so that `load_site` refuses it by name instead of it vanishing."""
    try:
        return sorted(p for p in folder.iterdir() if is_site_file(p) and not p.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def site_names(folder: Path) -> set[str]:
    """The names `load_sites` gives the files in `folder`, without loading them: each
    file's site name (its file name where that is not a valid site name)."""
    names: set[str] = set()
    for path in site_files(folder):
        try:
            names.add(site_name(path))
        except SiteError:
            names.add(path.name)
    return names


def load_site(path: Path) -> Site:
    """The site defined by `path`, checked against the disk; SiteError if refused."""
    site = with_secrets(_parsed(path, _site_text(path)))
    check_paths(site)
    check_worker_class(site)
    return site


def _site_text(path: Path) -> str:
    """The text of a site file, read only if it is a regular file within the size
    limit, and (if it is a symlink) only if it leads to a file inside its own folder."""
    real = _followed(path)
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise SiteError(f"cannot read the file: {exc.strerror}", file=path) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SiteError("not a regular file (hostd reads only regular files)", file=path)
        if info.st_size > MAX_SITE_FILE:
            raise SiteError(f"file is larger than {MAX_SITE_FILE // 1024} KiB", file=path)
        data = os.read(fd, MAX_SITE_FILE + 1)
    except OSError as exc:
        raise SiteError(f"cannot read the file: {exc.strerror}", file=path) from exc
    finally:
        os.close(fd)
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
    return text


def _followed(path: Path) -> Path:
    """Where `path` leads; a symlink may lead only to a file inside its own folder."""
    if not path.is_symlink():
        return path
    folder = path.absolute().parent.resolve()
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise SiteError("a symlink that leads nowhere", file=path) from exc
    if real.parent != folder and folder not in real.parents:
        raise SiteError(
            "a symlink that leads outside the sites folder (site files and their links "
            "stay inside it)",
            file=path,
        )
    return real


_PARSED: dict[tuple[Path, str], Site] = {}


def _parsed(path: Path, text: str) -> Site:
    """parse_site, remembered by file and content: the daemon reads every file per apply."""
    key = (path, text)
    if key not in _PARSED:
        if len(_PARSED) > 4096:
            _PARSED.clear()
        _PARSED[key] = parse_site(path, text)
    return _PARSED[key]


def load_sites(folder: Path, layout: Layout | None = None) -> dict[str, Site | SiteError]:
    """Every site file in `folder` by site name, loaded or refused; with `layout`, a
    site whose static folder nginx may not serve (`hostd.core.static_rule`) too."""
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
    if layout is None:
        return out
    return with_static_refused(with_system_refused(out, layout), layout)


def with_static_refused(
    loaded: dict[str, Site | SiteError], layout: Layout
) -> dict[str, Site | SiteError]:
    """`loaded` with every site refused whose static folder (followed through its
    symlinks) is a system folder, one of hostd's, or overlaps another site's app root."""
    if not any(isinstance(s, Site) and s.static for s in loaded.values()):
        return loaded
    protected = protected_folders(layout)
    protected = {**protected, **{f"{w} (real)": _real(p) for w, p in protected.items()}}
    roots = {n: _real(s.app.root) for n, s in loaded.items() if isinstance(s, Site)}
    out = dict(loaded)
    for name, site in loaded.items():
        if not isinstance(site, Site) or not site.static:
            continue
        own = roots[name]  # sites that share their code share its folders
        others = {other: root for other, root in roots.items() if root != own}
        for prefix, folder in site.static:
            problem = static_refusal(_real(folder), protected, others)
            if problem is not None:
                out[name] = _error(
                    site, f"static.{prefix}", f"nginx may not serve this folder: {problem}"
                )
                break
    return out


def _real(path: Path | PurePosixPath) -> PurePosixPath:
    return PurePosixPath(os.path.realpath(path))


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
    stat = source.stat()
    definition = _definition(source, stat.st_mtime_ns, stat.st_size, name)
    if definition is _UNPARSED:
        return  # gunicorn will report it with the real traceback
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


_UNPARSED = ast.Pass()


@lru_cache(maxsize=4096)
def _definition(source: Path, mtime_ns: int, size: int, name: str) -> ast.AST | None:
    """`_top_level` of `source` as it is on disk (sites sharing an app parse it once),
    or _UNPARSED."""
    try:
        tree = ast.parse(source.read_bytes(), filename=str(source))
    except (SyntaxError, ValueError):
        return _UNPARSED
    return _top_level(tree, name)


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


NO_SITES = ".no-sites"  # in an empty sites folder: removing the last site is meant


def folder_problem(folder: Path) -> str | None:
    """Why `folder` cannot say which sites exist (missing, not a folder, unreadable)."""
    try:
        info = folder.stat()
    except FileNotFoundError:
        return f"the sites folder {folder} is missing"
    except OSError as exc:
        return f"the sites folder {folder} cannot be read: {exc.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"the sites folder {folder} is not a folder"
    try:
        os.listdir(folder)
    except OSError as exc:
        return f"the sites folder {folder} cannot be read: {exc.strerror}"
    return None


class SiteFolder:
    """The real `hostd.apply.ports.SiteFiles`: the site files of one folder.

    A folder that is missing or unreadable is a SitesFolderError: the apply keeps the
    live sites. So is a folder with no site file while sites are live (`live_sites`)
    unless it is the very folder that last held them (`record` keeps its device and
    inode): deleting the files one by one removes the sites, the last one too, while
    an empty folder put in its place (a failed mount, a new checkout) removes nothing.
    A file named `.no-sites` in an empty folder removes the last sites in any case.
    `read_only` (`hostd plan`, `hostd check`): the same answer, `record` left as it is.
    """

    def __init__(
        self,
        folder: Path,
        live_sites: Callable[[], Collection[str]] = tuple,
        layout: Layout | None = None,
        record: Path | None = None,
        pauses: Path | None = None,
        read_only: bool = False,
    ) -> None:
        self.folder = folder
        self.read_only = read_only
        self.live_sites = live_sites
        self.layout = layout
        self.record = record
        self.pauses = pauses  # the maintenance record, if sites may be paused

    def load(self) -> dict[str, Site | SiteError]:
        keeping = "keeping the last good sites until it is back"
        problem = folder_problem(self.folder)
        if problem is None:
            loaded = load_sites(self.folder, self.layout)
            try:
                info = self.folder.stat()
            except OSError as exc:
                problem = f"the sites folder {self.folder} cannot be read: {exc.strerror}"
        if problem is not None:
            if self.record is not None and not self.read_only:
                # an empty folder in its place is not this one
                with contextlib.suppress(OSError):
                    self.record.unlink(missing_ok=True)
            raise SitesFolderError(f"{problem}: {keeping}")
        identity = (info.st_dev, info.st_ino)
        if loaded and self.record is not None and not self.read_only:
            with contextlib.suppress(OSError):  # a read-only view (plan, status)
                write_folder_identity(self.record, identity)
        same = self.record is not None and read_folder_identity(self.record) == identity
        if not loaded and not same and not (self.folder / NO_SITES).exists():
            live = sorted(name for name in self.live_sites() if name != DASHBOARD)
            if live:
                raise SitesFolderError(
                    f"the sites folder {self.folder} has no site files: keeping the "
                    f"{len(live)} live site(s); to remove the last site on purpose, "
                    f"create {self.folder / NO_SITES}"
                )
        return with_pauses(loaded, self.pauses) if self.pauses else loaded


# -- hostd.toml -----------------------------------------------------------------------


def load_settings(path: Path, mode: Mode) -> Settings:
    """The settings in `path`, on top of the mode's defaults; a missing file is fine."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default_settings(mode)
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: {exc}") from exc
    return parse_settings(text, path, mode)


def builtin_site(layout: Layout) -> Builtin:
    """hostd's dashboard as hostd.toml asks for it now (a mistake refuses only it)."""
    try:
        settings = load_settings(layout.config_file, layout.mode).dashboard
    except SettingsError as exc:
        text = str(exc).removeprefix(f"{layout.config_file}: ")
        return Builtin(layout.config_file, error=SiteError(text, file=layout.config_file))
    return builtin_of(layout, settings, package_root(), own_venv())


# -- the running instance -------------------------------------------------------------


def running_instance(home: Path | None, root: Path = Path("/")) -> tuple[Layout, Settings]:
    """Layout and settings of the instance running on `home`; InstanceError if none."""
    layout = layout_for(home, root=root)
    record = read_up(layout)
    if record is None or not instance_running(layout.up_lock):
        hint = f"hostd up --home {home}" if home else "systemctl start hostd"
        raise InstanceError(f"no hostd instance is running on {layout.home} (start it: {hint})")
    layout = replace(layout, sites_dir=record.sites_dir)
    return layout, served_settings(layout, record.listen, record.http_port, record.https_port)


def served_settings(layout: Layout, listen: str, http_port: int, https_port: int) -> Settings:
    """hostd.toml as read now, with the address and ports the instance serves on
    (which its command line may have set)."""
    return with_overrides(
        load_settings(layout.config_file, layout.mode),
        listen=listen, http_port=http_port, https_port=https_port,
    )  # fmt: skip


def instance_view(
    home: Path | None, root: Path = Path("/"), sites_dir: Path | None = None
) -> tuple[Layout, Settings]:
    """The running instance's layout and settings if there is one, else the files' own;
    `sites_dir` instead of the instance's sites folder, if given."""
    try:
        layout, settings = running_instance(home, root)
    except InstanceError:
        layout = layout_for(home, root=root)
        settings = load_settings(layout.config_file, layout.mode)
    if sites_dir is not None:
        layout = replace(layout, sites_dir=sites_dir.absolute())
    return layout, settings
