"""The Analytics page in a real browser (Debian's headless Chromium, Playwright) against `streamlit
run dashboard/app.py` on the session's PostgreSQL and Redis with seeded trade bars and pair
records: the page is in the navigation, shows the chosen pair's latest ADF verdict and the symbol's
candles, takes a tick file through the real upload widget, and is saved as screenshots to
test-artifacts/ for a human to judge the design."""

from __future__ import annotations

import pytest

from dashboard.views.analytics import adf_verdict
from tests.dashboard.analytics_rows import seed_pair, seed_trade_bars
from tests.dashboard.browser import ARTIFACTS, choose, dashboard_page

pytestmark = pytest.mark.browser


def _settle(page) -> None:
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000
    )
    page.wait_for_timeout(500)


def test_analytics_page_in_chromium(pg_settings, redis_prefix, tmp_path):
    key, _ = seed_trade_bars(pg_settings)
    pair, records = seed_pair(pg_settings)
    ticks = tmp_path / "ticks.csv"
    ticks.write_text(
        "timestamp,symbol,price,size\n1723111200000,ETHUSDT,2500.5,1\n1723111200500,ETHUSDT,-1,1\n"
    )
    viewport = {"width": 1500, "height": 2600}
    with dashboard_page(pg_settings, redis_prefix, "analytics-browser-streamlit.log", viewport, 0) as page:
        page.get_by_role("link", name="Analytics").click()
        page.get_by_text("Pair (y / x)").first.wait_for(timeout=60_000)
        choose(page, "Pair (y / x)", pair)
        choose(page, "Symbol", key)
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
