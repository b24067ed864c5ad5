"""Benchmark: the symbol view with a day of 1 s bars for 10 symbols (issue 5: under 1 s).

Starts its own PostgreSQL and Redis (obm.stack, temporary state), stores 10 x 86 400 1 s bars, a
day of 1 s book snapshots for the measured symbol and some alerts through the real sinks, then
measures:

1. the server-side render path of the symbol view, uncached: the queries (`views.symbol.load`,
   with st.cache_data cleared before every run), the figures (`build_figures`) and their JSON
   serialisation (what Streamlit sends to the browser), for a 1 h and a 24 h range;
2. if Chromium is there: the page load in Debian's headless Chromium, from navigation until all
   eight charts are drawn and no script run is in progress (1 h range), and the rerun after
   switching the range to 24 h.

Also saves docs/img/dashboard-overview.png (the overview of these 10 symbols) for the README.

Run: .venv/bin/python -m bench.dashboard_symbol_view [--runs N] [--no-browser]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import dashboard_seed as seed
from bench.dashboard_server import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, dashboard_env, running_dashboard
from config import PostgresSettings, RedisSettings, StackSettings
from obm.stack.health import free_port
from obm.stack.postgres_server import PostgresServer
from obm.stack.redis_server import RedisServer
from schemas import record_key

SYMBOLS = [
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "DOGEUSDT",
    "LINKUSDT",
    "LTCUSDT",
    "TRXUSDT",
    "DOTUSDT",
    "MATICUSDT",
]  # fmt: skip  (BTCUSDT sorts first: the symbol view opens on it)
PRICES = [61_000.0, 2_500.0, 150.0, 0.55, 0.12, 14.0, 70.0, 0.16, 4.5, 0.4]
DAY_S = 86_400
MEASURED = 0  # index of the measured symbol


def seed_day(pg: PostgresSettings, redis: RedisSettings, now_ms: int) -> dict[str, float]:
    """Stores the day through the sinks; returns how long each part took (s)."""
    took: dict[str, float] = {}
    start_ms = now_ms - DAY_S * 1000
    tapes = [
        seed.make_tape(s, start_ms, DAY_S, p, seed=i)
        for i, (s, p) in enumerate(zip(SYMBOLS, PRICES, strict=True))
    ]
    t0 = time.perf_counter()
    for tape in tapes:
        seed.store_postgres(pg, bars=seed.bars_of(tape), chunk=20_000)
    took["bars"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    measured = tapes[MEASURED]
    seed.store_postgres(pg, books=(seed.book_at(measured, i) for i in range(DAY_S)), chunk=20_000)
    took["snapshots"] = time.perf_counter() - t0
    t0 = time.perf_counter()  # one processed record per second: the metric charts' history
    seed.store_postgres(
        pg, metrics=(seed.processed_of(seed.book_at(measured, i)) for i in range(DAY_S)), chunk=20_000
    )
    took["metrics"] = time.perf_counter() - t0
    alerts = [seed.alert(t, i, sev) for t in tapes for i, sev in zip(range(600, DAY_S, 1_800), ["high", "medium", "low"] * 20, strict=False)]  # fmt: skip
    seed.store_postgres(pg, alerts=alerts)
    refresh_live(redis, tapes, now_ms)
    seed.store_redis(redis, bars=[b for t in tapes for b in seed.bars_of(t)[-3_600:]], alerts=alerts[-50:])
    return took


def refresh_live(redis: RedisSettings, tapes: list[seed.SymbolTape], now_ms: int) -> None:
    """Latest values and books stamped `now`, as a running pipeline keeps them."""
    books = []
    for tape in tapes:
        book = seed.book_at(tape, DAY_S - 1)
        book["event_time"] = now_ms - 300
        books.append(book)
    seed.store_redis(redis, metrics=[seed.processed_of(b) for b in books], books=books)


def measure_render_path(pg: PostgresSettings, redis: RedisSettings, runs: int) -> dict[str, dict[str, float]]:
    """Server side, uncached: queries + figures + JSON, per range."""
    for key, value in dashboard_env(pg, redis, 0).items():
        os.environ[key] = value
    os.environ["STREAMLIT_LOGGER_LEVEL"] = "error"  # no "no runtime" warnings in bare mode
    import streamlit as st

    from dashboard.layout import ViewContext
    from dashboard.resources import alert_settings, live_store
    from dashboard.time_window import now_ms, window_ending_at
    from dashboard.views.symbol import build_figures, load

    key = record_key(seed.EXCHANGE, SYMBOLS[MEASURED])
    results: dict[str, dict[str, float]] = {}
    for label, range_s in (("1 hour", 3_600), ("24 hours", DAY_S)):
        ctx = ViewContext([key], [key], label, range_s, None, alert_settings(), "Redis")
        data_t, fig_t, json_t, total_t = [], [], [], []
        for _ in range(runs):
            st.cache_data.clear()
            t0 = time.perf_counter()
            data = load(key, window_ending_at(range_s, now_ms()), live_store(), now_ms())
            t1 = time.perf_counter()
            figs = build_figures(data, ctx)
            t2 = time.perf_counter()
            payload = sum(len(fig.to_json()) for fig in figs.values())
            t3 = time.perf_counter()
            assert len(figs) == 8 and not data.problems, data.problems
            data_t.append(t1 - t0)
            fig_t.append(t2 - t1)
            json_t.append(t3 - t2)
            total_t.append(t3 - t0)
        results[label] = {
            "data_ms": statistics.median(data_t) * 1000,
            "figures_ms": statistics.median(fig_t) * 1000,
            "json_ms": statistics.median(json_t) * 1000,
            "total_median_ms": statistics.median(total_t) * 1000,
            "total_max_ms": max(total_t) * 1000,
            "payload_kib": payload / 1024,
            "series_points": float(len(data.series)),
        }
    return results


def _settled(page) -> None:
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 8", timeout=60_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && "
        "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState !== 'running'",
        timeout=60_000,
    )


def measure_in_chromium(
    pg: PostgresSettings, redis: RedisSettings, runs: int, freshen: Callable[[], None]
) -> dict[str, float]:
    """`freshen` re-stamps the live values just before the overview screenshot."""
    from playwright.sync_api import sync_playwright

    loads, reruns = [], []
    log = REPO_ROOT / "test-artifacts" / "bench-dashboard-streamlit.log"
    with running_dashboard(pg, redis, log, refresh_s=0) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(runs):
                time.sleep(3.5)  # past the 3 s TTL of the history cache: every load queries
                page = browser.new_page(viewport={"width": 1500, "height": 2200})
                t0 = time.perf_counter()
                page.goto(f"{base}/symbol", wait_until="commit")
                _settled(page)
                loads.append(time.perf_counter() - t0)
                page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(
                    has_text="Time range"
                ).click()
                t0 = time.perf_counter()
                page.get_by_role("option", name="24 hours").click()
                # The rerun has started once the app says its script runs (the status widget is
                # shown only after a delay, and a fast rerun ends before it would appear).
                page.wait_for_function(
                    "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState"
                    " === 'running'",
                    polling="raf",
                    timeout=10_000,
                )
                _settled(page)
                reruns.append(time.perf_counter() - t0)
                page.close()
            freshen()
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.goto(f"{base}/", wait_until="commit")
            page.wait_for_selector("[role='gridcell']", state="attached", timeout=60_000)
            page.wait_for_timeout(1_500)
            out = REPO_ROOT / "docs" / "img" / "dashboard-overview.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
        finally:
            browser.close()
    return {
        "load_median_s": statistics.median(loads),
        "load_max_s": max(loads),
        "rerun_24h_median_s": statistics.median(reruns),
        "rerun_24h_max_s": max(reruns),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="obm-bench-dashboard-"))
    state.chmod(0o755)
    stack = StackSettings(state_dir=state, start_timeout_s=180)
    pg_server = PostgresServer(PostgresSettings(port=free_port()), stack, durable=False)
    redis_server = RedisServer(RedisSettings(port=free_port(), latest_ttl_s=3_600), stack, persistent=False)
    try:
        pg_server.start()
        redis_server.start()
        pg, redis = pg_server.settings, redis_server.settings
        now = int(time.time()) * 1000
        took = seed_day(pg, redis, now)
        print(f"seeded through the sinks: {len(SYMBOLS)} x {DAY_S} 1 s bars in {took['bars']:.1f} s, "
              f"{DAY_S} snapshots in {took['snapshots']:.1f} s, {DAY_S} metrics rows in {took['metrics']:.1f} s")  # fmt: skip
        for label, r in measure_render_path(pg, redis, args.runs).items():
            print(f"symbol view, {label}: data {r['data_ms']:.0f} ms + figures {r['figures_ms']:.0f} ms + "
                  f"JSON {r['json_ms']:.0f} ms = {r['total_median_ms']:.0f} ms median "
                  f"(max {r['total_max_ms']:.0f} ms over {args.runs} runs; {r['series_points']:.0f} series points, "
                  f"{r['payload_kib']:.0f} KiB of figures)")  # fmt: skip
        if not args.no_browser and Path(CHROMIUM).exists():
            tapes = [seed.make_tape(s, now - DAY_S * 1000, DAY_S, p, seed=i) for i, (s, p) in enumerate(zip(SYMBOLS, PRICES, strict=True))]  # fmt: skip
            b = measure_in_chromium(
                pg, redis, max(3, args.runs // 2), lambda: refresh_live(redis, tapes, int(time.time() * 1000))
            )
            print(f"Chromium: symbol view page load (1 h) {b['load_median_s']:.2f} s median, "
                  f"max {b['load_max_s']:.2f} s; switch to 24 h {b['rerun_24h_median_s']:.2f} s median, "
                  f"max {b['rerun_24h_max_s']:.2f} s")  # fmt: skip
    finally:
        redis_server.stop()
        pg_server.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
