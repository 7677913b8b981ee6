"""Zero downtime under load: 20 applies while wrk hammers a site, not one failed request.

wrk keeps 4 connections busy on `alpha` for as long as the applies take. Meanwhile
10 applies change the environment of the other site, `beta` (it moves to its other
slot each time), and 10 code deploys (`hostd reload alpha`, new code each time: a
new gunicorn in the other slot, health-gated, then switched to) go to the loaded
site. wrk must count 0 non-2xx answers and 0 socket errors.
bench/zero_downtime.py is the longer run, with more connections and nginx reloads.
"""

from __future__ import annotations

import shutil

import pytest

from .harness import APPS, HostdUp, deployed_code, site_yaml
from .stress import WRK, start_wrk, stop_wrk

pytestmark = pytest.mark.skipif(WRK is None, reason="wrk is not installed (apt-get install wrk)")


def test_twenty_applies_under_load_drop_no_request(instance: HostdUp) -> None:
    """10 changes to the other site and 10 code reloads of the loaded one: 0 errors, 0 non-2xx."""
    app = instance.root / "app"
    shutil.copytree(APPS / "probe", app)
    instance.write_site("alpha", site_yaml(["alpha.test"], root=app))
    instance.write_site("beta", site_yaml(["beta.test"]))
    instance.start()
    source = app / "probe.py"
    code = source.read_text()
    master = instance.pid("alpha")

    url = f"http://127.0.0.1:{instance.port}/"
    wrk = start_wrk(url, "alpha.test", instance.root, connections=4, seconds=300, pause_ms=1)
    try:
        for n in range(10):
            instance.write_site("beta", site_yaml(["beta.test"], env={"GREETING": f"v{n}"}))
            done = instance.reload()
            assert (done.returncode, done.stdout.splitlines()[:2]) == (
                0, ["alpha: unchanged", "beta: changed"]
            ), done.stdout + done.stderr  # fmt: skip
            source.write_text(deployed_code(code, f"deploy {n}", n))
            done = instance.reload("alpha")
            assert done.returncode == 0 and "alpha: reloaded" in done.stdout, done.stdout
    finally:
        result = stop_wrk(wrk)
    print(result.output)

    assert result.requests > 1000, "wrk hardly ran: no load to speak of"
    assert result.statuses == {200: result.requests}
    assert (result.non_2xx, result.errors) == (0, 0), result.socket_errors
    assert instance.get("alpha.test").body == "alpha says (deploy 9) hello\n"
    assert instance.get("beta.test").body == "beta says v9\n"
    alpha = instance.status()["sites"]["alpha"]
    assert alpha["slot"] == "a" and alpha["pid"] != master  # ten deploys: back in slot a
