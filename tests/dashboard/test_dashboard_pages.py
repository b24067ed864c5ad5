"""The pages, run headless by Streamlit's AppTest against the session's real Redis and
PostgreSQL (seeded through the sinks), including what they show when one source is down."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from config import PostgresSettings, RedisSettings
from obm.stack.health import free_port

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def _point_at(monkeypatch, pg: PostgresSettings, redis: RedisSettings) -> None:
    """The app reads its settings from the environment, as it does under `obm up`."""
    for name, value in {
        "OBM_PG_HOST": pg.host, "OBM_PG_PORT": pg.port, "OBM_PG_USER": pg.user,
        "OBM_PG_PASSWORD": pg.password.get_secret_value(), "OBM_PG_DATABASE": pg.database,
        "OBM_REDIS_HOST": redis.host, "OBM_REDIS_PORT": redis.port, "OBM_REDIS_KEY_PREFIX": redis.key_prefix,
        "OBM_DASHBOARD_REFRESH_S": 0,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, str(value))
    st.cache_resource.clear()  # stores and settings are per process: rebuild them from this env
    st.cache_data.clear()


def _run_app(**session) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in session.items():
        at.session_state[name] = value
    return at.run()


def _page(view: str):
    """A script that renders one page inside the app's frame (AppTest can only switch to
    file-based pages, and the app's pages are functions)."""

    def script(view_name: str) -> None:
        import importlib

        from dashboard import layout

        ctx = layout.render_sidebar()
        layout.render_health(layout.check_sources())
        importlib.import_module(f"dashboard.views.{view_name}").render(ctx)

    return AppTest.from_function(script, kwargs={"view_name": view}, default_timeout=60)


def _array(values) -> np.ndarray:
    """A trace's values from the figure JSON: a list, or plotly's typed array (dtype + base64)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).astype(float)
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_overview_shows_live_values_and_the_last_alert(monkeypatch, pg_settings, redis_prefix, market):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    at = _run_app()
    assert not at.exception
    table = at.dataframe[0].value.set_index("Symbol")
    first, second = market["tapes"]
    assert set(table.index) == {first.symbol, second.symbol}
    assert table.loc[first.symbol, "Imbalance"] == pytest.approx(market["metrics"][0]["imbalance_5"])
    assert table.loc[first.symbol, "Mid"] == pytest.approx(market["metrics"][0]["mid"])
    assert table.loc[first.symbol, "Last alert"] == "high imbalance_extreme"
    assert table.loc[second.symbol, "Last alert"] == "low imbalance_extreme"
    assert {m.label: m.value for m in at.metric}["Values from"] == "Redis"
    assert "sink wrote" in _texts(at.caption)
    assert not at.warning and not at.error


def test_overview_columns_chosen_by_the_user(monkeypatch, pg_settings, redis_prefix, market):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    at = _run_app()
    assert not at.exception
    first = market["tapes"][0]
    latest = market["metrics"][0]
    table = at.dataframe[0].value.set_index("Symbol")
    assert table.loc[first.symbol, "Weighted imbalance"] == pytest.approx(latest["weighted_imbalance"])
    assert table.loc[first.symbol, "VTOB ratio"] == pytest.approx(latest["vtob_ratio"])
    assert table.loc[first.symbol, "Imbalance velocity /s"] == pytest.approx(latest["imbalance_velocity"])
    at.multiselect(key="overview_extras").set_value(["Imbalance top-20", "Ask depth ±50 bps"]).run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("Symbol")
    assert "Weighted imbalance" not in table.columns
    assert table.loc[first.symbol, "Imbalance top-20"] == pytest.approx(latest["imbalance_20"])
    assert table.loc[first.symbol, "Ask depth ±50 bps"] == pytest.approx(latest["depth_ask_50bps"])
    assert "only a lower bound" in _texts(at.caption)


def test_overview_honours_per_symbol_alert_overrides(monkeypatch, pg_settings, redis_prefix, market):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    first, second = market["tapes"]
    high = abs(market["metrics"][0]["imbalance_10"]) / 2  # the override makes the first one strong
    monkeypatch.setenv(
        "OBM_ALERT_OVERRIDES", f'{{"{first.symbol}": {{"imbalance_level": 10, "imbalance_high": {high}}}}}'
    )
    monkeypatch.setenv("OBM_ALERT_IMBALANCE_HIGH", "1.0")  # nobody else is strong
    monkeypatch.setenv("OBM_ALERT_IMBALANCE_MEDIUM", "0.9")
    monkeypatch.setenv("OBM_ALERT_IMBALANCE_HIGH_CLEAR", "0.95")
    st.cache_resource.clear()
    at = _run_app()
    assert not at.exception
    table = at.dataframe[0].value.set_index("Symbol")
    assert table.loc[first.symbol, "Imbalance"] == pytest.approx(market["metrics"][0]["imbalance_10"])
    assert table.loc[second.symbol, "Imbalance"] == pytest.approx(market["metrics"][1]["imbalance_5"])
    assert (table.loc[first.symbol, "Levels"], table.loc[second.symbol, "Levels"]) == (10, 5)
    assert {m.label: m.value for m in at.metric}["Strong imbalance"] == "1"
    assert f"for {first.symbol}" in _texts(at.caption)


def test_a_setting_that_names_an_unpublished_column_stops_the_app_with_the_reason(
    monkeypatch, pg_settings, redis_prefix
):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    monkeypatch.setenv("OBM_ALERT_IMBALANCE_LEVEL", "3")
    st.cache_resource.clear()
    at = _run_app()
    assert not at.exception
    assert "imbalance_level 3 names a column the metrics job does not publish" in _texts(at.error)
    assert not at.dataframe


def test_overview_falls_back_to_postgres_when_redis_is_down(monkeypatch, pg_settings, redis_prefix, market):
    _point_at(monkeypatch, pg_settings, redis_prefix.model_copy(update={"port": free_port()}))
    at = _run_app()
    assert not at.exception
    assert "Redis is down" in _texts(at.warning)
    assert {m.label: m.value for m in at.metric}["Values from"] == "PostgreSQL"
    table = at.dataframe[0].value.set_index("Symbol")
    first = market["tapes"][0]
    assert table.loc[first.symbol, "Imbalance"] == pytest.approx(market["metrics"][0]["imbalance_5"])
    assert table.loc[first.symbol, "Last alert"] == "high imbalance_extreme"


def test_both_sources_down_is_said_plainly(monkeypatch, pg_settings, redis_prefix):
    _point_at(monkeypatch, pg_settings.model_copy(update={"port": free_port()}),
              redis_prefix.model_copy(update={"port": free_port()}))  # fmt: skip
    at = _run_app()
    assert not at.exception
    assert "both down" in _texts(at.error)


def test_symbol_view_shows_cards_charts_and_the_alert(monkeypatch, pg_settings, redis_prefix, market):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    first = market["tapes"][0]
    at = _page("symbol")
    at.session_state["symbol_key"] = first.key
    at.run()
    assert not at.exception
    cards = {m.label: m.value for m in at.metric}
    latest = market["metrics"][0]
    assert cards["Imbalance top-5"] == f"{latest['imbalance_5']:+.3f}"
    assert cards["Spread bps"] == f"{latest['spread_bps']:.2f}"
    charts = at.get("plotly_chart")
    # gauge, series, weighted/VTOB, depth bands, velocity, depth, candles, heatmap
    assert len(charts) == 8
    assert "1 alert in the last 1 hour" in _texts(at.caption)
    assert not at.warning


def test_symbol_view_shows_the_book_shape_metrics_and_the_picked_level(
    monkeypatch, pg_settings, redis_prefix, market
):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    monkeypatch.setenv("OBM_ALERT_VELOCITY_THRESHOLD", "0.07")
    st.cache_resource.clear()
    first = market["tapes"][0]
    latest = market["metrics"][0]
    at = _page("symbol")
    at.session_state["symbol_key"] = first.key
    at.run()
    assert not at.exception
    cards = {m.label: m.value for m in at.metric}
    deltas = {m.label: m.delta or None for m in at.metric}
    assert cards["Weighted imbalance"] == f"{latest['weighted_imbalance']:+.3f}"
    assert cards["VTOB ratio"] == f"{latest['vtob_ratio']:.3f}"
    assert cards["Imbalance velocity /s"].startswith(f"{latest['imbalance_velocity']:+.3f}")
    assert deltas["Imbalance velocity /s"] == "alert at ±0.07"
    assert latest["depth_complete_50bps"] is False  # 20 levels of the seed end inside 50 bps
    assert cards["Depth ±50 bps"] == f"{latest['depth_bid_50bps']:,.4g} / {latest['depth_ask_50bps']:,.4g}"
    assert deltas["Depth ±50 bps"] == "≥ lower bound"
    assert deltas["Depth ±10 bps"] == (None if latest["depth_complete_10bps"] else "≥ lower bound")
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [spec["layout"].get("title", {}).get("text", "") for spec in specs]
    assert any("velocity_spike alert at |v| ≥ 0.07" in t for t in titles), titles
    depth = next(
        spec for spec, t in zip(specs, titles, strict=True) if t.startswith("Depth within 10/50/100")
    )
    marks = [tr for tr in depth["data"] if tr.get("name") == "lower bound (levels end inside the band)"]
    assert (
        marks and len(_array(marks[0]["y"])) >= 2 * 20
    )  # 50 and 100 bps never complete: every bucket marked
    assert "Imbalance top-5" in cards and "Imbalance top-20" not in cards

    at.button_group(key="imbalance_level").set_value(20).run()
    assert not at.exception
    cards = {m.label: m.value for m in at.metric}
    assert cards["Imbalance top-20"] == f"{latest['imbalance_20']:+.3f}"
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    series = next(s for s in specs if s["layout"].get("title", {}).get("text") == "Imbalance and mid")
    assert series["layout"]["yaxis"]["title"]["text"] == "imbalance top-20"
    line = next(tr for tr in series["data"] if tr.get("name") == "imbalance")
    stored = [r["imbalance_20"] for r in market["history"] if r["symbol"] == first.symbol]
    shown = _array(line["y"])
    shown = shown[~np.isnan(shown)]
    assert len(shown) > 100 and min(stored) - 1e-9 <= shown.min() and shown.max() <= max(stored) + 1e-9
    gauge = next(s for s in specs if s["data"][0].get("type") == "indicator")
    assert (
        "top-20" in gauge["data"][0]["title"]["text"]
        and "alert bands apply to top-5" in gauge["data"][0]["title"]["text"]
    )


def test_symbol_view_without_the_database_draws_from_redis(monkeypatch, pg_settings, redis_prefix, market):
    _point_at(monkeypatch, pg_settings.model_copy(update={"port": free_port()}), redis_prefix)
    first = market["tapes"][0]
    at = _page("symbol")
    at.session_state["symbol_key"] = first.key
    at.run()
    assert not at.exception
    assert "PostgreSQL is down" in _texts(at.warning)
    # no heatmap and no metric history without the database; the live cards stay
    assert len(at.get("plotly_chart")) == 4
    assert {m.label: m.value for m in at.metric}["VTOB ratio"] == f"{market['metrics'][0]['vtob_ratio']:.3f}"
    assert "1 alert in the last 1 hour" in _texts(at.caption)  # from the Redis stream


def _alert_feed(at):
    """The feed among the page's tables (the rules' hit rates come first, above it)."""
    feeds = [d.value for d in at.dataframe if "Severity" in d.value.columns]
    assert len(feeds) == 1, [list(d.value.columns) for d in at.dataframe]
    return feeds[0]


def test_alerts_page_filters_by_severity(monkeypatch, pg_settings, redis_prefix, market):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    at = _page("alerts").run()
    assert not at.exception
    assert "2 alerts in the last 1 hour · from PostgreSQL" in _texts(at.markdown)
    feed = _alert_feed(at)
    assert set(feed["Severity"]) == {"high", "low"}
    at.multiselect(key="alert_severity").set_value(["high"]).run()
    feed = _alert_feed(at)
    assert list(feed["Severity"]) == ["high"] and list(feed["Symbol"]) == [market["tapes"][0].symbol]
    assert feed.loc[0, "When"].endswith(" s ago")  # 30 s when seeded, a little more by now


def test_export_prepares_a_download(monkeypatch, pg_settings, redis_prefix, market):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    at = _page("export").run()
    first = market["tapes"][0]
    at.selectbox(key="export_symbol").set_value(first.key)
    at.selectbox(key="export_kind").set_value("bars 1s")
    at.button[0].click().run()
    assert not at.exception
    assert "rows" in _texts(at.success)
    rows = int(_texts(at.success).split(" rows")[0].replace(",", ""))
    assert 1_000 <= rows <= 1_200  # the last hour holds the 20 minutes of 1 s bars
    assert at.get("download_button")


def test_settings_show_overrides(monkeypatch, pg_settings, redis_prefix, market):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    symbol = market["tapes"][0].symbol
    monkeypatch.setenv("OBM_ALERT_OVERRIDES", f'{{"{symbol}": {{"imbalance_high": 0.85}}}}')
    st.cache_resource.clear()
    at = _page("settings").run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("threshold")
    assert table.loc["imbalance_high", symbol] == 0.85
    assert table.loc["imbalance_high", "default"] == 0.7
    assert "spread_bps ≥ k · spread_bps_mean" in table.loc["spread_widening_k", "meaning"]
    glossary = at.dataframe[1].value.set_index("metric")
    assert "(best bid size + best ask size)" in glossary.loc["VTOB ratio", "meaning"]
    assert "lower bound" in glossary.loc["Depth ±X bps", "meaning"]
