"""The reports in a real browser: headless Chromium opens report.html from disk (no network) at a laptop's
first screen (1280x900). The compare report leads with the side-by-side samples figure, fully visible in that
first screen, with every panel drawn at one scale; then the summary table (a row per metric, a column per family).
Both it and a run's own report: every image decoded, nothing wider than the page, nothing fetched; a screenshot.
docs/compare_report.png is `check_report` run by hand on `genmodels demo`'s report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genmodels.apps.compare import FAMILIES, METRICS

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMEDRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900", "--hide-scrollbars")


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


# what every report must satisfy, measured in the page: images decoded, nothing wider than the page, no fetches
PAGE_CHECKS = """
    const width = document.documentElement.clientWidth;
    const imgs = Array.from(document.images);
    return {
      width: width,
      scroll_width: document.documentElement.scrollWidth,
      overflowing: Array.from(document.body.querySelectorAll('*'))
        .filter(e => e.getBoundingClientRect().right > width + 1).map(e => e.tagName + '.' + e.className),
      images: imgs.length,
      broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
      external: Array.from(document.querySelectorAll('[src],[href]'))
        .map(e => e.getAttribute('src') || e.getAttribute('href'))
        .filter(u => !u.startsWith('data:') && !u.startsWith('#')),
      headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
    };"""


def check_page(browser, report: Path, screenshot: Path) -> dict:
    browser.get(report.resolve().as_uri())
    page = browser.execute_script(PAGE_CHECKS)
    assert page["broken"] == [], page["broken"]
    assert page["overflowing"] == [] and page["scroll_width"] <= page["width"], page["overflowing"][:5]
    assert page["external"] == []
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000  # a rendered page, not an empty PNG
    return page


def check_report(report: Path, screenshot: Path, profile: Path, families=FAMILIES) -> dict:
    """Open the compare report.html: the side-by-side figure first and inside the first screen, its panels at
    one scale, the summary table's shape, and `check_page`; save a screenshot of the first screen. Returns what
    it found (also run by hand on runs/demo/report.html for docs/compare_report.png)."""
    browser = open_browser(profile)
    try:
        page = check_page(browser, report, screenshot)
        found = browser.execute_script("""
            const t = document.getElementById('summary');
            const side = document.getElementById('side-by-side');
            if (!t || !side) return null;
            const box = side.getBoundingClientRect();
            return {
              metrics: Array.from(t.querySelectorAll('tbody tr')).map(r => r.dataset.metric),
              families: Array.from(t.querySelectorAll('thead th.family')).map(h => h.dataset.family),
              cells: Array.from(t.querySelectorAll('tbody tr')).map(r => r.cells.length),
              side_top: box.top, side_bottom: box.bottom, side_width: box.width, screen: window.innerHeight,
              side_first: !!(side.compareDocumentPosition(t) & Node.DOCUMENT_POSITION_FOLLOWING),
              panels: Array.from(side.querySelectorAll('img')).map(i => [i.naturalWidth, i.naturalHeight,
                                                                         i.width, i.height]),
              charts: Array.from(document.querySelectorAll('.chart')).map(c => c.dataset.chart),
              raw_json: document.querySelectorAll('pre').length,
            };""")
        assert found is not None, "no element with id 'summary' or 'side-by-side' in the report"
        assert found["side_first"] and page["headings"][0] == "Samples side by side"
        assert found["side_top"] >= 0 and found["side_bottom"] <= found["screen"], found  # all of it, first screen
        assert len(found["panels"]) == len(families) + 1  # real test images + one per family
        assert len({tuple(p) for p in found["panels"]}) == 1, found["panels"]  # one scale, one size
        assert found["panels"][0][2] >= 4 * 8 * 5  # 8x8 digits drawn at least 4x: legible
        assert found["metrics"] == [m.key for m in METRICS]
        assert found["families"] == list(families)
        assert set(found["cells"]) == {len(families) + 3}  # metric, better, one per family, winner
        assert "fid" in found["charts"] and len(found["charts"]) >= 6  # a chart per measure with numbers
        assert found["raw_json"] == 0  # parameters and results as definition lists, not a JSON dump
        assert page["images"] >= 3 * len(families) + 1
    finally:
        browser.quit()
    return {**page, **found}


def test_report_opens_in_headless_chromium(compare_report, tmp_path):
    check_report(compare_report / "report.html", tmp_path / "report.png", tmp_path / "chromium-profile")


def test_run_report_opens_in_headless_chromium(digits_binary, tmp_path):
    from genmodels.apps.train import train_run

    run = tmp_path / "run"
    train_run("vae", "digits", run, params={"hidden_dims": [32], "latent_dim": 4, "batch_size": 128,
                                            "sample_every": 1}, epochs=2, quiet=True)
    browser = open_browser(tmp_path / "chromium-profile")
    try:
        page = check_page(browser, run / "report.html", tmp_path / "run.png")
    finally:
        browser.quit()
    assert page["headings"][:3] == ["Samples", "Metrics", "Training"] and page["images"] >= 3
