"""The figures' charts in a real browser (Debian's chromium through selenium): the
sparklines on the overview and a site's charts draw the numbers `hostd stats` gives,
on a canvas with something painted on it. The screenshots are the README's, in docs/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as seen

from .harness import TESTS, HostdUp, site_yaml, wait_until
from .test_dashboard_browser import MISSING, PASSWORD, chromium, set_password, wait_for

DOCS = TESTS.parent / "docs"
# how many pixels of a chart's canvas are near the colour (r, g, b) of one of its series
PAINTED = """
const canvas = document.querySelector(arguments[0] + ' canvas');
if (!canvas) { return -1; }
const [r, g, b] = arguments[1];
const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let painted = 0;
for (let i = 0; i < pixels.length; i += 4) {
  if (pixels[i + 3] > 200 && Math.abs(pixels[i] - r) < 40 && Math.abs(pixels[i + 1] - g) < 40
      && Math.abs(pixels[i + 2] - b) < 40) { painted++; }
}
return painted;
"""
RED, GREEN, PINK = (220, 53, 69), (25, 135, 84), (214, 51, 132)  # 5xx, 2xx, p99 (charts.js)


pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"needs Debian's chromium and chromium-driver ({', '.join(MISSING)})"
)


@pytest.fixture
def browser(instance: HostdUp) -> Iterator[WebDriver]:
    driver = chromium(instance.root)
    try:
        yield driver
    finally:
        driver.quit()


def stats(instance: HostdUp, site: str) -> dict[str, Any]:
    return dict(json.loads(instance.hostd("stats", site, "--json", check=True).stdout))


def drawn(browser: WebDriver, element_id: str, colour: tuple[int, int, int]) -> float:
    """What the chart says it drew (the sum of its series), once it has drawn, and
    that a series of `colour` is painted on its canvas."""
    wait_for(browser).until(
        lambda driver: driver.find_element(By.ID, element_id).get_attribute("data-drawn")
    )
    value = browser.find_element(By.ID, element_id).get_attribute("data-drawn")
    assert value is not None
    painted = browser.execute_script(PAINTED, f"#{element_id}", list(colour))
    assert painted > 0, f"{element_id}: no {colour} on its canvas"
    return float(value)


@pytest.mark.timeout(240)
def test_the_charts_draw_the_numbers_hostd_stats_gives(
    instance: HostdUp, browser: WebDriver
) -> None:
    instance.home.mkdir(parents=True)
    (instance.home / "hostd.toml").write_text("[dashboard]\nenabled = true\nworkers = 1\n")
    instance.write_site("alpha", site_yaml(["alpha.localhost"]))
    instance.write_site("beta", site_yaml(["beta.localhost"]))
    instance.start()
    set_password(instance, "operator")
    for host in ("alpha.localhost", "beta.localhost"):
        wait_until(lambda host=host: instance.get(host).status == 200, 30, f"{host} answers")
    log = instance.home / "log" / "alpha" / "access.log"
    wait_until(  # the waits' requests are counted
        lambda: (
            stats(instance, "alpha")["windows"]["hour"]["requests"]
            == len(log.read_text().splitlines())
        ),
        20,
    )
    before = stats(instance, "alpha")["windows"]["hour"]["requests"]
    for path, times in (("/", 30), ("/status/503", 6), ("/status/404", 2), ("/sleep/120", 3)):
        for _ in range(times):
            instance.get("alpha.localhost", path)
    for _ in range(8):
        instance.get("beta.localhost", "/")
    wait_until(lambda: stats(instance, "alpha")["windows"]["hour"]["requests"] >= before + 41, 20)
    hour = stats(instance, "alpha")["windows"]["hour"]
    assert hour["requests"] == before + 41 and hour["5xx"] >= 6

    base = f"http://dashboard.localhost:{instance.port}"
    browser.get(f"{base}/login")
    browser.find_element(By.ID, "username").send_keys("operator")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "submit").click()
    wait_for(browser).until(seen.url_to_be(f"{base}/"))

    # the sparkline draws requests and 5xx per minute of the last hour
    assert drawn(browser, "spark-alpha", RED) == hour["requests"] + hour["5xx"]
    assert drawn(browser, "spark-beta", (13, 110, 253)) >= 8
    text = browser.find_element(By.ID, "site-alpha").text
    assert f"{hour['requests']} requests, {hour['5xx']} 5xx" in text
    assert DOCS.is_dir()
    assert browser.save_screenshot(str(DOCS / "dashboard-figures.png"))

    browser.set_window_size(1280, 2000)
    browser.get(f"{base}/sites/alpha")
    row = browser.find_element(By.ID, "window-hour").text.split()
    assert (row[2], row[7 - 1]) == (str(hour["requests"]), str(hour["5xx"]))
    for window in ("hour", "day"):
        assert drawn(browser, f"chart-requests-{window}", GREEN) == hour["requests"]
        # the p50, p95 and p99 lines: the slow requests' 120 ms are among the points drawn
        assert drawn(browser, f"chart-latency-{window}", PINK) > 120
    browser.execute_script("document.getElementById('traffic').scrollIntoView()")
    assert browser.save_screenshot(str(DOCS / "dashboard-site-figures.png"))

    problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not problems, problems
