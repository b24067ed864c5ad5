"""The Analytics page in a real browser (Debian's headless Chromium, Playwright) against `streamlit
run dashboard/app.py` on the session's PostgreSQL and Redis with seeded trade bars and pair
records: the page is in the navigation, shows the chosen pair's latest ADF verdict and the symbol's
candles, takes a tick file through the real upload widget, and is saved as screenshots to
test-artifacts/ for a human to judge the design."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.dashboard_server import CHROMIUM, CHROMIUM_ARGS, running_dashboard
from dashboard.views.analytics import adf_verdict
from tests.dashboard.analytics_rows import seed_pair, seed_trade_bars

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"

from playwright import sync_api  # noqa: E402 - a dev dependency: missing means a broken setup, not a skip


def _choose(page, label: str, option: str) -> None:
    """Picks `option` in the selectbox labelled `label` (the page's first with that label)."""
    page.get_by_test_id("stSelectbox").filter(has_text=label).first.click()
    page.get_by_role("option", name=option).click()


def _settle(page) -> None:
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000
    )
    page.wait_for_timeout(500)


def test_analytics_page_in_chromium(pg_settings, redis_prefix, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap.sh test")
    key, _ = seed_trade_bars(pg_settings)
    pair, records = seed_pair(pg_settings)
    ticks = tmp_path / "ticks.csv"
    ticks.write_text(
        "timestamp,symbol,price,size\n1723111200000,ETHUSDT,2500.5,1\n1723111200500,ETHUSDT,-1,1\n"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with (
        running_dashboard(
            pg_settings, redis_prefix, ARTIFACTS / "analytics-browser-streamlit.log", 0
        ) as base,
        sync_api.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2600})
            page.goto(base + "/", wait_until="domcontentloaded")
            page.get_by_role("link", name="Analytics").click()
            page.get_by_text("Pair (y / x)").first.wait_for(timeout=60_000)
            _choose(page, "Pair (y / x)", pair)
            _choose(page, "Symbol", key)
            page.get_by_text(f"Trade candles {key} 1m").first.wait_for(timeout=30_000)
            verdict = adf_verdict(records[-1]["adf_pvalue"])
            cards = page.locator("[data-testid='stMetric']")
            cards.filter(has_text="ADF verdict").filter(has_text=verdict).first.wait_for(timeout=30_000)
            assert page.locator(".js-plotly-plot .gtitle", has_text="Spread ln y").count() == 1
            assert page.locator(".js-plotly-plot .gtitle", has_text="Hedge ratio").count() == 1
            _settle(page)
            page.screenshot(path=str(ARTIFACTS / "dashboard-analytics.png"), full_page=True)

            page.get_by_role("tab", name="Upload ticks").click()
            page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(ticks))
            page.get_by_text("price: not a positive number at line 3").wait_for(timeout=30_000)
        finally:
            browser.close()
