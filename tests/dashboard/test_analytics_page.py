"""The Analytics page, run headless by Streamlit's AppTest against the session's real PostgreSQL
and Redis: trade bars and pair analytics seeded into the tables the sinks write, and the page
must show exactly the stored values; uploads analysed and refused with their reasons; exports
read back equal to the stored rows."""

from __future__ import annotations

import base64
import io
import time
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from config import PairSettings, PostgresSettings, RedisSettings
from dashboard.analytics_store import AnalyticsStore
from dashboard.export_files import to_bytes
from dashboard.time_window import TimeWindow
from dashboard.views.analytics import adf_verdict
from obm.cli import main
from obm.stack.health import free_port
from tests.dashboard.analytics_rows import seed_pair, seed_trade_bars, seed_trades
from tests.flink.reference_pairs import cointegrated_bars, reference_records

pytestmark = pytest.mark.integration


def _point_at(monkeypatch, pg: PostgresSettings, redis: RedisSettings) -> None:
    """The app reads its settings from the environment, as it does under `obm up`."""
    for name, value in {
        "OBM_PG_HOST": pg.host, "OBM_PG_PORT": pg.port, "OBM_PG_USER": pg.user,
        "OBM_PG_PASSWORD": pg.password.get_secret_value(), "OBM_PG_DATABASE": pg.database,
        "OBM_REDIS_HOST": redis.host, "OBM_REDIS_PORT": redis.port, "OBM_REDIS_KEY_PREFIX": redis.key_prefix,
        "OBM_DASHBOARD_REFRESH_S": 0,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, str(value))
    st.cache_resource.clear()
    st.cache_data.clear()


def _analytics_page() -> AppTest:
    def script() -> None:
        from dashboard import layout
        from dashboard.views import analytics

        analytics.render(layout.render_sidebar())

    return AppTest.from_function(script, default_timeout=90)


def _array(values) -> np.ndarray:
    """A trace's values from the figure JSON: a list, or plotly's typed array (dtype + base64)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).astype(float)
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _table(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page with this column (the candles' and the pair's differ)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a column {column!r}")


def _figure(at: AppTest, title_start: str) -> dict:
    import json

    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"]["title"]["text"].startswith(title_start):
            return spec
    raise AssertionError(f"no chart titled {title_start!r}")


@pytest.fixture
def trade_bars(pg_settings):
    return seed_trade_bars(pg_settings)


@pytest.fixture
def pair_rows(pg_settings):
    return seed_pair(pg_settings)


@pytest.fixture
def trades(pg_settings):
    return seed_trades(pg_settings)


def test_candles_show_the_stored_bars(monkeypatch, pg_settings, redis_prefix, trade_bars):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    key, rows = trade_bars
    at = _analytics_page().run()
    assert not at.exception
    at.selectbox(key="analytics_symbol").set_value(key).run()
    for interval in ("1s", "1m"):
        at.segmented_control(key="analytics_interval").set_value(interval).run()
        assert not at.exception and not at.error
        stored = [r for r in rows if r[5] == interval]
        last = stored[-1]
        shown = _metrics(at)
        assert float(shown["Close"]) == float(last[9])
        assert float(shown["Volume"]) == float(last[10])
        assert float(shown["VWAP"]) == pytest.approx(last[12], rel=1e-5)  # shown with 6 digits
        assert shown["Trades"] == f"{last[13]:,}"
        candles = _figure(at, "Trade candles")["data"]
        assert list(_array(candles[0]["close"])) == [float(r[9]) for r in stored]
        assert list(_array(candles[0]["high"])) == [float(r[7]) for r in stored]
        assert list(_array(candles[1]["y"])) == [float(r[14]) for r in stored]  # buy volume
        table = _table(at, "volume_delta")  # the newest 50, newest first
        newest = stored[::-1][:50]
        assert list(table["close"]) == [float(r[9]) for r in newest]
        assert list(table["volume_delta"]) == [float(r[16]) for r in newest]


def test_pair_shows_the_stored_analytics(monkeypatch, pg_settings, redis_prefix, pair_rows):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    pair, records = pair_rows
    at = _analytics_page().run()
    assert not at.exception
    at.selectbox(key="analytics_pair").set_value(pair).run()
    assert not at.exception
    last = records[-1]
    shown = _metrics(at)
    assert float(shown["β"]) == pytest.approx(last["beta"], rel=1e-3)  # 4 significant digits
    assert float(shown["ADF statistic"]) == pytest.approx(last["adf_stat"], rel=1e-3)
    assert shown["ADF verdict"] == adf_verdict(last["adf_pvalue"])
    table = _table(at, "zscore")  # the latest records, newest first, as stored
    newest = records[::-1][: len(table)]
    for field in ("beta", "zscore", "return_corr", "half_life_s", "adf_stat", "adf_pvalue"):
        want = [np.nan if r[field] is None else float(r[field]) for r in newest]
        np.testing.assert_array_equal(table[field].to_numpy(dtype=float), want, err_msg=field)
    spread = _figure(at, "Spread")["data"]
    assert list(_array(spread[0]["y"])) == [float(r["spread"]) for r in records]
    upper = np.array([r["spread_mean"] + 2.0 * r["spread_std"] for r in records])
    np.testing.assert_allclose(_array(spread[2]["y"]), upper, rtol=1e-12)
    prices = _figure(at, "Prices")["data"]
    y0 = float(records[0]["y_close"])
    np.testing.assert_allclose(
        _array(prices[0]["y"]), [float(r["y_close"]) / y0 for r in records], rtol=1e-12
    )


def test_upload_is_analysed_or_refused_with_reasons(monkeypatch, pg_settings, redis_prefix):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    at = _analytics_page().run()
    bad = b"timestamp,symbol,price,size\n1723111200000,ETHUSDT,abc,1\n"
    at.file_uploader(key="analytics_upload").set_value(("ticks.csv", bad, "text/csv")).run()
    assert not at.exception
    assert "price: not a positive number at line 2" in at.error[0].value
    t0 = 1_723_111_200_000
    y_bars, x_bars = cointegrated_bars(seed=5, seconds=120, start_ms=t0)
    lines = [f"{s + 400},ETHUSDT,{c},0.5" for s, c in y_bars.items()]
    lines += [f"{s + 600},BTCUSDT,{c},0.01" for s, c in x_bars.items()]
    good = ("timestamp,symbol,price,size\n" + "\n".join(lines) + "\n").encode()
    at.file_uploader(key="analytics_upload").set_value(("ticks.csv", good, "text/csv")).run()
    assert not at.exception and not at.error
    assert "2 symbol(s): upload:BTCUSDT, upload:ETHUSDT" in at.success[0].value
    at.selectbox(key="upload_y").set_value("upload:ETHUSDT")
    at.selectbox(key="upload_x").set_value("upload:BTCUSDT").run()
    assert not at.exception and not at.error
    settings = PairSettings()
    expected = reference_records(y_bars, x_bars, "upload:ETHUSDT/upload:BTCUSDT", settings)
    assert expected, "the default window's min_points fit in 120 s"
    shown = _metrics(at)
    assert float(shown["β"]) == pytest.approx(expected[-1]["beta"], rel=1e-3)
    assert shown["ADF verdict"] == adf_verdict(expected[-1]["adf_pvalue"])


@pytest.mark.parametrize("fmt", ["CSV", "Parquet"])
def test_export_reads_back_the_stored_rows(pg_settings, trade_bars, pair_rows, trades, fmt):
    key, rows = trade_bars
    pair, records = pair_rows
    traded, trade_records = trades
    store = AnalyticsStore(pg_settings)
    window = TimeWindow(int(time.time() - 3_600) * 1000, int(time.time() + 60) * 1000)
    try:
        bars = store.export_rows("trade bars 1m", key, window, 1_000)
        pairs = store.export_rows("pair analytics", pair, window, 1_000)
        raw = store.export_rows("trades", traded, window, 1_000)
        assert traded in store.traded_symbols(datetime.fromtimestamp(time.time() - 3_600, UTC))
        assert store.traded_symbols(datetime.fromtimestamp(time.time() + 60, UTC)) == []
    finally:
        store.close()
    data = to_bytes(raw, fmt)
    back = pd.read_csv(io.BytesIO(data), dtype=str) if fmt == "CSV" else pd.read_parquet(io.BytesIO(data))
    assert list(back["trade_id"]) == [t["trade_id"] for t in trade_records]
    assert [Decimal(str(v)) for v in back["price"]] == [Decimal(t["price"]) for t in trade_records]
    assert [Decimal(str(v)) for v in back["size"]] == [Decimal(t["size"]) for t in trade_records]
    assert list(back["side"]) == [t["side"] for t in trade_records]
    for frame, check in ((bars, "close"), (pairs, "beta")):
        data = to_bytes(frame, fmt)
        back = (
            pd.read_csv(io.BytesIO(data), float_precision="round_trip")
            if fmt == "CSV"
            else pd.read_parquet(io.BytesIO(data))
        )
        assert len(back) == len(frame)
        if check == "close":
            assert [Decimal(str(v)) for v in back["close"]] == [r[9] for r in rows if r[5] == "1m"]
        else:
            np.testing.assert_array_equal(back["beta"].to_numpy(dtype=float), [r["beta"] for r in records])


def test_the_export_tab_offers_the_stored_trades(monkeypatch, pg_settings, redis_prefix, trades):
    _point_at(monkeypatch, pg_settings, redis_prefix)
    traded, trade_records = trades
    at = _analytics_page().run()
    assert not at.exception
    at.selectbox(key="analytics_export_kind").set_value("trades").run()
    assert traded in at.selectbox(key="analytics_export_of").options
    at.selectbox(key="analytics_export_of").set_value(traded).run()
    at.button(key="analytics_export_go").click().run()
    assert not at.exception and not at.error
    assert at.success[0].value.startswith(f"{len(trade_records):,} rows")


def test_obm_export_writes_the_stored_rows(monkeypatch, tmp_path, pg_settings, trade_bars, pair_rows, trades):
    _point_at(monkeypatch, pg_settings, RedisSettings())
    key, rows = trade_bars
    pair, records = pair_rows
    traded, trade_records = trades
    start = pd.Timestamp.now(tz="UTC").floor("min") - pd.Timedelta(hours=1)
    span = [
        "--from",
        start.strftime("%Y-%m-%dT%H:%M:%S"),
        "--to",
        (start + pd.Timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"),
    ]
    runner = CliRunner()
    bars_file, pairs_file = tmp_path / "bars.parquet", tmp_path / "pairs.csv"
    result = runner.invoke(main, ["export", "--table", "trade_bars", "--key", key, "--interval", "1s", *span,
                                  "--format", "parquet", "--output", str(bars_file)])  # fmt: skip
    assert result.exit_code == 0, result.output
    bars = pd.read_parquet(bars_file)
    assert list(bars["close"]) == [r[9] for r in rows if r[5] == "1s"]  # exact decimals
    assert list(bars["window_start"]) == [r[0] for r in rows if r[5] == "1s"]
    result = runner.invoke(main, ["export", "--table", "pair_analytics", "--key", pair, *span,
                                  "--output", str(pairs_file)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{len(records):,} rows" in result.output
    back = pd.read_csv(pairs_file, float_precision="round_trip")
    np.testing.assert_array_equal(back["zscore"].to_numpy(dtype=float), [r["zscore"] for r in records])
    trades_file = tmp_path / "trades.csv"
    result = runner.invoke(
        main, ["export", "--table", "trades", "--key", traded, *span, "--output", str(trades_file)]
    )
    assert result.exit_code == 0, result.output
    assert f"{len(trade_records):,} rows" in result.output
    back = pd.read_csv(trades_file, dtype=str)
    assert [Decimal(v) for v in back["price"]] == [Decimal(t["price"]) for t in trade_records]
    assert list(back["trade_id"]) == [t["trade_id"] for t in trade_records]
    result = runner.invoke(main, ["export", "--table", "trade_bars", "--key", "binance:NOSUCHUSDT", *span])
    assert result.exit_code == 1 and "no trade bars 1m of binance:NOSUCHUSDT" in result.output


def test_database_down_is_said_and_uploads_still_work(monkeypatch, pg_settings, redis_prefix):
    _point_at(monkeypatch, pg_settings.model_copy(update={"port": free_port()}), redis_prefix)
    at = _analytics_page().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 3 and all("The database is unreachable" in e for e in errors), errors  # 2 + export
    ticks = b"timestamp,symbol,price,size\n1723111200000,ETHUSDT,2500.5,1\n1723111201000,ETHUSDT,2501,2\n"
    at.file_uploader(key="analytics_upload").set_value(("ticks.csv", ticks, "text/csv")).run()
    assert not at.exception
    assert "2 ticks of 1 symbol(s): upload:ETHUSDT" in at.success[0].value
    assert {m.label: m.value for m in at.metric}["Close"] == "2501"
