"""`hostd init` and `hostd init --undo`: hostd's files on a Debian machine, put in
place once (idempotent) and taken out again exactly.

init: /etc/hostd/ (hostd.toml with commented defaults, sites.d/ with an example that
is not served), the systemd unit, the tmpfiles.d entry, the logrotate file, and the
hooks into the machine's nginx and Supervisor (`hostd.edges.machine_config`, which
also moves Debian's default site out of the way). What it created and moved is
recorded (`hostd.edges.init_record`); --undo removes what was created and is still
as hostd wrote it, and puts back what was moved.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import hostd
from hostd.core.attachment import supervisor_glob, without_supervisor_include
from hostd.core.init_text import EXAMPLE_NAME, EXAMPLE_SITE, hostd_toml
from hostd.core.layout import Layout
from hostd.core.logrotate import render_logrotate
from hostd.core.tmpfiles import render_tmpfiles
from hostd.edges.fs import write_atomic
from hostd.edges.init_record import read_record, record_path, remember_created
from hostd.edges.machine_config import install_hooks, machine_of
from hostd.edges.up_lock import instance_running
from hostd.errors import InstanceError

UNIT_EXEC = "/usr/local/bin/hostd"  # the ExecStart of the shipped unit, made this install's


def unit_source() -> Path:
    """systemd/hostd.service: inside the wheel as hostd/systemd/, or in a source checkout."""
    package = Path(hostd.__file__).resolve().parent
    for candidate in (package / "systemd", package.parent / "systemd"):
        if (candidate / "hostd.service").is_file():
            return candidate / "hostd.service"
    raise InstanceError(f"hostd.service not found next to {package}")


def hostd_executable() -> str:
    beside = Path(sys.executable).parent / "hostd"
    return str(beside) if beside.exists() else (shutil.which("hostd") or UNIT_EXEC)


def unit_text(executable: str) -> str:
    return unit_source().read_text().replace(UNIT_EXEC, executable)


def _files(layout: Layout, executable: str) -> list[tuple[Path, str, str]]:
    """The files init creates: path, text, what it is."""
    machine = machine_of(layout)
    return [
        (layout.config_file, hostd_toml(), "every setting, commented, at its default"),
        (layout.sites_dir / EXAMPLE_NAME, EXAMPLE_SITE,
         "a commented example, not served (copy it to NAME.yaml)"),
        (machine.systemd_unit, unit_text(executable), f"ExecStart={executable} watch"),
        (machine.tmpfiles_conf, render_tmpfiles(layout, {}),
         "systemd-tmpfiles makes the sites' run folders at boot"),
        (machine.logrotate_conf, render_logrotate(layout, []),
         "Debian's daily logrotate rotates the sites' logs"),
    ]  # fmt: skip


def init(layout: Layout, boot: Callable[[], None], executable: str | None = None) -> list[str]:
    """Put hostd's files and hooks in place; what was changed (empty: all was there).
    `boot` makes an (empty) live generation, which the nginx hook includes."""
    changes: list[str] = []
    for folder in (layout.state_dir, layout.config_file.parent, layout.sites_dir):
        if not folder.is_dir():
            _make_folder(layout, folder)
            changes.append(f"created {folder}/")
    for path, text, what in _files(layout, executable or hostd_executable()):
        if path.exists():
            continue
        _make_folder(layout, path.parent)
        write_atomic(path, text, 0o644)
        remember_created(layout, path)
        changes.append(f"created {path}: {what}")
    if not layout.live_link.exists():
        if not layout.run_dir.is_dir():
            layout.run_dir.mkdir(parents=True, mode=0o755)
            remember_created(layout, layout.run_dir)
        for folder in (layout.nginx_prefix / "tmp", layout.acme_webroot):
            folder.mkdir(parents=True, exist_ok=True)
        boot()
        changes.append(f"created {layout.live_link}: an empty generation for nginx to include")
    changes.extend(install_hooks(layout))
    return changes


def _make_folder(layout: Layout, folder: Path) -> None:
    """`folder` and the parents it lacks, each recorded for --undo (the state folder first:
    the record lives there)."""
    missing = [folder, *folder.parents]
    missing = [path for path in missing if not path.exists()]
    for path in reversed(missing):
        path.mkdir(mode=0o755)
        remember_created(layout, path)


def undo(layout: Layout) -> list[str]:
    """Take out what init (or hostd watch) put in, put back what it moved; what was done."""
    if instance_running(layout.up_lock):
        raise InstanceError("hostd watch is running: stop it first (systemctl stop hostd)")
    machine = machine_of(layout)
    record = read_record(layout)
    done: list[str] = []
    if machine.nginx_hook.exists() and "hostd" in machine.nginx_hook.read_text():
        machine.nginx_hook.unlink()
        done.append(f"removed {machine.nginx_hook}")
    if machine.supervisor_conf.is_file():
        text = machine.supervisor_conf.read_text()
        updated = without_supervisor_include(text, supervisor_glob(layout))
        if updated is not None:
            mode = machine.supervisor_conf.stat().st_mode & 0o777
            write_atomic(machine.supervisor_conf, updated, mode)
            done.append(f"took hostd's programs out of the [include] of {machine.supervisor_conf}")
    done.extend(_put_back_default_site(record.get("default_site")))
    done.extend(_remove_created(layout, [Path(p) for p in record.get("created", [])]))
    for path in (machine.tmpfiles_conf, machine.logrotate_conf):  # written by hostd watch too
        if path.is_file() and path.read_text().startswith("# Generated by hostd"):
            path.unlink()
            done.append(f"removed {path}")
    record_path(layout).unlink(missing_ok=True)
    return done


def _put_back_default_site(entry: object) -> list[str]:
    if not isinstance(entry, dict):
        return []
    if "link" in entry:
        link = Path(entry["link"])
        if not link.exists() and not link.is_symlink():
            link.symlink_to(entry["target"])
            return [f"put back the link {link} -> {entry['target']}"]
    elif "moved" in entry:
        original, kept = Path(entry["moved"]), Path(entry["to"])
        if kept.exists() and not original.exists():
            kept.rename(original)
            return [f"moved {kept} back to {original}"]
    return []


def _remove_created(layout: Layout, created: list[Path]) -> list[str]:
    """Files init made and nobody changed since, then its folders if empty (deepest first)."""
    done = []
    written = {path: text for path, text, _ in _files(layout, hostd_executable())}
    unit = machine_of(layout).systemd_unit
    for path in created:
        if not path.is_file():
            continue
        text = path.read_text()
        ours = text == written.get(path) or (path == unit and text.startswith("[Unit]"))
        generated = text.startswith("# Generated by hostd")
        if ours or generated:
            path.unlink()
            done.append(f"removed {path}")
        else:
            done.append(f"kept {path}: changed since hostd init (remove it yourself)")
    for folder in sorted((p for p in created if p.is_dir()), key=lambda p: -len(p.parts)):
        if folder in (layout.state_dir, layout.run_dir):  # hostd's generations, its locks
            shutil.rmtree(folder, ignore_errors=True)
            done.append(f"removed {folder}/ (hostd's own)")
            continue
        try:
            folder.rmdir()
            done.append(f"removed {folder}/")
        except OSError:
            done.append(f"kept {folder}/: it holds your files")
    return done
