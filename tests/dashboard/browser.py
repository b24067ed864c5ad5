"""What the browser tests share: the artifacts folder, a dashboard (`streamlit run
dashboard/app.py`) opened in Debian's headless Chromium through Playwright, and picking an option
in a Streamlit selectbox. A missing Chromium or Playwright is a broken setup: the test fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bench.dashboard_server import CHROMIUM, CHROMIUM_ARGS, running_dashboard
from config import PostgresSettings, RedisSettings

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@contextmanager
def dashboard_page(
    pg: PostgresSettings,
    redis: RedisSettings,
    log_name: str,
    viewport: dict[str, int],
    refresh_s: float = 1.0,
) -> Iterator[Any]:
    """A Playwright page on the front page of a running dashboard (its log in ARTIFACTS/log_name);
    the browser and the dashboard stop afterwards."""
    from playwright import sync_api  # a dev dependency: missing means a broken setup, not a skip

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap.sh test")
    ARTIFACTS.mkdir(exist_ok=True)
    with (
        running_dashboard(pg, redis, ARTIFACTS / log_name, refresh_s) as base,
        sync_api.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport)
            page.goto(base + "/", wait_until="domcontentloaded")
            yield page
        finally:
            browser.close()


def choose(page: Any, label: str, option: str, exact: bool = False) -> None:
    """Picks `option` in the selectbox labelled `label` (the page's first with that label)."""
    page.get_by_test_id("stSelectbox").filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=exact).click()
