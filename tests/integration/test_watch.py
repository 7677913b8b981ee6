"""Drop a file, get a site: `hostd up` applies changes in the sites folder by itself."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from .harness import HostdUp, serves, site_yaml, wait_until


@pytest.fixture(autouse=True)
def watching(instance: HostdUp) -> None:
    """Every test here is about the watcher."""
    instance.watch = True


def generation(up: HostdUp) -> int:
    link = up.home / "state" / "live"
    return int(os.readlink(link).rsplit("/", 1)[-1])


def test_adding_changing_renaming_and_deleting_files_applies_by_itself(
    instance: HostdUp,
) -> None:
    """No `hostd reload`: what is in the folder is what nginx serves, within seconds."""
    instance.start()

    instance.write_site("alpha", site_yaml(["alpha.test"]))
    wait_until(serves(instance, "alpha.test", "alpha says hello\n"), what="alpha added")

    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "hej"}))
    wait_until(serves(instance, "alpha.test", "alpha says hej\n"), what="alpha changed")

    os.rename(instance.sites / "alpha.yaml", instance.sites / "gamma.yaml")
    wait_until(serves(instance, "alpha.test", "gamma says hej\n"), what="alpha renamed to gamma")
    wait_until(lambda: "alpha" not in instance.status()["sites"], what="alpha forgotten")

    (instance.sites / "gamma.yaml").unlink()

    def gone() -> bool:
        try:
            instance.get("alpha.test")
        except ConnectionError:
            return True
        return False

    wait_until(gone, what="gamma deleted")


def test_a_burst_of_writes_is_coalesced(instance: HostdUp) -> None:
    """Fifty quick writes to one file make at most two applies, and the last one wins."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    before = generation(instance)

    for n in range(50):
        instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": f"v{n}"}))
    wait_until(serves(instance, "alpha.test", "alpha says v49\n"), what="the last write served")
    time.sleep(1.0)

    # an apply that starts a new version writes one or two generations (on trial too,
    # where another change goes live meanwhile)
    assert generation(instance) - before <= 4


def test_editor_temporaries_and_dotfiles_are_ignored(instance: HostdUp) -> None:
    """Swap files, backups and dotfiles never cause an apply or a rejection."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    before = generation(instance)
    state_before = (instance.home / "state" / "state.json").read_text()

    for name in (".alpha.yaml.swp", "alpha.yaml~", ".#alpha.yaml", "#alpha.yaml#", "x.yaml.tmp"):
        (instance.sites / name).write_text("{{{ not yaml")
    time.sleep(1.5)

    assert generation(instance) == before
    assert (instance.home / "state" / "state.json").read_text() == state_before
    assert set(instance.status()["sites"]) == {"alpha"}


def test_a_bad_write_while_watching_keeps_the_last_good_version(instance: HostdUp) -> None:
    """A typo saved into a watched file is rejected; the site keeps serving."""
    instance.write_site("alpha", site_yaml(["alpha.test"], env={"GREETING": "good"}))
    instance.start()

    instance.write_site("alpha", "domains: [alpha.test\n")
    wait_until(lambda: instance.status()["sites"]["alpha"]["outcome"] == "rejected")
    assert instance.get("alpha.test").body == "alpha says good\n"
    assert "alpha: rejected (serving its last good version)" in instance.log()


@pytest.mark.parametrize("delay", [0.0, 0.4, 1.0])
def test_kill_9_during_an_apply_then_a_restart_converges(instance: HostdUp, delay: float) -> None:
    """hostd killed mid-apply leaves one complete generation; the next start serves all."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()

    instance.write_site("beta", site_yaml(["beta.test"]))
    time.sleep(delay)
    assert instance.proc is not None
    instance.proc.send_signal(signal.SIGKILL)
    instance.proc.wait(10)

    live = instance.home / "state" / "live"
    manifest = json.loads((live / "manifest.json").read_text())
    for rel in manifest["files"]:
        assert (live / rel).is_file(), rel

    (instance.home / "run" / "up.json").unlink(missing_ok=True)
    instance.start()
    wait_until(serves(instance, "alpha.test", "alpha says hello\n"), what="alpha after restart")
    wait_until(serves(instance, "beta.test", "beta says hello\n"), what="beta after restart")
    assert instance.status()["nginx"] == "serving live"
