"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright, against
`streamlit run dashboard/app.py` pointed at the session's real Redis and PostgreSQL (seeded through
the sinks). Checks that the overview table and the symbol view show the live values and the alert,
that a new value written to Redis appears without a reload, the alert feed with why an alert
fired and each rule's measured hit rate, the book-shape metrics (cards with
a depth that is only a lower bound marked, charts over time, velocity with its threshold, the
overview's chosen columns) and the imbalance level choice, and saves screenshots to
test-artifacts/ for a human to judge the design."""

from __future__ import annotations

import time

import pytest

from bench import dashboard_seed as seed
from dashboard.alert_context import book_line, why_line
from tests.dashboard.browser import ARTIFACTS, dashboard_page
from tests.dashboard.processed_records import ALERT_CONTEXT, full_processed

pytestmark = pytest.mark.browser


def _grid_values(page) -> list[str]:
    """The cells of the first data grid (Streamlit keeps an accessible copy of the canvas grid)."""
    return page.locator("[data-testid='stDataFrame']").first.locator("[role='gridcell']").all_inner_texts()


def _wait_for(predicate, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def _has_number(cells: list[str], value: float, tol: float = 1e-9) -> bool:
    for cell in cells:
        try:
            if abs(float(cell) - value) <= tol:
                return True
        except ValueError:
            continue
    return False


def _settle(page) -> None:
    """Waits until no script run is in progress, so a screenshot is not of a half-drawn page."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000
    )
    page.wait_for_timeout(800)


def test_overview_and_symbol_view_in_chromium(pg_settings, redis_prefix, market):
    first, second = market["tapes"]
    latest = market["metrics"][0]
    # Wide enough for every column of the overview: the grid draws only visible columns.
    viewport = {"width": 2200, "height": 1000}
    with dashboard_page(pg_settings, redis_prefix, "dashboard-browser-streamlit.log", viewport) as page:
        # Overview: both symbols, the live imbalance and the last alert.
        _wait_for(lambda: first.symbol in _grid_values(page), "the overview table")
        cells = _grid_values(page)
        assert second.symbol in cells
        assert _has_number(cells, latest["imbalance_5"])
        assert "high imbalance_extreme" in cells
        # The overview's default extra columns: weighted imbalance, VTOB, velocity.
        headers = page.locator("[data-testid='stDataFrame']").first.locator("[role='columnheader']")
        header_texts = " ".join(headers.all_inner_texts())
        for header in ("Weighted imbalance", "VTOB ratio", "Imbalance velocity /s"):
            assert header in header_texts, header_texts
        assert _has_number(cells, latest["weighted_imbalance"], tol=5e-4)
        assert _has_number(cells, latest["vtob_ratio"], tol=5e-4)
        # Health header: both sources reachable (Redis may read "degraded": no sink runs here,
        # so its heartbeat ages after seeding).
        page.get_by_text("Redis (live): ").first.wait_for(timeout=10_000)
        page.get_by_text("PostgreSQL (history): up").first.wait_for(timeout=10_000)
        assert page.get_by_text(": down").count() == 0

        # Live: a new value written through the Redis sink shows up without a reload.
        newer = full_processed(seed.book_at(first, len(first.mids) - 1), latest)
        newer.update(
            sequence_id=newer["sequence_id"] + 1, event_time=int(time.time() * 1000), imbalance_5=-0.4321
        )
        seed.store_redis(redis_prefix, metrics=[newer])
        _wait_for(lambda: _has_number(_grid_values(page), -0.4321), "the live update in the overview")

        # Stop refreshing for a still screenshot.
        page.get_by_test_id("stSidebar").get_by_text("off", exact=True).click()
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"))

        # Symbol view of the first symbol: cards with the live values, charts, the alert.
        page.set_viewport_size({"width": 1500, "height": 2200})
        page.get_by_role("link", name="Symbol view").click()
        page.get_by_text("Symbol view · binance:").first.wait_for(timeout=30_000)
        if page.get_by_text(f"Symbol view · {first.key}").count() == 0:
            page.get_by_test_id("stSelectbox").filter(has_text="Symbol").click()
            page.get_by_role("option", name=first.key).click()
        page.get_by_text(f"Symbol view · {first.key}").wait_for(timeout=30_000)
        page.get_by_text("1 alert in the last 1 hour").wait_for(timeout=30_000)
        _settle(page)
        cards = page.locator("[data-testid='stMetric']").all_inner_texts()
        assert any("Imbalance top-5" in c and "-0.432" in c for c in cards), cards
        assert any("Spread bps" in c and f"{newer['spread_bps']:.2f}" in c for c in cards), cards
        charts = page.locator(".js-plotly-plot")
        _wait_for(lambda: charts.count() >= 8, "eight charts")
        assert page.locator(".js-plotly-plot .legendtext", has_text="alert high").count() == 1
        # Book-shape metrics: cards (50 bps is beyond the seed's 20 levels: a lower bound),
        # charts over time with lower-bound markers and the velocity threshold.
        assert any("Weighted imbalance" in c and f"{newer['weighted_imbalance']:+.3f}" in c for c in cards)
        assert any("VTOB ratio" in c and f"{newer['vtob_ratio']:.3f}" in c for c in cards), cards
        assert any("Imbalance velocity /s" in c and "alert at ±0.05" in c for c in cards), cards
        assert any(
            "Depth ±50 bps" in c and f"{newer['depth_bid_50bps']:,.4g}" in c and "≥ lower bound" in c
            for c in cards
        ), cards
        assert page.locator(".js-plotly-plot .legendtext", has_text="lower bound").count() == 1
        assert (
            page.locator(".js-plotly-plot .gtitle", has_text="velocity_spike alert at |v| ≥ 0.05").count()
            == 1
        )
        assert (
            page.locator(".js-plotly-plot .gtitle", has_text="Weighted imbalance and VTOB ratio").count() == 1
        )
        page.screenshot(path=str(ARTIFACTS / "dashboard-symbol.png"))

        # The imbalance level: top-20 for the gauge, the card and the series.
        page.get_by_text("top-20", exact=True).click()
        _wait_for(
            lambda: any(
                "Imbalance top-20" in c and f"{newer['imbalance_20']:+.3f}" in c
                for c in page.locator("[data-testid='stMetric']").all_inner_texts()
            ),
            "the top-20 imbalance card",
        )
        page.locator(".js-plotly-plot .ytitle", has_text="imbalance top-20").first.wait_for(timeout=30_000)
        page.locator(".js-plotly-plot", has_text="alert bands apply to top-5").first.wait_for(timeout=30_000)
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / "dashboard-symbol-top20.png"))

        # Alerts page: the feed lists both alerts, the first says why it fired; above it, each
        # rule with its measured hit rate (two alerts: n too small).
        page.set_viewport_size({"width": 2600, "height": 1000})
        page.get_by_role("link", name="Alerts").click()
        page.get_by_text("2 alerts in the last 1 hour").wait_for(timeout=30_000)
        page.get_by_text("Each rule's measured hit rate").wait_for(timeout=30_000)
        _settle(page)
        grids = page.locator("[data-testid='stDataFrame']")
        rules, feed = (grids.nth(i).locator("[role='gridcell']").all_inner_texts() for i in (0, 1))
        assert "high" in feed and "low" in feed and first.symbol in feed
        assert why_line("imbalance_extreme", ALERT_CONTEXT) in feed and book_line(ALERT_CONTEXT) in feed
        assert "imbalance_extreme" in rules and any(c.startswith("n too small (n=") for c in rules), rules
        page.screenshot(path=str(ARTIFACTS / "dashboard-alerts.png"))
