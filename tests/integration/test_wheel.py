"""A plain `pip install .` carries the templates: the wheel renders on its own."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RENDER_FROM_WHEEL = """
import hostd, hostd.core.render
from pathlib import Path
from hostd.core.facts import HostFacts
from hostd.core.layout import embedded_layout
from hostd.core.site import parse_site
text = 'domains: [demo.test]\\napp: {root: /srv/app, wsgi: a:app}'
site = parse_site(Path('/srv/sites/demo.yaml'), text)
instance = HostFacts(layout=embedded_layout(Path('/srv/h')))
files = hostd.core.render.render_generation({'demo': site}, instance)
print(hostd.__file__)
print(hostd.core.render.templates_dir())
print(files['nginx/sites/demo.conf'])
"""


def test_the_wheel_ships_the_templates_and_renders_from_them(tmp_path: Path) -> None:
    """Built without the source tree, hostd finds its templates inside the package."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    wheel = next(tmp_path.glob("hostd-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "hostd/templates/site.conf.j2" in names
    assert "hostd/templates/program.conf.j2" in names
    assert "hostd/site.schema.json" in names  # what editors point at (hostd new writes it)
    assert "hostd/systemd/hostd.service" in names  # what `hostd init` installs
    # the `hostd` command: its own script, the installer writes its Python's path
    script = zipfile.ZipFile(wheel).read("hostd-0.1.0.data/scripts/hostd").decode()
    assert script.startswith("#!python\n") and "from hostd.cli import main" in script
    assert "import re" not in script

    unpacked = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(unpacked)
    done = subprocess.run(
        [sys.executable, "-c", RENDER_FROM_WHEEL],
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    module, templates, rendered = done.stdout.split("\n", 2)
    assert module.startswith(str(unpacked))
    assert templates == str(unpacked / "hostd" / "templates")
    assert "server_name demo.test;" in rendered


def test_the_sdist_ships_the_systemd_unit_and_the_command(tmp_path: Path) -> None:
    """The source distribution carries the unit and the `hostd` script too, so a wheel
    built from it (`pip install hostd` from the sdist) has them."""
    done = subprocess.run(
        [sys.executable, "-c",
         f"from hatchling.build import build_sdist; print(build_sdist({str(tmp_path)!r}))"],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    with tarfile.open(tmp_path / done.stdout.strip().splitlines()[-1]) as sdist:
        names = sdist.getnames()
    assert any(name.endswith("/systemd/hostd.service") for name in names), names[:20]
    assert any(name.endswith("/scripts/hostd") for name in names), names[:20]
