"""System mode's run folders: only folders a site could own are removed when their
site is gone."""

from __future__ import annotations

from pathlib import Path

from hostd.core.layout import layout_for
from hostd.edges.run_folders import remove_stale_run_folders


def test_only_the_run_folders_of_sites_gone_are_removed(tmp_path: Path) -> None:
    layout = layout_for(None, root=tmp_path)
    for name in ("alpha", "beta", ".reloads"):
        (layout.run_dir / name).mkdir(parents=True)
    assert remove_stale_run_folders(layout, {"alpha"}) == ["beta"]
    assert sorted(p.name for p in layout.run_dir.iterdir()) == [".reloads", "alpha"]
