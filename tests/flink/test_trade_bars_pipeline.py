"""The trade_bars job as deployed (Kafka in, Kafka out, on the session cluster): bars keyed by
exchange:symbol on trades.bars; after the watermark has passed them, a trade within the allowed
lateness makes its bar come out again, updated, and a trade later than that goes to
orderbook.dlq with the reason and the trade itself, and changes no bar.

Deterministic without timing: the only trades are the ones written here, so once the bars of
the first batch are out the watermark is exactly the newest event time minus the
out-of-orderness, and the second batch is judged against that."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from flink_jobs.lifecycle import cancel_job, submit_job
from flink_jobs.pipelines import dlq_source
from flink_jobs.trade_bars import ALLOWED_LATENESS_MS, TOO_LATE
from schemas import Topic, validator_for
from tests.flink.kafka_io import consume_until, isolated_kafka, produce, read_all

pytestmark = pytest.mark.integration

KEY = "binance:ETHUSDT"


def _trade(trade_id: int, t: int, price: str, size: str, side: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "exchange": "binance",
        "market": "spot",
        "symbol": "ETHUSDT",
        "trade_id": str(trade_id),
        "price": price,
        "size": size,
        "side": side,
        "event_time": t,
        "receive_time_ns": t * 1_000_000,
    }


def _bars_1s(records: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    return [r for r in records if r["interval"] == "1s" and r["window_start"] == start]


def test_late_trades_update_their_bar_and_too_late_ones_go_to_the_dlq(kafka_settings, flink_settings) -> None:
    kafka = isolated_kafka(kafka_settings, (Topic.TRADES, Topic.TRADE_BARS, Topic.DLQ))
    t0 = int(time.time() * 1000) // 60_000 * 60_000 - 120_000  # a minute boundary, 2-3 min ago
    flush_t = t0 + 30_000
    watermark = flush_t - flink_settings.watermark_out_of_orderness_ms
    first = [
        _trade(1, t0 + 100, "2511.50", "0.10000000", "buy"),
        _trade(2, t0 + 600, "2511.70", "0.20000000", "sell"),
        _trade(3, t0 + 20_100, "2512.00", "1.00000000", "buy"),
        _trade(4, flush_t, "2512.10", "0.01000000", "buy"),
    ]
    # Bar [t0, t0+1 s) closed for updates at t0 + 999 + lateness: before the watermark.
    too_late = _trade(5, t0 + 700, "2400.00", "5.00000000", "sell")
    # Bar [t0+20 s, t0+21 s): emitted (its end is behind the watermark), open to updates until
    # t0 + 20 999 + lateness, ahead of it.
    late = _trade(6, t0 + 20_500, "2513.00", "0.50000000", "sell")
    assert t0 + 999 + ALLOWED_LATENESS_MS <= watermark < t0 + 20_999 + ALLOWED_LATENESS_MS
    produce(kafka, Topic.TRADES, first)

    job_id = submit_job("trade_bars", flink=flink_settings, kafka=kafka)
    try:
        consume_until(kafka, Topic.TRADE_BARS, lambda got: bool(_bars_1s(got, t0 + 20_000)))
        produce(kafka, Topic.TRADES, [too_late, late])
        bars = consume_until(
            kafka,
            Topic.TRADE_BARS,
            lambda got: any(b["trade_count"] == 2 for b in _bars_1s(got, t0 + 20_000)),
        )
        dlq = consume_until(
            kafka, Topic.DLQ, lambda got: any(r["source"] == dlq_source("trade_bars") for r in got)
        )
    finally:
        cancel_job(flink_settings, job_id)

    validate = validator_for(Topic.TRADE_BARS)
    for bar in bars:
        assert bar.pop("_key") == KEY
        validate(bar)
    first_bar = _bars_1s(bars, t0)
    assert len(first_bar) == 1, "the too-late trade changed no bar"
    assert (first_bar[0]["trade_count"], first_bar[0]["low"], first_bar[0]["close"]) == (
        2,
        "2511.5000000000",
        "2511.7000000000",
    )
    versions = _bars_1s(bars, t0 + 20_000)
    assert [v["trade_count"] for v in versions] == [1, 2]
    updated = versions[-1]
    assert (updated["open"], updated["close"], updated["high"]) == (
        "2512.0000000000",
        "2513.0000000000",
        "2513.0000000000",
    )
    assert (updated["volume"], updated["buy_volume"], updated["sell_volume"], updated["volume_delta"]) == (
        "1.500000000",
        "1.000000000",
        "0.500000000",
        "0.500000000",
    )
    assert updated["quote_volume"] == "3768.5000000000000000000"

    mine = [r for r in read_all(kafka, Topic.DLQ) if r["source"] == dlq_source("trade_bars")]
    assert len(mine) == 1 and len(dlq) >= 1
    rejected = mine[0]
    assert rejected["reason"].startswith(f"{TOO_LATE}: trade at event_time {t0 + 700} "), rejected["reason"]
    assert rejected["key"] == KEY and rejected["payload_encoding"] == "utf-8"
    assert json.loads(rejected["payload"]) == too_late
