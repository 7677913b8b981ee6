"""`hostd reload SITE…`: the named sites applied (a code reload for the unchanged ones),
as what the command prints. Run by the command itself or, handed over
(`hostd.edges.reload_inbox`), by the running daemon: the same code either way, with
the settings read from hostd.toml at that moment."""

from __future__ import annotations

import json
from collections.abc import Collection

from hostd.apply.reconciler import Reconciler
from hostd.core.layout import Layout
from hostd.core.machine_output import reload_json
from hostd.core.report import report_lines
from hostd.edges.inputs import site_names
from hostd.edges.reload_inbox import Reply
from hostd.errors import EXIT_OK, EXIT_PROBLEM, UsageError


def reload_named(
    reconciler: Reconciler, layout: Layout, names: Collection[str], as_json: bool
) -> Reply:
    """Apply the site files of `names` now through `reconciler`. Raises UsageError for
    a site that is neither a file nor live, HostdError when the instance cannot be
    reached."""
    live = reconciler.live()
    known = site_names(layout.sites_dir) | set(live.sites if live else {})
    unknown = sorted(set(names) - known)
    if unknown:
        raise UsageError(
            f"unknown site(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    report = reconciler.apply(set(names))
    lines = (
        [json.dumps(reload_json(report), indent=2)]
        if as_json
        else [line.text for line in report_lines(report)]
    )
    return Reply(lines, [], EXIT_OK if report.ok else EXIT_PROBLEM)
