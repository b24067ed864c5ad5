"""Uploaded tick files (dashboard/tick_upload.py): validation messages, bars from ticks, and the
pair analytics of two uploaded symbols against the independent statsmodels/numpy reference of
the pairs job's tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from config import PairSettings
from dashboard.tick_upload import TickFileError, bars_from_ticks, pair_from_ticks, parse_ticks
from dashboard.views.analytics import adf_verdict
from flink_jobs.pair_analytics import PairParameters
from tests.flink.reference_pairs import cointegrated_bars, reference_records

pytestmark = pytest.mark.unit

T0 = 1_723_111_200_000  # 2024-08-08T10:00:00Z


def _csv(rows: list[tuple]) -> bytes:
    return ("timestamp,symbol,price,size\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)).encode()


def test_parse_reads_ms_and_iso_times_and_keys_symbols():
    ticks = parse_ticks(
        _csv(
            [
                (T0 + 5, "ETHUSDT", "2500.10", "0.5"),
                ("2024-08-08T10:00:00.001Z", "binance:BTCUSDT", "60000", "1"),
            ]
        )
    )
    assert list(ticks["ts_ms"]) == [T0 + 1, T0 + 5]  # sorted by time
    assert list(ticks["key"]) == ["binance:BTCUSDT", "upload:ETHUSDT"]
    assert list(ticks["price_text"]) == ["60000", "2500.10"]


def test_parse_says_every_problem_with_its_lines():
    data = _csv(
        [
            (T0, "ETHUSDT", "2500", "1"),
            ("yesterday", "ETHUSDT", "2500", "1"),
            (T0, "", "2500", "1"),
            (T0, "ETHUSDT", "-3", "1"),
            (T0, "ETHUSDT", "nan", "0"),
            (T0 // 1000, "ETHUSDT", "2500", "1"),
        ]
    )
    with pytest.raises(TickFileError) as err:
        parse_ticks(data)
    assert err.value.problems == [
        "timestamp: not epoch milliseconds or ISO-8601 at line 3",
        "timestamp: before 2000 (epoch seconds? milliseconds are expected) at line 7",
        "symbol: empty or not SYMBOL / exchange:SYMBOL at line 4",
        "price: not a positive number at lines 5, 6",
        "size: not a positive number at line 6",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"time,sym,price,size\n1,A,1,1\n", "missing column(s) timestamp, symbol"),
        (b"timestamp,symbol,price,size\n", "no ticks"),
        (b"", "not a readable CSV"),
    ],
)
def test_parse_refuses_files_without_ticks(data, message):
    with pytest.raises(TickFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_ticks(data)


def test_bars_from_ticks_are_epoch_aligned_ohlcv():
    rows = [
        (T0 + 100, "A1", "10", "1"),
        (T0 + 900, "A1", "12", "2"),
        (T0 + 900, "A1", "11", "1"),  # same time: file order, so this is the close
        (T0 + 1_500, "A1", "9", "4"),
        (T0 + 61_000, "A1", "13", "1"),
        (T0 + 500, "B1", "99", "1"),
    ]
    ticks = parse_ticks(_csv(rows))
    one_s = bars_from_ticks(ticks, "upload:A1", "1s")
    assert list(one_s.index) == [pd.Timestamp(T0 + d, unit="ms", tz="UTC") for d in (0, 1_000, 61_000)]
    first = one_s.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (10, 12, 10, 11)
    assert (first["volume"], first["quote_volume"], first["trade_count"]) == (4, 10 + 24 + 11, 3)
    assert first["vwap"] == pytest.approx(45 / 4)
    assert math.isnan(first["buy_volume"])
    one_m = bars_from_ticks(ticks, "upload:A1", "1m")
    assert list(one_m["close"]) == [9, 13] and list(one_m["volume"]) == [8, 1]
    assert list(one_m["high"]) == [12, 13] and list(one_m["low"]) == [9, 13]


def test_pair_of_uploaded_symbols_equals_the_reference():
    settings = PairSettings(window_s=60, min_points=20, fill_max_age_ms=3_000, adf_every_s=7, adf_points=50)
    y_bars, x_bars = cointegrated_bars(seed=3, seconds=240, start_ms=T0, gap_at=150, gap_s=5)
    rows = []
    for bars, symbol in ((y_bars, "binance:ETHUSDT"), (x_bars, "binance:BTCUSDT")):
        for second, close in bars.items():
            rows.append((second + 250, symbol, f"{float(close) * 1.01:.2f}", "0.3"))  # not the close
            rows.append((second + 750, symbol, close, "0.1"))
    ticks = parse_ticks(_csv(rows))
    params = PairParameters(
        settings.window_s,
        settings.min_points,
        settings.fill_max_age_ms,
        settings.adf_every_s,
        settings.adf_points,
    )
    got = pair_from_ticks(ticks, "binance:ETHUSDT", "binance:BTCUSDT", params)
    expected = reference_records(y_bars, x_bars, "binance:ETHUSDT/binance:BTCUSDT", settings)
    assert len(expected) > 100
    assert list(got.index) == [pd.Timestamp(r["event_time"], unit="ms", tz="UTC") for r in expected]
    # 1e-9 as in the pairs job's tests, but the ADF 1e-8: it is fitted on the reference's spreads,
    # which carry its uncentred fit's absolute error (tests/flink/reference_pairs.py), up to 1.6e-9
    # relative on this input.
    tolerances = {"beta": 1e-9, "r_squared": 1e-9, "return_corr": 1e-9, "half_life_s": 1e-9,
                  "spread_std": 1e-9, "adf_stat": 1e-8, "adf_pvalue": 1e-8}  # fmt: skip
    for field, rtol in tolerances.items():
        want = np.array([np.nan if r[field] is None else r[field] for r in expected], dtype=float)
        np.testing.assert_allclose(got[field].to_numpy(), want, rtol=rtol, err_msg=field)
    np.testing.assert_allclose(got["zscore"].to_numpy(), [r["zscore"] for r in expected], atol=1e-6)
    assert list(got["y_close"]) == [float(r["y_close"]) for r in expected]
    assert list(got["points"]) == [r["points"] for r in expected]


def test_pair_needs_both_symbols_in_the_file():
    ticks = parse_ticks(_csv([(T0, "A1", "1", "1")]))
    with pytest.raises(TickFileError, match="no ticks of upload:B1"):
        pair_from_ticks(ticks, "upload:A1", "upload:B1", PairParameters(60, 20, 3_000, 7, 50))


@pytest.mark.parametrize(
    ("pvalue", "verdict"),
    [
        (0.004, "mean-reverting at 1%"),
        (0.03, "mean-reverting at 5%"),
        (0.07, "mean-reverting at 10%"),
        (0.4, "no evidence"),
        (float("nan"), "no ADF test yet"),
        (None, "no ADF test yet"),
    ],
)
def test_adf_verdict_in_words(pvalue, verdict):
    assert adf_verdict(pvalue) == verdict
