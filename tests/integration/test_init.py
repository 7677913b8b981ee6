"""`hostd init` and `hostd init --undo` below a temporary root laid out like Debian:
idempotent, and undone to the byte (the machine's files as they were)."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import pytest

from hostd.core.layout import Mode
from hostd.core.settings import default_settings, parse_settings

from .harness import site_yaml
from .machine import Machine
from .test_system import ROOT_USER, Watch, app_copy, get, machine, write_site

__all__ = ["machine"]  # the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="hostd init runs as root")


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file, link and folder below `root`/etc: mode and content or link target."""
    found: dict[str, tuple[int, str]] = {}
    for path in sorted((root / "etc").rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            found[str(path)] = (info.st_mode, os.readlink(path))
        elif path.is_file():
            found[str(path)] = (info.st_mode, path.read_text())
        else:
            found[str(path)] = (info.st_mode, "")
    return found


def test_init_puts_everything_in_place_once_and_undo_takes_it_all_out(machine: Machine) -> None:
    root = machine.root
    (root / "etc/hostd/hostd.toml").unlink()  # a machine hostd was never on
    machine.sites.rmdir()
    (root / "etc/hostd").rmdir()
    before = snapshot(root)
    watch = Watch(machine)

    done = watch.hostd("init")
    assert done.returncode == 0, done.stdout + done.stderr
    etc = root / "etc"
    for made in (
        f"created {etc}/hostd/hostd.toml: every setting, commented, at its default",
        f"created {etc}/hostd/sites.d/example.yaml.sample",
        f"created {etc}/systemd/system/hostd.service: ExecStart=",
        f"created {etc}/tmpfiles.d/hostd.conf",
        f"created {etc}/logrotate.d/hostd",
        f"added {etc}/nginx/conf.d/hostd.conf",
        f"removed the link {etc}/nginx/sites-enabled/default",
        f"added hostd's programs to the [include] of {etc}/supervisor/supervisord.conf",
    ):
        assert made in done.stdout, done.stdout
    toml = (etc / "hostd/hostd.toml").read_text()
    assert tomllib.loads(toml).keys() >= {"http", "acme"}
    assert parse_settings(toml, Path("hostd.toml"), Mode.SYSTEM) == default_settings(Mode.SYSTEM)
    unit = (etc / "systemd/system/hostd.service").read_text()
    assert f"ExecStart={Path(sys.executable).parent / 'hostd'} watch" in unit
    again = watch.hostd("init")
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout

    # the admin's settings, then hostd serving a site, as after the README's steps
    (etc / "hostd/hostd.toml").write_text(f'[http]\nlisten = "127.0.0.1"\nport = {machine.port}\n')
    app = app_copy(machine)
    write_site(machine, "alpha", site_yaml(["alpha.test"], root=app) + ROOT_USER)
    try:
        watch.start()
        assert get(machine, "alpha.test") == "alpha says hello\n"
        refused = watch.hostd("init", "--undo")
        assert refused.returncode == 3 and "stop it first" in refused.stderr
    finally:
        watch.stop()

    (machine.sites / "alpha.yaml").unlink()
    (etc / "hostd/hostd.toml").write_text(toml)  # as init wrote it: init's to remove
    undone = watch.hostd("init", "--undo")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert f"put back the link {etc}/nginx/sites-enabled/default" in undone.stdout
    assert snapshot(root) == before, undone.stdout
    assert not (root / "var/lib/hostd").exists()
