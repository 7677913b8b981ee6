"""HostFacts settings: hostd.toml on top of the mode's defaults, and command-line overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hostd.core.layout import Mode
from hostd.core.settings import (
    LETS_ENCRYPT,
    AcmeSettings,
    ApplySettings,
    HttpSettings,
    MetricsSettings,
    Settings,
    with_overrides,
)
from hostd.edges.inputs import load_settings
from hostd.errors import SettingsError


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hostd.toml"
    path.write_text(text)
    return path


def test_embedded_defaults_listen_on_loopback_high_ports(tmp_path: Path) -> None:
    """Without hostd.toml, `hostd up` serves 127.0.0.1:8080 and 8443 with Let's Encrypt."""
    settings = load_settings(tmp_path / "hostd.toml", Mode.EMBEDDED)
    assert settings == Settings(
        http=HttpSettings(listen="127.0.0.1", port=8080, https_port=8443),
        acme=AcmeSettings(server=LETS_ENCRYPT, email="", ca_bundle="", staging=False),
        apply=ApplySettings(start_timeout=30.0),
    )


def test_system_defaults_listen_on_all_addresses_standard_ports(tmp_path: Path) -> None:
    """Without hostd.toml, a production host serves 0.0.0.0:80 and 443."""
    settings = load_settings(tmp_path / "hostd.toml", Mode.SYSTEM)
    assert settings.http == HttpSettings(listen="0.0.0.0", port=80, https_port=443)
    assert settings.acme == AcmeSettings()


def test_a_full_hostd_toml_sets_every_value(tmp_path: Path) -> None:
    """Every documented key is read, integers accepted where seconds are expected."""
    path = toml(
        tmp_path,
        """\
[http]
listen = "10.0.0.5"
port = 8000
https_port = 8001

[acme]
server = "https://localhost:14000/dir"
email = "ops@example.com"
ca_bundle = "/etc/hostd/pebble.pem"
staging = true

[apply]
start_timeout = 5

[metrics]
enabled = false
listen = "127.0.0.2"
port = 9100
""",
    )
    assert load_settings(path, Mode.SYSTEM) == Settings(
        http=HttpSettings(listen="10.0.0.5", port=8000, https_port=8001),
        acme=AcmeSettings(
            server="https://localhost:14000/dir",
            email="ops@example.com",
            ca_bundle="/etc/hostd/pebble.pem",
            staging=True,
        ),
        apply=ApplySettings(start_timeout=5.0),
        metrics=MetricsSettings(enabled=False, listen="127.0.0.2", port=9100),
    )


def test_a_partial_hostd_toml_keeps_the_modes_other_defaults(tmp_path: Path) -> None:
    """Setting only the email keeps the system ports."""
    path = toml(tmp_path, '[acme]\nemail = "ops@example.com"\n')
    settings = load_settings(path, Mode.SYSTEM)
    assert settings.acme.email == "ops@example.com"
    assert settings.http == HttpSettings(listen="0.0.0.0", port=80, https_port=443)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[colour]\nx = 1\n", "unknown table [colour]", id="unknown-table"),
        pytest.param("port = 80\n", "unknown table [port]", id="top-level-key"),
        pytest.param("[[http]]\nport = 80\n", "unknown table [http]", id="array-of-tables"),
        pytest.param("[http]\nhost = 'x'\n", "unknown key http.host", id="unknown-key"),
        pytest.param("[http.tls]\nx = 1\n", "unknown key http.tls", id="sub-table"),
        pytest.param("[http]\nport = '80'\n", "http.port must be", id="port-string"),
        pytest.param("[http]\nport = 80.0\n", "http.port must be", id="port-float"),
        pytest.param("[http]\nport = true\n", "http.port must be", id="port-bool"),
        pytest.param("[http]\nlisten = 127\n", "http.listen must be", id="listen-int"),
        pytest.param("[acme]\nstaging = 1\n", "acme.staging must be", id="staging-int"),
        pytest.param("[acme]\nemail = []\n", "acme.email must be", id="email-list"),
        pytest.param(
            "[apply]\nstart_timeout = '5'\n", "apply.start_timeout must be", id="timeout-str"
        ),
        pytest.param(
            "[apply]\nstart_timeout = true\n", "apply.start_timeout must be", id="timeout-bool"
        ),
        pytest.param("[http\n", "Expected ']'", id="malformed"),
    ],
)
def test_a_wrong_hostd_toml_is_an_error_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    """Unknown tables and keys and wrongly typed values are refused, never ignored."""
    path = toml(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        load_settings(path, Mode.EMBEDDED)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_hostd_toml_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    """A Latin-1 byte gives a settings error naming the file, not a traceback."""
    path = tmp_path / "hostd.toml"
    path.write_bytes(b'[acme]\nemail = "caf\xe9@example.com"\n')
    with pytest.raises(SettingsError, match=f"^{re.escape(str(path))}: "):
        load_settings(path, Mode.EMBEDDED)


def test_a_hostd_toml_that_is_a_folder_is_an_error(tmp_path: Path) -> None:
    """An unreadable settings file is a settings error, not a crash."""
    path = tmp_path / "hostd.toml"
    path.mkdir()
    with pytest.raises(SettingsError, match=f"^{re.escape(str(path))}: "):
        load_settings(path, Mode.EMBEDDED)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[http]\nport = 0\n", "http.port must be a port number", id="port-0"),
        pytest.param("[http]\nport = 65536\n", "not 65536", id="port-65536"),
        pytest.param("[http]\nport = -80\n", "not -80", id="port-negative"),
        pytest.param("[http]\nhttps_port = 0\n", "http.https_port must be", id="https-0"),
        pytest.param("[http]\nport = 8443\n", "must differ", id="same-ports"),
        pytest.param("[http]\nlisten = 'localhost'\n", "IPv4 address", id="listen-name"),
        pytest.param("[http]\nlisten = '::1'\n", "IPv4 address", id="listen-ipv6"),
        pytest.param("[http]\nlisten = '10.0.0.256'\n", "IPv4 address", id="listen-bad-ip"),
        pytest.param("[apply]\nstart_timeout = 0\n", "start_timeout must be", id="timeout-0"),
        pytest.param("[apply]\nstart_timeout = -1.5\n", "start_timeout must be", id="timeout-neg"),
        pytest.param("[apply]\nstart_timeout = nan\n", "start_timeout must be", id="timeout-nan"),
        pytest.param("[apply]\nstart_timeout = inf\n", "start_timeout must be", id="timeout-inf"),
    ],
)
def test_an_impossible_value_is_refused(tmp_path: Path, text: str, message: str) -> None:
    """Ports outside 1..65535, equal ports, non-IPv4 addresses, odd timeouts are refused."""
    with pytest.raises(SettingsError, match=message):
        load_settings(toml(tmp_path, text), Mode.EMBEDDED)


def test_command_line_overrides_win_over_hostd_toml(tmp_path: Path) -> None:
    """`--http-port` and friends replace what hostd.toml says, and nothing else."""
    path = toml(tmp_path, '[http]\nport = 8000\n[acme]\nemail = "ops@example.com"\n')
    settings = with_overrides(
        load_settings(path, Mode.EMBEDDED), listen="0.0.0.0", http_port=9080, https_port=9443
    )
    assert settings.http == HttpSettings(listen="0.0.0.0", port=9080, https_port=9443)
    assert settings.acme.email == "ops@example.com"


def test_overrides_left_out_change_nothing() -> None:
    """No overrides give back the same settings."""
    settings = Settings(http=HttpSettings(port=8000))
    assert with_overrides(settings) == settings


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"http_port": 0}, "http.port must be a port number", id="port-0"),
        pytest.param({"https_port": 70000}, "not 70000", id="https-70000"),
        pytest.param({"http_port": 8443}, "must differ", id="same-as-https"),
        pytest.param({"listen": "example.com"}, "IPv4 address", id="listen-name"),
    ],
)
def test_a_bad_override_is_refused(overrides: dict[str, object], message: str) -> None:
    """Command-line values are checked like the file's."""
    with pytest.raises(SettingsError, match=message):
        with_overrides(Settings(), **overrides)  # type: ignore[arg-type]
