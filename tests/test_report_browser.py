"""The compare report in a real browser: headless Chromium opens report.html from disk (no network), finds the
summary table (a row per metric, a column per family), checks every image decoded, and takes a screenshot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genmodels.apps.compare import FAMILIES, METRICS

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMEDRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,2000")


def _first(paths: tuple[str, ...], name: str) -> str | None:
    return next((p for p in paths if Path(p).is_file()), None) or shutil.which(name)


def open_browser(profile: Path):
    """A headless Chromium driven by chromedriver, or a skip that says what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    browser, driver = _first(CHROMIUM, "chromium"), _first(CHROMEDRIVER, "chromedriver")
    if browser is None or driver is None:
        pytest.skip("the browser test needs chromium and chromedriver (Debian: apt-get install chromium "
                    "chromium-driver; `make test` installs them when it runs as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def check_report(report: Path, screenshot: Path, profile: Path, families=FAMILIES) -> dict:
    """Open report.html, assert the summary table's shape and that every image loaded; save a screenshot.
    Returns what it found (also used once by hand on runs/demo/report.html)."""
    browser = open_browser(profile)
    try:
        browser.get(report.resolve().as_uri())
        found = browser.execute_script("""
            const t = document.getElementById('summary');
            if (!t) return null;
            const imgs = Array.from(document.images);
            return {
              metrics: Array.from(t.querySelectorAll('tbody tr')).map(r => r.dataset.metric),
              families: Array.from(t.querySelectorAll('thead th.family')).map(h => h.dataset.family),
              cells: Array.from(t.querySelectorAll('tbody tr')).map(r => r.cells.length),
              images: imgs.length,
              broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
              external: Array.from(document.querySelectorAll('[src],[href]'))
                .map(e => e.getAttribute('src') || e.getAttribute('href'))
                .filter(u => !u.startsWith('data:') && !u.startsWith('#')),
            };""")
        assert found is not None, "no element with id 'summary' in the report"
        assert found["metrics"] == [m.key for m in METRICS]
        assert found["families"] == list(families)
        assert set(found["cells"]) == {len(families) + 3}  # metric, better, one per family, winner
        assert found["images"] >= 2 * len(families) and found["broken"] == [], found["broken"]
        assert found["external"] == []
        assert browser.save_screenshot(str(screenshot))
    finally:
        browser.quit()
    assert screenshot.stat().st_size > 10_000  # a rendered page, not an empty PNG
    return found


def test_report_opens_in_headless_chromium(compare_report, tmp_path):
    check_report(compare_report / "report.html", tmp_path / "report.png", tmp_path / "chromium-profile")
