"""`nginx -t` through an injected runner: how hostd asks, and what it keeps of a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostd.edges.nginx import NginxProcess
from hostd.errors import NginxConfigError
from hostd.testing import FakeRunner

PREFIX = Path("/srv/hostd/nginx")
CONF = Path("/srv/hostd/state/generations/000007/nginx/nginx.conf")
ARGV = ["/usr/sbin/nginx", "-t", "-q", "-p", "/srv/hostd/nginx/", "-c", str(CONF)]


def nginx(runner: FakeRunner) -> NginxProcess:
    return NginxProcess(
        runner,
        binary="/usr/sbin/nginx",
        prefix=PREFIX,
        pid_file=Path("/srv/hostd/run/nginx.pid"),
        error_log=Path("/srv/hostd/log/nginx-error.log"),
        address="127.0.0.1",
        port=8080,
    )


def test_a_config_nginx_accepts_passes_the_check() -> None:
    """`nginx -t -q` on the candidate's main config, under the instance's prefix, exit 0."""
    runner = FakeRunner()
    runner.expect(ARGV)
    nginx(runner).check(CONF)
    assert runner.calls == [tuple(ARGV)]


def test_a_refused_config_keeps_only_the_emerg_lines() -> None:
    """The error carries nginx's own complaint, without the noise around it."""
    output = (
        'nginx: [warn] the "user" directive makes sense only if the master process runs '
        "with super-user privileges\n"
        'nginx: [emerg] unknown directive "proxy_pas" in /srv/hostd/nginx/sites/blog.conf:31\n'
        "nginx: configuration file /srv/hostd/nginx/nginx.conf test failed\n"
    )
    runner = FakeRunner()
    runner.expect(ARGV, returncode=1, output=output)
    with pytest.raises(NginxConfigError) as caught:
        nginx(runner).check(CONF)
    error = caught.value
    assert error.output == (
        'nginx: [emerg] unknown directive "proxy_pas" in /srv/hostd/nginx/sites/blog.conf:31'
    )
    assert (error.argv, error.returncode) == (ARGV, 1)
    assert str(error) == f"/usr/sbin/nginx (exit 1): {error.output}"


def test_a_refusal_without_emerg_lines_keeps_the_whole_output() -> None:
    """When nginx says something unexpected, nothing of it is thrown away."""
    runner = FakeRunner()
    runner.expect(ARGV, returncode=1, output="  something odd happened\n")
    with pytest.raises(NginxConfigError) as caught:
        nginx(runner).check(CONF)
    assert caught.value.output == "something odd happened"


def test_a_command_nobody_prepared_fails_the_test() -> None:
    """The fake runner refuses any command a test did not expect, loudly."""
    runner = FakeRunner()
    runner.expect(["/usr/sbin/nginx", "-t"])
    with pytest.raises(AssertionError, match="nobody prepared"):
        nginx(runner).check(CONF)
    assert runner.calls == [tuple(ARGV)]
