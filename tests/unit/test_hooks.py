"""The lines system mode adds to the machine's nginx and Supervisor configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostd.core.attachment import (
    declares_default_server,
    nginx_hook_text,
    supervisor_glob,
    with_supervisor_include,
)
from hostd.core.layout import system_layout

LAYOUT = system_layout(Path("/"))
GLOB = "/var/lib/hostd/live/supervisor/programs/*.conf"
DEBIAN = """\
[supervisord]
logfile=/var/log/supervisor/supervisord.log

[include]
files = /etc/supervisor/conf.d/*.conf
"""


def test_the_nginx_hook_includes_the_live_generation() -> None:
    """One include, through the live link, so every switch is picked up by a reload."""
    assert "include /var/lib/hostd/live/nginx/hostd.conf;" in nginx_hook_text(LAYOUT)


def test_supervisors_include_gets_hostds_glob_once() -> None:
    """Added to Debian's files line; a second time changes nothing."""
    assert supervisor_glob(LAYOUT) == GLOB
    once = with_supervisor_include(DEBIAN, GLOB)
    assert once is not None
    assert f"files = /etc/supervisor/conf.d/*.conf {GLOB}" in once
    assert with_supervisor_include(once, GLOB) is None


def test_a_config_without_include_gets_one() -> None:
    """No [include] section yet: hostd adds one."""
    added = with_supervisor_include("[supervisord]\n", GLOB)
    assert added is not None and added.endswith(f"[include]\nfiles = {GLOB}\n")


def test_an_include_without_files_is_refused() -> None:
    """An [include] hostd cannot read is reported, not rewritten."""
    with pytest.raises(ValueError, match="no files line"):
        with_supervisor_include("[include]\n; nothing\n", GLOB)


def test_debians_default_site_is_recognised_by_its_default_server() -> None:
    """Only a live default_server counts, not a commented one."""
    assert declares_default_server("server {\n\tlisten 80 default_server;\n}\n")
    assert not declares_default_server("server {\n\t# listen 80 default_server;\n}\n")
