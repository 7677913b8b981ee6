"""Apps that keep dying are calmed down; code reloads are graceful and checked first."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from .harness import APPS, HostdUp, site_yaml, wait_until


def nginx_reloads(up: HostdUp) -> int:
    log = up.home / "log" / "nginx-error.log"
    return log.read_text().count("(SIGHUP) received") if log.exists() else 0


def test_a_crash_looping_app_is_held_back_without_touching_nginx_or_others(
    instance: HostdUp,
) -> None:
    """Restarts too often: stopped, reported with a next attempt, started again later."""
    instance.home.mkdir(parents=True)
    (instance.home / "hostd.toml").write_text(
        "[crashloop]\nmax_starts = 3\nwindow = 60\nbase_delay = 3\nmax_delay = 30\n"
    )
    instance.write_site("steady", site_yaml(["steady.test"]))
    instance.start()
    steady = instance.pid("steady")

    instance.write_site("flaky", site_yaml(["flaky.test"], root=APPS / "flaky", wsgi="flaky:app"))
    instance.reload()
    wait_until(
        lambda: instance.status()["sites"].get("flaky", {}).get("outcome") == "added",
        what="flaky added",
    )
    reloads = nginx_reloads(instance)
    generation = instance.status()["generation"]

    wait_until(
        lambda: instance.status()["sites"]["flaky"]["crash_loop"] is not None,
        timeout=40,
        what="crash loop detected",
    )
    flaky = instance.status()["sites"]["flaky"]
    assert "restarted 3 times" in flaky["crash_loop"]["reason"]
    assert flaky["crash_loop"]["next_attempt"] > time.time() - 1
    human = instance.hostd("status", check=True).stdout
    assert "crash loop: restarted 3 times" in human

    events = (instance.home / "log" / "flaky" / "hostd.log").read_text().splitlines()
    wait_until(
        lambda: any(
            json.loads(line)["event"] == "crash-loop-retry"
            for line in (instance.home / "log" / "flaky" / "hostd.log").read_text().splitlines()
        ),
        timeout=20,
        what="a retry after the delay",
    )
    assert any(json.loads(line)["event"] == "crash-loop" for line in events)
    assert instance.pid("steady") == steady
    assert instance.status()["generation"] == generation
    assert nginx_reloads(instance) == reloads
    # the figures count the episode and the restarts (`hostd stats`)
    program = json.loads(instance.hostd("stats", "flaky", "--json", check=True).stdout)["program"]
    assert program["crash_loops"] >= 1 and program["restarts"] >= 2, program


def test_reload_of_a_site_with_new_code_is_graceful(instance: HostdUp) -> None:
    """`hostd reload SITE` after a deploy: the new code in a new master in the other
    slot, switched to once it answers; the old one is kept warm for a rollback, and
    gone without a warm time."""
    app = instance.root / "app"
    shutil.copytree(APPS / "probe", app)
    instance.write_site("alpha", site_yaml(["alpha.test"], root=app))
    instance.start()
    master = instance.pid("alpha")

    source = app / "probe.py"
    source.write_text(source.read_text().replace("says", "now says"))
    done = instance.reload("alpha")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "alpha: reloaded" in done.stdout
    assert instance.get("alpha.test").body == "alpha now says hello\n"
    alpha = instance.status()["sites"]["alpha"]
    assert alpha["slot"] == "b" and alpha["pid"] not in (None, master)
    assert alpha["previous"]["warm"] and Path(f"/proc/{master}").exists()

    (instance.home / "hostd.toml").write_text("[apply]\nwarm_seconds = 0\n")
    live = instance.pid("alpha")
    source.write_text(source.read_text().replace("now says", "then says"))
    assert "alpha: reloaded" in instance.reload("alpha").stdout
    assert instance.get("alpha.test").body == "alpha then says hello\n"  # not the warm one
    alpha = instance.status()["sites"]["alpha"]
    assert alpha["slot"] == "a" and alpha["pid"] not in (None, master, live)
    assert not alpha["previous"]["warm"] and not Path(f"/proc/{live}").exists()


def test_a_broken_deploy_leaves_the_old_workers_serving(instance: HostdUp) -> None:
    """Code that does not import fails its health gate in the other slot, with the
    app's own error line; the live slot keeps serving, untouched."""
    app = instance.root / "app"
    shutil.copytree(APPS / "probe", app)
    instance.write_site("alpha", site_yaml(["alpha.test"], root=app))
    instance.start()
    master = instance.pid("alpha")

    (app / "probe.py").write_text("import no_such_module_anywhere\n")
    done = instance.reload("alpha")

    assert done.returncode == 1
    assert "alpha: failed (serving its last good version): the new version failed" in done.stdout
    assert "ModuleNotFoundError: No module named 'no_such_module_anywhere'" in done.stdout
    assert instance.get("alpha.test").body == "alpha says hello\n"
    assert instance.pid("alpha") == master
    assert instance.status()["sites"]["alpha"]["slot"] == "a"


def test_reload_without_names_never_restarts_unchanged_sites(instance: HostdUp) -> None:
    """A plain `hostd reload` leaves unchanged sites alone, code changes or not."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    done = instance.reload()
    assert "alpha: unchanged" in done.stdout
