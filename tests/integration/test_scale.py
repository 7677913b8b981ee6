"""A thousand sites on one box, tried as a new user with the common limit of 1,024 open
files would: the real nginx checks the whole configuration, Supervisor's parser reads
every program, and a change to one site checks only what it changes."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostd.core.limits import nginx_open_files
from tests.integration.harness import site_yaml

SITES = 1000
SOFT = 1024

# Run in a process whose soft limit is SOFT: load the 1,000 site files and check them
# as an apply does; nginx -t on the same files without hostd raising the limit; then
# one site changed, checked against the first as the live generation.
CHECK = """
import resource, subprocess, sys
from pathlib import Path
from hostd.core.layout import embedded_layout
from hostd.edges.host import tool
from hostd.edges.inputs import load_settings
from hostd.runtime.wiring import make_reconciler

root = Path(sys.argv[1])
layout = embedded_layout(root / "h", root / "sites.d")
for folder in (layout.state_dir, layout.log_root, layout.run_dir, layout.nginx_prefix / "tmp"):
    folder.mkdir(parents=True, exist_ok=True)
reconciler = make_reconciler(layout, load_settings(layout.config_file, layout.mode))
sites = reconciler.preview().selection.sites
print("sites", len(sites))
print("whole", reconciler.validator.refusal(sites))
files = reconciler.renderer.files(sites)
print("rlimit", [line for line in files["nginx/nginx.conf"].splitlines() if "rlimit" in line])
scratch = layout.state_dir / "check"
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
bare = subprocess.run(
    [tool("nginx"), "-t", "-p", f"{layout.nginx_prefix}/", "-c", str(scratch / "nginx/nginx.conf")],
    capture_output=True, text=True,
    preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)),
)
print("bare", bare.returncode, "Too many open files" in bare.stderr)
generations = reconciler.ports.generations
generations.switch(generations.write(files, sites))
site = root / "sites.d" / "s0007.yaml"
site.write_text(site.read_text() + "  env:\\n    GREETING: changed\\n")
changed = reconciler.preview()
print("touched", changed.plan.touched)
print("one", reconciler.validator.refusal(changed.selection.sites, nginx_if_unchanged=False))
programs = (scratch / "supervisor/all-programs.conf").read_text()
print("parsed", [line for line in programs.splitlines() if line.startswith("[program:")])
print("nginx checked", (scratch / "nginx/nginx.conf").exists())
"""


@pytest.fixture(scope="module")
def thousand() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="hk-", dir="/tmp"))
    try:
        folder = root / "sites.d"
        folder.mkdir()
        for n in range(SITES):
            (folder / f"s{n:04d}.yaml").write_text(site_yaml([f"s{n:04d}.test"]))
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def limited(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """`argv` run with a soft limit of SOFT open files (the hard limit as it is)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    return subprocess.run(
        ["prlimit", f"--nofile={SOFT}:{limit}", *argv],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_thousand_sites_pass_the_real_checks_under_a_soft_limit_of_1024(thousand: Path) -> None:
    """nginx -t takes all 1,000 (it opens 2,000 logs), which it cannot without hostd
    raising the limit; a change to one site parses its program alone and asks nginx
    nothing, as nginx's files stay the live ones."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < nginx_open_files(SITES):
        pytest.skip(f"the hard limit of open files ({hard}) is below what 1,000 sites need")
    done = limited([sys.executable, "-c", CHECK, str(thousand)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"sites {SITES}",
        "whole None",
        f"rlimit ['worker_rlimit_nofile {nginx_open_files(SITES)};']",
        "bare 1 True",
        "touched ['s0007']",
        "one None",
        "parsed ['[program:s0007]']",
        "nginx checked False",
    ], done.stderr
