"""Which static folders nginx may serve (hostd.core.static_rule), and how much of a
site file an error may quote (hostd.errors)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from hostd.core.layout import embedded_layout
from hostd.core.static_rule import protected_folders, static_refusal
from hostd.errors import SiteError

HOME = Path("/srv/hostd-home")
PROTECTED = protected_folders(embedded_layout(HOME, Path("/srv/sites.d")))
OTHERS = {"beta": PurePosixPath("/srv/beta")}


@pytest.mark.parametrize(
    ("folder", "why"),
    [
        ("/", "system folder"),
        ("/etc", "system folder /etc"),
        ("/etc/ssl/private", "system folder /etc"),
        ("/var", "system folder"),
        ("/var/log/nginx", "/var/log"),
        ("/usr/lib/python3", "/usr/lib"),
        ("/srv", "system folder"),
        ("/srv/hostd-home/state", "hostd's home"),
        ("/srv/hostd-home/log/alpha", "hostd's home"),
        ("/srv/sites.d", "the sites folder"),
        ("/srv/beta", "app root of site 'beta'"),
        ("/srv/beta/static", "app root of site 'beta'"),
    ],
)
def test_a_folder_that_exposes_the_machine_hostd_or_another_site_is_refused(
    folder: str, why: str
) -> None:
    problem = static_refusal(PurePosixPath(folder), PROTECTED, OTHERS)
    assert problem is not None and why in problem


@pytest.mark.parametrize("folder", ["/srv/alpha/static", "/var/www/alpha", "/home/web/site"])
def test_a_folder_of_the_sites_own_is_served(folder: str) -> None:
    assert static_refusal(PurePosixPath(folder), PROTECTED, OTHERS) is None


def test_errors_quote_at_most_a_glimpse_of_a_value() -> None:
    secret = "x" * 500
    error = SiteError(f"invalid domain {secret!r}: must be short", key="k" * 300, line=2)
    assert len(str(error)) < 250
    assert "must be short" in str(error)
