"""The dashboard in a real browser: Debian's chromium, headless, driven by selenium
through Debian's chromedriver, against the dashboard a real `hostd up` serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from .harness import TESTS, HostdUp, site_yaml, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = TESTS / "artifacts"
PASSWORD = "a long enough password"
MISSING = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]

pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"needs Debian's chromium and chromium-driver ({', '.join(MISSING)} missing: "
    "apt-get install chromium chromium-driver, as ./dev test does)",
)


def chromium(folder: Path) -> WebDriver:
    """Headless chromium with a fresh profile in `folder`, which the instance's cleanup
    covers: any chromium process left behind mentions it and is killed."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--no-proxy-server", "--window-size=1280,900",
        f"--user-data-dir={folder / 'chromium'}",
    ):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER, log_output=str(folder / "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)


@pytest.fixture
def browser(instance: HostdUp) -> Iterator[WebDriver]:
    driver = chromium(instance.root)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: WebDriver, seconds: float = 15) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, seconds, poll_frequency=0.1)


def set_password(instance: HostdUp, user: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hostd", "dashboard", "passwd", "--stdin", user,
         "--home", str(instance.home)],
        input=f"{PASSWORD}\n", capture_output=True, text=True, env=instance.environ(),
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def screenshot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / name))


def programs(instance: HostdUp, *names: str) -> set[str]:
    """The Supervisor states of these sites' programs, as `hostd status` shows them."""
    sites = instance.status()["sites"]
    return {sites[name]["program"] for name in names if name in sites} | (
        {"absent"} if set(names) - set(sites) else set()
    )


@pytest.mark.timeout(240)
def test_log_in_see_the_sites_and_reload_one(instance: HostdUp, browser: WebDriver) -> None:
    """An operator logs in, sees both sites and the dashboard itself, sees a pending
    change, reloads a site, reads the flash message and watches its log follow."""
    instance.home.mkdir(parents=True)
    (instance.home / "hostd.toml").write_text("[dashboard]\nenabled = true\nworkers = 1\n")
    instance.write_site("alpha", site_yaml(["alpha.localhost"]))
    instance.write_site("beta", site_yaml(["beta.localhost"], env={"GREETING": "hello"}))
    instance.write_site("gamma", site_yaml(["gamma.localhost"], wsgi="nosuchmodule:app"))
    instance.start()
    assert instance.get("dashboard.localhost", "/healthz").body == "ok\n"
    # served as soon as they answer; Supervisor says RUNNING 2 s after each started
    wait_until(lambda: programs(instance, "alpha", "beta", "hostd-dashboard") == {"RUNNING"})
    told = set_password(instance, "operator")
    base = f"http://dashboard.localhost:{instance.port}"
    assert f"log in at {base}/" in told
    # a change hostd has not applied yet (the harness runs without the watcher)
    instance.write_site("beta", site_yaml(["beta.localhost"], env={"GREETING": "bonjour"}))

    browser.get(f"{base}/sites/alpha")
    wait_for(browser).until(seen.url_contains("/login?next="))
    assert "No dashboard user exists yet" not in browser.page_source
    browser.find_element(By.ID, "username").send_keys("operator")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "remember").click()
    browser.find_element(By.ID, "submit").click()
    wait_for(browser).until(seen.url_to_be(f"{base}/sites/alpha"))

    browser.find_element(By.LINK_TEXT, "Sites").click()
    wait_for(browser).until(seen.url_to_be(f"{base}/"))
    table = browser.find_element(By.ID, "sites").text
    for text in ("alpha", "beta", "hostd-dashboard", "alpha.localhost", "dashboard.localhost"):
        assert text in table
    assert table.count("RUNNING") == 3
    gamma = browser.find_element(By.ID, "site-gamma").text
    assert "absent" in gamma and "rejected" in gamma and "module 'nosuchmodule' not found" in gamma
    screenshot(browser, "dashboard.png")  # the README's, as docs/dashboard.png

    browser.find_element(By.LINK_TEXT, "beta").click()
    assert browser.find_element(By.ID, "pending-change").text == "changed"
    assert 'GREETING="bonjour"' in browser.find_element(By.ID, "diff").text
    screenshot(browser, "dashboard-site.png")

    browser.get(f"{base}/sites/alpha")
    pid = instance.pid("alpha")
    browser.find_element(By.ID, "reload").click()
    wait_for(browser, 60).until(
        seen.text_to_be_present_in_element((By.ID, "messages"), "alpha: reloaded")
    )
    assert browser.current_url == f"{base}/sites/alpha"
    # as `hostd reload alpha`: the code booted in the other slot, which serves now
    assert instance.pid("alpha") not in (pid, None)
    assert instance.status()["sites"]["alpha"]["slot"] == "b"
    assert instance.status()["sites"]["beta"]["outcome"] == "added"  # only alpha applied
    version = browser.find_element(By.ID, "version").text
    assert "2, live in slot b; previous: 1 in slot a (warm)" in version, version

    browser.find_element(By.ID, "rollback").click()  # as `hostd rollback alpha`
    wait_for(browser, 60).until(
        seen.text_to_be_present_in_element((By.ID, "messages"), "alpha: rolled back")
    )
    assert (instance.pid("alpha"), instance.status()["sites"]["alpha"]["slot"]) == (pid, "a")
    assert "1, live in slot a; previous: 2 in slot b" in browser.find_element(By.ID, "version").text

    marker = uuid.uuid4().hex
    assert instance.get("alpha.localhost", f"/{marker}").status == 404
    wait_for(browser).until(seen.text_to_be_present_in_element((By.ID, "log"), marker))
    screenshot(browser, "dashboard-reload.png")

    browser.get(f"{base}/api/status")
    api = json.loads(browser.find_element(By.TAG_NAME, "pre").text)
    cli = instance.status()
    assert api["generation"] == cli["generation"]
    assert {n: s["program"] for n, s in api["sites"].items()} == {
        n: s["program"] for n, s in cli["sites"].items()
    }

    browser.set_window_size(390, 844)
    browser.get(f"{base}/")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"
    assert not browser.find_element(By.ID, "sites").is_displayed()
    compact = browser.find_element(By.ID, "sites-compact")
    assert compact.is_displayed() and "alpha.localhost" in compact.text
    screenshot(browser, "dashboard-phone.png")

    problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not problems, problems
