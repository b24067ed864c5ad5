"""How the alert feed and the symbol view say why an alert fired: the value against the symbol's
baseline, its percentile, and the book at that moment, from the alert's context (a dict from Redis
and from the jsonb column alike; alerts without one still show); an export keeps it as JSON."""

from __future__ import annotations

import io

import orjson
import pandas as pd
import pytest

from dashboard import figures
from dashboard.alert_context import book_line, context_of, hover_text, why_line
from dashboard.export_files import to_bytes
from dashboard.tables import alert_feed_table, alerts_frame, bars_frame

pytestmark = pytest.mark.unit

NOW = 1_723_161_300_000
BOOK = {
    "mid": 2612.355, "best_bid": 2612.35, "best_ask": 2612.36, "best_bid_size": 1.25, "best_ask_size": 34.5,
    "spread_bps": 0.0383, "depth_bid_10bps": 120.4, "depth_ask_10bps": 31.9, "depth_bid_50bps": 1830.0,
    "depth_ask_50bps": 2411.0,
}  # fmt: skip
ADAPTIVE_EXTREME = {
    "profile": "adaptive", "score": -27.4, "value": -0.8712, "baseline_mean": 0.0312, "baseline_std": 0.6021,
    "percentile": 0.036, "depth_notional_10bps": 397_000.0, "book": BOOK,
}  # fmt: skip


def _alert(alert_type: str = "imbalance_extreme", context=None, **extra) -> dict:
    record = {
        "alert_id": f"{alert_type}:binance:ETHUSDT:{NOW}:high", "alert_type": alert_type, "severity": "high",
        "exchange": "binance", "market": "spot", "symbol": "ETHUSDT", "metric_value": -27.4, "threshold": 50.0,
        "window_start": NOW - 1000, "window_end": NOW, "event_time": NOW, "message": "ETHUSDT top-5 imbalance",
    }  # fmt: skip
    if context is not None:
        record["context"] = context
    return {**record, **extra}


def test_an_adaptive_imbalance_alert_says_value_baseline_percentile_rarity_and_depth():
    assert why_line("imbalance_extreme", ADAPTIVE_EXTREME) == (
        "imbalance -0.871 vs usual +0.031 ± 0.602, percentile 3.6, 1 in 27 · 397k within 10 bps"
    )
    flip = {**ADAPTIVE_EXTREME, "score": 1200.0, "value": 0.83, "percentile": 0.991}
    assert why_line("imbalance_flip", flip).startswith(
        "imbalance +0.830 vs usual +0.031 ± 0.602, percentile 99.1, 1 in 1200"
    )


def test_spread_and_velocity_say_their_own_units():
    spread = {"profile": "adaptive", "score": 8.7, "value": 3.0, "baseline_mean": 2.01, "baseline_std": 0.1138,
              "percentile": 0.994, "depth_notional_10bps": None, "book": BOOK}  # fmt: skip
    assert (
        why_line("spread_widening", spread) == "spread 3.00 bps vs usual 2.01 ± 0.114, percentile 99.4, z 8.7"
    )
    velocity = {"profile": "adaptive", "score": -4.12, "value": -0.2101, "baseline_rms": 0.051,
                "depth_notional_10bps": 2_500_000.0, "book": BOOK}  # fmt: skip
    assert (
        why_line("velocity_spike", velocity)
        == "velocity -0.210/s, 4.1x its usual 0.051/s · 2.5M within 10 bps"
    )


def test_a_seed_alert_says_its_value_and_that_absolute_thresholds_fired_it():
    seed = {"profile": "seed", "score": 0.74, "value": 0.74, "book": BOOK}
    assert why_line("imbalance_extreme", seed) == "imbalance +0.740 (seed thresholds)"


def test_the_book_line_is_compact_and_marks_what_is_missing():
    assert book_line({"book": BOOK}) == (
        "mid 2,612.36 · 2,612.35 × 1.25 | 2,612.36 × 34.5 · 0.04 bps · 10 bps 120 | 31.9 · 50 bps 1.83k | 2.41k"
    )
    thin = {"book": {**dict.fromkeys(BOOK), "mid": 0.01234, "best_bid": 0.01233, "best_ask": None}}
    assert book_line(thin) == "mid 0.012340 · 0.012330 × — | — × —"
    assert book_line({"book": dict.fromkeys(BOOK)}) == ""


@pytest.mark.parametrize("missing", [None, float("nan"), {}, "", b"{broken"])
def test_alerts_without_a_context_have_empty_lines(missing):
    assert context_of(missing) is None
    assert why_line("imbalance_extreme", context_of(missing)) == "" and book_line(context_of(missing)) == ""


def test_a_context_as_json_text_reads_like_a_dict():
    assert context_of(orjson.dumps(ADAPTIVE_EXTREME).decode()) == ADAPTIVE_EXTREME


def test_the_feed_shows_why_and_the_book_next_to_the_message_and_keeps_older_alerts():
    frame = alerts_frame([
        _alert(context=ADAPTIVE_EXTREME),
        _alert(alert_id="old", event_time=NOW - 60_000),  # stored before alerts carried a context
    ])  # fmt: skip
    table = alert_feed_table(frame, NOW)
    assert list(table.columns[-3:]) == ["Message", "Why", "Book"]
    assert table.loc[0, "Why"] == why_line("imbalance_extreme", ADAPTIVE_EXTREME)
    assert table.loc[0, "Book"] == book_line(ADAPTIVE_EXTREME)
    assert (
        table.loc[1, "Message"] == "ETHUSDT top-5 imbalance"
        and table.loc[1, "Why"] == table.loc[1, "Book"] == ""
    )


def test_the_symbol_views_markers_hover_with_why_and_the_book():
    frame = alerts_frame([_alert(context=ADAPTIVE_EXTREME), _alert(alert_id="old", event_time=NOW - 60_000)])
    fig = figures.imbalance_mid_series(bars_frame([]), frame)
    (markers,) = [t for t in fig.data if t.name == "alert high"]
    assert sorted(markers.text) == sorted([
        hover_text("ETHUSDT top-5 imbalance", "imbalance_extreme", ADAPTIVE_EXTREME), "ETHUSDT top-5 imbalance",
    ])  # fmt: skip
    assert hover_text("m", "imbalance_extreme", ADAPTIVE_EXTREME) == (
        f"m<br>{why_line('imbalance_extreme', ADAPTIVE_EXTREME)}<br>{book_line(ADAPTIVE_EXTREME)}"
    )


def test_an_exported_alert_keeps_its_context_as_json_in_csv_and_parquet():
    frame = pd.DataFrame(
        {"alert_id": ["a", "b", "c"], "context": [ADAPTIVE_EXTREME, None, {"profile": "seed"}]}
    )
    csv = pd.read_csv(io.BytesIO(to_bytes(frame, "CSV")))
    assert [orjson.loads(v) for v in csv["context"].dropna()] == [ADAPTIVE_EXTREME, {"profile": "seed"}]
    parquet = pd.read_parquet(io.BytesIO(to_bytes(frame, "Parquet")))
    assert list(parquet["context"]) == [orjson.dumps(ADAPTIVE_EXTREME).decode(), None, '{"profile":"seed"}']
    assert list(frame["context"]) == [
        ADAPTIVE_EXTREME,
        None,
        {"profile": "seed"},
    ]  # the caller's frame unchanged
