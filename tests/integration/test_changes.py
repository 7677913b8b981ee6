"""Changes go live site by site: only what changed restarts, removals disappear."""

from __future__ import annotations

import pytest

from .harness import HostdUp, site_yaml


def test_changing_one_sites_env_restarts_only_that_site(instance: HostdUp) -> None:
    """The changed site serves its new value; the other keeps its gunicorn master."""
    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "hello"}))
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.start()
    alpha_before = instance.get("alpha.test", "/info").json()["master_pid"]
    beta_before = instance.get("beta.test", "/info").json()["master_pid"]

    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "salut"}))
    done = instance.reload()

    assert done.returncode == 0, done.stdout + done.stderr
    assert "alpha: changed" in done.stdout
    assert "beta: unchanged" in done.stdout
    assert instance.get("alpha.test").body == "alpha says salut\n"
    assert instance.get("alpha.test", "/info").json()["master_pid"] != alpha_before
    assert instance.get("beta.test", "/info").json()["master_pid"] == beta_before


def test_an_unchanged_reload_touches_nothing(instance: HostdUp) -> None:
    """Reloading with no change keeps every pid and the generation number."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    before = instance.status()

    done = instance.reload()

    assert done.returncode == 0
    assert "alpha: unchanged" in done.stdout
    after = instance.status()
    assert after["generation"] == before["generation"]
    assert after["sites"]["alpha"]["pid"] == before["sites"]["alpha"]["pid"]


def test_removing_a_site_file_stops_its_program_and_its_server_block(
    instance: HostdUp,
) -> None:
    """A deleted site file takes the site down, and only that site."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.start()
    beta_pid = instance.pid("beta")

    (instance.sites / "alpha.yaml").unlink()
    done = instance.reload()

    assert done.returncode == 0
    assert "alpha: removed" in done.stdout
    with pytest.raises(ConnectionError):
        instance.get("alpha.test")
    status = instance.status()
    assert "alpha" not in status["sites"]
    assert status["sites"]["beta"]["pid"] == beta_pid
    assert not (instance.home / "run" / "alpha.sock").exists()


def test_reload_of_named_sites_leaves_the_others_pending(instance: HostdUp) -> None:
    """`hostd reload alpha` applies alpha only; beta's edit waits for its own reload."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.start()

    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "one"}))
    instance.write_site("beta", site_yaml(["beta.test"], env={"GREETING": "two"}))
    done = instance.reload("alpha")

    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == "alpha: changed"
    assert "beta" not in done.stdout
    assert instance.get("alpha.test").body == "alpha says one\n"
    assert instance.get("beta.test").body == "beta says hello\n"
    assert "beta: changed" in instance.reload().stdout


def test_reload_without_a_running_instance_says_so(instance: HostdUp) -> None:
    """No instance on the home: a clear error and exit code 3."""
    done = instance.reload()
    assert done.returncode == 3
    assert "no hostd instance is running" in done.stderr


def test_plan_shows_the_diff_without_touching_anything(instance: HostdUp) -> None:
    """`hostd plan` names the change and shows it as a diff; nothing restarts."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    pid = instance.pid("alpha")

    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "planned"}))
    done = instance.hostd("plan", check=True)

    assert "alpha: changed (program)" in done.stdout
    assert "+environment=" in done.stdout and 'GREETING="planned"' in done.stdout
    assert instance.pid("alpha") == pid
    assert instance.get("alpha.test").body == "alpha says hello\n"
