"""The pure parts of system mode on Debian: the machine's own directives, reserved
names, the tmpfiles.d entry and IPv6 in the rendered servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostd.core.attachment import (
    directives_set,
    with_supervisor_include,
    without_supervisor_include,
)
from hostd.core.facts import HostFacts
from hostd.core.init_text import EXAMPLE_NAME, EXAMPLE_SITE, hostd_toml
from hostd.core.layout import Mode, system_layout
from hostd.core.render import render_generation
from hostd.core.reserved import reserved_name_problem
from hostd.core.settings import default_settings, parse_settings
from hostd.core.site import parse_site
from hostd.core.tmpfiles import render_tmpfiles
from hostd.errors import SettingsError

DEBIAN_NGINX_CONF = """\
http {
    # server_names_hash_bucket_size 64;
    server_names_hash_bucket_size 128;  # uncommented by the admin
    #server_names_hash_max_size 512;
}
"""


def test_only_uncommented_directives_count() -> None:
    assert directives_set(DEBIAN_NGINX_CONF) == {"server_names_hash_bucket_size"}
    assert directives_set("# server_names_hash_bucket_size 64;\n") == frozenset()


def _files(**facts: object) -> dict[str, str]:
    site = parse_site(Path("/etc/hostd/sites.d/demo.yaml"),
                      "domains: [demo.test]\napp: {root: /srv/app, wsgi: a:app}\n")  # fmt: skip
    return render_generation({"demo": site}, HostFacts(layout=system_layout(), **facts))  # type: ignore[arg-type]


def test_hostd_leaves_the_hash_sizes_the_machine_sets_to_the_machine() -> None:
    assert "server_names_hash_bucket_size 256;" in _files()["nginx/hostd.conf"]
    include = _files(machine_directives=frozenset({"server_names_hash_bucket_size"}))
    assert "server_names_hash_bucket_size" not in include["nginx/hostd.conf"]
    assert "server_names_hash_max_size 4096;" in include["nginx/hostd.conf"]


def test_ipv6_listens_beside_ipv4_on_the_catch_all_and_the_sites() -> None:
    files = _files(listen="0.0.0.0", http_port=80, ipv6=True)
    assert "listen [::]:80 default_server;" in files["nginx/default.conf"]
    assert "listen [::]:80;" in files["nginx/sites/demo.conf"]
    assert "[::]" not in _files(listen="0.0.0.0", http_port=80)["nginx/sites/demo.conf"]


def test_system_mode_checks_use_the_machines_error_log() -> None:
    assert "error_log /var/log/nginx/error.log notice;" in _files()["nginx/nginx.conf"]


@pytest.mark.parametrize("name", ["nginx", "apt", "supervisor", "letsencrypt", "hostd"])
def test_names_of_the_distributions_log_folders_are_refused(name: str) -> None:
    assert f"/var/log/{name} belongs to the distribution" in (reserved_name_problem(name) or "")


def test_an_ordinary_name_is_free() -> None:
    assert reserved_name_problem("shop") is None


def test_tmpfiles_makes_each_run_folder_for_its_user() -> None:
    text = render_tmpfiles(system_layout(), {"shop": ("www-data", "www-data")})
    assert "d /run/hostd 0755 root root -\n" in text
    assert "d /run/hostd/shop 0750 www-data www-data -\n" in text
    assert "L /run/hostd/shop/app.sock - - - - app.a.sock\n" in text
    moved = render_tmpfiles(system_layout(), {"shop": ("www-data", "www-data")}, {"shop"})
    assert "L /run/hostd/shop/app.sock - - - - app.b.sock\n" in moved
    with pytest.raises(SettingsError):
        render_tmpfiles(system_layout(), {"shop": ("www data", "x")})


DEBIAN_SUPERVISORD = """\
[unix_http_server]
file=/var/run/supervisor.sock

[include]
files = /etc/supervisor/conf.d/*.conf
"""


@pytest.mark.parametrize("text", [DEBIAN_SUPERVISORD, "[supervisord]\nnodaemon=true\n"])
def test_undo_takes_out_exactly_the_include_it_put_in(text: str) -> None:
    glob = "/var/lib/hostd/live/supervisor/programs/*.conf"
    added = with_supervisor_include(text, glob)
    assert added is not None and glob in added
    assert without_supervisor_include(added, glob) == text
    assert without_supervisor_include(text, glob) is None


def test_the_example_site_is_a_site_once_uncommented() -> None:
    body = EXAMPLE_SITE.split("\n#\n", 1)[1]  # after the header
    text = "\n".join(line[2:].split("  #")[0] for line in body.splitlines()) + "\n"
    site = parse_site(Path("/etc/hostd/sites.d/shop.yaml"), text)
    assert site.domains[0] == "shop.example.org" and site.app.user == "www-data"
    assert not EXAMPLE_NAME.endswith((".yaml", ".yml"))
    assert parse_settings(hostd_toml(), Path("hostd.toml"), Mode.SYSTEM) == default_settings(
        Mode.SYSTEM
    )
