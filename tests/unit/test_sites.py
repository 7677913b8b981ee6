"""Loading the sites folder: reading files and catching what the schema alone cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostd.core.site import Site
from hostd.edges.inputs import MAX_SITE_FILE, is_site_file, load_site, load_sites
from hostd.errors import SiteError

FLASK_APP = "from flask import Flask\n\napp = Flask(__name__)\n"


def make_app(folder: Path, module: str = "blog", source: str = FLASK_APP) -> Path:
    """An app folder holding `module`.py with `source`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(source)
    return folder


def site_text(root: Path | str, wsgi: str = "blog:app", extra: str = "") -> str:
    return f"domains: [blog.example.com]\napp:\n  root: {root}\n  wsgi: '{wsgi}'\n{extra}"


def write_site(folder: Path, text: str, name: str = "blog.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def rejection(path: Path) -> SiteError:
    with pytest.raises(SiteError) as caught:
        load_site(path)
    assert caught.value.file == path
    assert str(caught.value).startswith(str(path))
    return caught.value


def test_a_valid_site_with_its_app_loads(tmp_path: Path) -> None:
    """A site whose folders and module exist loads as parsed."""
    root = make_app(tmp_path / "apps" / "blog")
    site = load_site(write_site(tmp_path / "sites.d", site_text(root)))
    assert isinstance(site, Site)
    assert (site.name, site.app.root, site.app.wsgi) == ("blog", root, "blog:app")


def test_relative_paths_are_resolved_against_the_site_files_folder(tmp_path: Path) -> None:
    """`../apps/blog` and `static` are found next to the site file, wherever hostd runs."""
    root = make_app(tmp_path / "apps" / "blog")
    (tmp_path / "sites.d" / "assets").mkdir(parents=True)
    text = site_text("../apps/blog", extra="static: {/static/: assets}\n")
    site = load_site(write_site(tmp_path / "sites.d", text))
    assert site.app.root == root
    assert site.static == (("/static/", tmp_path / "sites.d" / "assets"),)


def test_a_file_that_is_not_utf8_is_rejected_with_its_line(tmp_path: Path) -> None:
    """A Latin-1 byte on line 3 is reported on line 3."""
    path = tmp_path / "blog.yaml"
    path.write_bytes(b"domains: [blog.example.com]\napp:\n  root: /caf\xe9\n  wsgi: blog:app\n")
    error = rejection(path)
    assert error.line == 3
    assert "not UTF-8" in error.message


def test_a_file_with_a_nul_byte_is_rejected_with_its_line(tmp_path: Path) -> None:
    """A NUL never reaches the YAML parser; the error names its line."""
    path = tmp_path / "blog.yaml"
    path.write_bytes(b"domains: [blog.example.com]\n\x00\n")
    error = rejection(path)
    assert error.line == 2
    assert "NUL" in error.message


def test_a_file_over_64_kib_is_rejected(tmp_path: Path) -> None:
    """A site file is small; a huge one is refused before it is parsed."""
    root = make_app(tmp_path / "app")
    text = site_text(root) + "#" * MAX_SITE_FILE + "\n"
    error = rejection(write_site(tmp_path, text))
    assert "larger than 64 KiB" in error.message


def test_a_file_of_exactly_64_kib_is_accepted(tmp_path: Path) -> None:
    """The limit is inclusive: a 64 KiB file of comments and a site still loads."""
    root = make_app(tmp_path / "app")
    text = site_text(root)
    text += "#" * (MAX_SITE_FILE - len(text.encode()) - 1) + "\n"
    assert len(text.encode()) == MAX_SITE_FILE
    assert load_site(write_site(tmp_path, text)).app.root == root


def test_an_unreadable_file_is_rejected(tmp_path: Path) -> None:
    """A site file that vanished between listing and reading is an error, not a crash."""
    error = rejection(tmp_path / "blog.yaml")
    assert "cannot read the file" in error.message


def test_a_missing_app_root_is_rejected_on_its_line(tmp_path: Path) -> None:
    """`app.root` must be an existing folder."""
    error = rejection(write_site(tmp_path, site_text(tmp_path / "nowhere")))
    assert (error.key, error.line) == ("app.root", 3)
    assert f"folder {tmp_path / 'nowhere'} does not exist" in error.message


def test_a_missing_static_folder_is_rejected_on_its_line(tmp_path: Path) -> None:
    """Each static folder must exist, so nginx never serves a 404 for a whole prefix."""
    root = make_app(tmp_path / "app")
    text = site_text(root, extra="static:\n  /static/: static\n  /media/: media\n")
    (tmp_path / "static").mkdir()
    error = rejection(write_site(tmp_path, text))
    assert (error.key, error.line) == ("static./media/", 7)
    assert str(tmp_path / "media") in error.message


def test_a_venv_without_gunicorn_is_rejected(tmp_path: Path) -> None:
    """A venv must hold an executable bin/gunicorn, or the program could never start."""
    root = make_app(tmp_path / "app")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    error = rejection(write_site(tmp_path, site_text(root, extra="  venv: venv\n")))
    assert (error.key, error.line) == ("app.venv", 5)
    assert "install gunicorn in the venv" in error.message


def test_a_venv_with_gunicorn_may_provide_the_module(tmp_path: Path) -> None:
    """A module not in the app folder may be installed in the venv, so it is not refused."""
    root = tmp_path / "app"
    root.mkdir()
    gunicorn = tmp_path / "venv" / "bin" / "gunicorn"
    gunicorn.parent.mkdir(parents=True)
    gunicorn.write_text("#!/bin/sh\n")
    gunicorn.chmod(0o755)
    site = load_site(write_site(tmp_path, site_text(root, "installed.pkg:app", "  venv: venv\n")))
    assert site.app.venv == tmp_path / "venv"


def test_a_missing_module_is_rejected_without_a_venv(tmp_path: Path) -> None:
    """Without a venv the module must be in the app folder; the error says where it looked."""
    root = tmp_path / "app"
    root.mkdir()
    error = rejection(write_site(tmp_path, site_text(root, "blog.web:app")))
    assert (error.key, error.line) == ("app.wsgi", 4)
    assert "module 'blog.web' not found" in error.message
    assert "blog/web.py" in error.message


def test_a_package_module_is_found_by_its_init(tmp_path: Path) -> None:
    """`blog:app` may live in blog/__init__.py."""
    root = tmp_path / "app"
    make_app(root / "blog", "__init__")
    assert load_site(write_site(tmp_path, site_text(root))).app.wsgi == "blog:app"


def test_a_factory_named_without_parentheses_is_rejected(tmp_path: Path) -> None:
    """`mod:create_app` would hand gunicorn the factory itself; the error shows the fix."""
    source = "from flask import Flask\n\ndef create_app():\n    return Flask(__name__)\n"
    root = make_app(tmp_path / "app", "mod", source)
    error = rejection(write_site(tmp_path, site_text(root, "mod:create_app")))
    assert (error.key, error.line) == ("app.wsgi", 4)
    assert "write 'mod:create_app()'" in error.message


def test_a_factory_with_an_optional_argument_is_still_the_trap(tmp_path: Path) -> None:
    """`def create_app(config=None)` is a factory too, not a WSGI app."""
    source = "def create_app(config=None):\n    ...\n"
    root = make_app(tmp_path / "app", "mod", source)
    error = rejection(write_site(tmp_path, site_text(root, "mod:create_app")))
    assert "write 'mod:create_app()'" in error.message


def test_calling_an_app_object_is_rejected(tmp_path: Path) -> None:
    """`mod:app()` on `app = Flask(...)` would call the app with no arguments."""
    root = make_app(tmp_path / "app", "mod")
    error = rejection(write_site(tmp_path, site_text(root, "mod:app()")))
    assert (error.key, error.line) == ("app.wsgi", 4)
    assert "not a factory function; drop the ()" in error.message


@pytest.mark.parametrize(
    ("source", "wsgi"),
    [
        pytest.param("def application(environ, start_response):\n    ...\n", "mod", id="default"),
        pytest.param("def app(environ, start_response):\n    ...\n", "mod:app", id="named"),
        pytest.param("def app(*args, **kwargs):\n    ...\n", "mod:app", id="varargs"),
        pytest.param(
            "def app(environ, start_response, x=1):\n    ...\n", "mod:app", id="optional-third"
        ),
        pytest.param(
            "from werkzeug.wrappers import Request, Response\n\n"
            "@Request.application\ndef application(request):\n    return Response('hi')\n",
            "mod:application",
            id="werkzeug-decorated",
        ),
        pytest.param("def create_app():\n    ...\n", "mod:create_app()", id="factory-call"),
        pytest.param("from flask import Flask\napp = Flask('x')\n", "mod:app", id="flask-app"),
        pytest.param("from elsewhere import app\n", "mod:app", id="imported"),
        pytest.param("def broken(:\n", "mod:app", id="syntax-error-left-to-gunicorn"),
    ],
)
def test_a_working_wsgi_target_is_accepted(tmp_path: Path, source: str, wsgi: str) -> None:
    """Plain WSGI functions, decorated ones, factories called with () and apps all load."""
    root = make_app(tmp_path / "app", "mod", source)
    assert load_site(write_site(tmp_path, site_text(root, wsgi))).app.wsgi == wsgi


@pytest.mark.parametrize(
    "name",
    [
        ".blog.yaml.swp",
        "blog.yaml~",
        "#blog.yaml#",
        ".#blog.yaml",
        "blog.yaml.tmp",
        ".hidden.yaml",
        "~blog.yaml",
        "README.md",
        "blog.yaml.bak",
    ],
)
def test_editor_temporaries_and_dotfiles_are_not_site_files(tmp_path: Path, name: str) -> None:
    """Saving in vim or emacs never makes hostd load a half-written or backup file."""
    root = make_app(tmp_path / "app")
    sites = tmp_path / "sites.d"
    write_site(sites, site_text(root))
    write_site(sites, "not: [valid", name)
    assert not is_site_file(sites / name)
    loaded = load_sites(sites)
    assert list(loaded) == ["blog"]
    assert isinstance(loaded["blog"], Site)


def test_load_sites_gives_each_site_or_its_error(tmp_path: Path) -> None:
    """One broken file does not stop the others from loading."""
    root = make_app(tmp_path / "app")
    sites = tmp_path / "sites.d"
    write_site(sites, site_text(root), "alpha.yaml")
    write_site(sites, site_text(root).replace("blog.example.com", "b.example.com"), "beta.yml")
    write_site(sites, "domains: [", "gamma.yaml")
    (sites / "delta.yaml").mkdir()
    loaded = load_sites(sites)
    assert sorted(loaded) == ["alpha", "beta", "gamma"]
    assert isinstance(loaded["alpha"], Site)
    assert isinstance(loaded["beta"], Site)
    gamma = loaded["gamma"]
    assert isinstance(gamma, SiteError)
    assert gamma.file == sites / "gamma.yaml"
    assert "malformed YAML" in gamma.message


def test_a_site_defined_twice_is_rejected_naming_both_files(tmp_path: Path) -> None:
    """`blog.yaml` and `blog.yml` cannot both be `blog`: the second file is refused."""
    root = make_app(tmp_path / "app")
    sites = tmp_path / "sites.d"
    write_site(sites, site_text(root), "blog.yaml")
    write_site(sites, site_text(root), "blog.yml")
    error = load_sites(sites)["blog"]
    assert isinstance(error, SiteError)
    assert error.file == sites / "blog.yml"
    assert "defined twice: blog.yaml and blog.yml" in error.message


def test_a_badly_named_file_is_rejected_under_its_file_name(tmp_path: Path) -> None:
    """`Blog.yaml` has no valid site name, so it is reported by its file name."""
    root = make_app(tmp_path / "app")
    sites = tmp_path / "sites.d"
    write_site(sites, site_text(root), "Blog.yaml")
    write_site(sites, site_text(root), "my.blog.yaml")
    loaded = load_sites(sites)
    assert sorted(loaded) == ["Blog.yaml", "my.blog.yaml"]
    for name, error in loaded.items():
        assert isinstance(error, SiteError)
        assert error.file == sites / name
        assert "bad site name" in error.message


def test_a_missing_sites_folder_has_no_sites(tmp_path: Path) -> None:
    """Before the first site is dropped in, there is simply nothing to serve."""
    assert load_sites(tmp_path / "sites.d") == {}
