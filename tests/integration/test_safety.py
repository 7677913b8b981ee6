"""A bad site file or a broken app never harms the other sites, nor its own last good version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hostd.core.render import templates_dir

from .harness import APPS, HostdUp, site_yaml

GOOD_ALPHA = site_yaml(["alpha.test"], env={"GREETING": "good"})
CRASH = {"root": APPS / "crash", "wsgi": "crashapp:app"}

BAD_VERSIONS = {
    "malformed YAML": ("domains: [alpha.test\napp: {", "malformed YAML", None),
    "schema error": (GOOD_ALPHA + "colour: blue\n", "unknown key", "colour"),
    "injection in a domain": (
        GOOD_ALPHA.replace("[alpha.test]", "['alpha.test; return 200 pwned']"),
        "invalid domain",
        "domains[0]",
    ),
    "injection in the wsgi target": (
        GOOD_ALPHA.replace("'probe:app'", "'probe:app --bind 0.0.0.0:9'"),
        "invalid wsgi target",
        "app.wsgi",
    ),
    "injection in an env value": (
        GOOD_ALPHA.replace('"good"', '"x\\"\\nuser=root"'),
        "environment value contains",
        "app.env.GREETING",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_VERSIONS))
def test_a_bad_site_file_is_rejected_and_the_site_keeps_serving(
    instance: HostdUp, case: str
) -> None:
    """The file is rejected by name and key; its last good version and the others serve on."""
    text, message, key = BAD_VERSIONS[case]
    instance.write_site("alpha", GOOD_ALPHA)
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.start()
    pids = {name: instance.pid(name) for name in ("alpha", "beta")}

    path = instance.write_site("alpha", text)
    done = instance.reload()

    assert done.returncode == 1
    line = next(line for line in done.stdout.splitlines() if line.startswith("alpha:"))
    assert line.startswith("alpha: rejected (serving its last good version): ")
    assert str(path) in line and message in line
    if key:
        assert f" {key}: " in line
    assert instance.get("alpha.test").body == "alpha says good\n"
    assert instance.get("beta.test").body == "beta says hello\n"
    assert {name: instance.pid(name) for name in pids} == pids
    status = instance.status()["sites"]["alpha"]
    assert status["outcome"] == "rejected" and message in status["error"]


def test_a_new_bad_site_is_left_out_and_nothing_else_moves(instance: HostdUp) -> None:
    """A new site with an error is not served; the live site is untouched."""
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.start()
    pid = instance.pid("beta")

    instance.write_site("gamma", site_yaml(["gamma.test"], wsgi="probe:app; rm -rf /"))
    done = instance.reload()

    assert done.returncode == 1
    assert "gamma: rejected (not served)" in done.stdout
    with pytest.raises(ConnectionError):
        instance.get("gamma.test")
    assert instance.pid("beta") == pid


def test_a_duplicate_domain_stays_with_the_site_that_had_it(instance: HostdUp) -> None:
    """The newcomer is rejected naming both files; the holder keeps serving the domain."""
    instance.write_site("alpha", GOOD_ALPHA)
    instance.start()

    instance.write_site("zulu", site_yaml(["zulu.test", "alpha.test"]))
    done = instance.reload()

    assert done.returncode == 1
    line = next(line for line in done.stdout.splitlines() if line.startswith("zulu:"))
    assert "'alpha.test' is already served by site 'alpha'" in line
    assert "zulu.yaml" in line and "alpha.yaml" in line and "domains[1]" in line
    assert instance.get("alpha.test").body == "alpha says good\n"


def test_an_app_that_cannot_start_is_reported_and_disturbs_nobody(instance: HostdUp) -> None:
    """A crashing new app is left out with the reason from its log; others keep their pids."""
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.start()
    pid = instance.pid("beta")

    instance.write_site("crash", site_yaml(["crash.test"], **CRASH))
    done = instance.reload()

    assert done.returncode == 1
    line = next(line for line in done.stdout.splitlines() if line.startswith("crash:"))
    assert line.startswith("crash: failed (not served): app did not start")
    assert "RuntimeError: crashapp refuses to start" in line
    status = instance.status()["sites"]
    assert status["crash"]["outcome"] == "failed"
    assert "crashapp refuses to start" in status["crash"]["error"]
    assert status["beta"]["pid"] == pid
    assert instance.get("beta.test").body == "beta says hello\n"
    with pytest.raises(ConnectionError):
        instance.get("crash.test")


def test_a_broken_new_version_rolls_back_to_the_last_good_one(instance: HostdUp) -> None:
    """A site whose new version will not start goes back to serving its previous version."""
    instance.write_site("alpha", GOOD_ALPHA)
    instance.start()

    instance.write_site("alpha", site_yaml(["alpha.test"], **CRASH))
    done = instance.reload()

    assert done.returncode == 1
    assert "alpha: failed (serving its last good version): app did not start" in done.stdout
    assert instance.get("alpha.test").body == "alpha says good\n"
    assert instance.status()["sites"]["alpha"]["program"] in ("RUNNING", "STARTING")


def test_nginx_refusing_the_candidate_leaves_the_previous_generation_live(
    instance: HostdUp, tmp_path: Path
) -> None:
    """With a template nginx refuses, nothing changes and the error is reported."""
    templates = tmp_path / "templates"
    shutil.copytree(templates_dir(), templates)
    instance.env["HOSTD_TEMPLATES"] = str(templates)
    instance.write_site("alpha", GOOD_ALPHA)
    instance.start()
    before = instance.status()

    site_template = templates / "site.conf.j2"
    text = site_template.read_text()
    site_template.write_text(text.replace("proxy_redirect off;", "proxy_redirect;"))
    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "new"}))
    done = instance.reload()

    assert done.returncode == 1
    assert "nothing applied" in done.stdout and "proxy_redirect" in done.stdout
    after = instance.status()
    assert after["generation"] == before["generation"]
    assert after["nginx"] == "serving live"
    assert instance.get("alpha.test").body == "alpha says good\n"


def test_nginx_refusing_one_site_holds_only_that_site(instance: HostdUp) -> None:
    """A site that breaks nginx on its own is held back; another site's change goes live."""
    instance.write_site("alpha", GOOD_ALPHA)
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.start()

    # valid DNS (249 characters) but longer than nginx's name hash bucket takes
    long_name = ".".join(["a" * 60] * 4) + ".test"
    instance.write_site("alpha", site_yaml(["alpha.test", long_name], env={"GREETING": "new"}))
    instance.write_site("beta", site_yaml(["beta.test"], env={"GREETING": "changed"}))
    done = instance.reload()

    assert done.returncode == 1
    line = next(line for line in done.stdout.splitlines() if line.startswith("alpha:"))
    assert line.startswith("alpha: rejected (serving its last good version): ")
    assert "server_names_hash" in line
    assert "beta: changed" in done.stdout
    assert instance.get("beta.test").body == "beta says changed\n"
    assert instance.get("alpha.test").body == "alpha says good\n"
