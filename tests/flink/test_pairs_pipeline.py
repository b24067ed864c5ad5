"""The pairs job as deployed (Kafka in, Kafka out, on the session cluster): 1 s trade bars of
three instruments on trades.bars, two pairs that share a leg, and every record on
pairs.analytics equal to the independent reference (tests/flink/reference_pairs.py), keyed by the
pair, conforming to its schema; 1 min bars on the same topic are ignored.

Deterministic without timing: all bars are in Kafka before the job starts, and a bar of an
instrument no pair uses, far later on every partition, takes the watermark past the last second
of the input; so every second of the reference is computed, each once. That is a catch-up (the
watermark jumps past a backlog), computed here in slices of two seconds (max_records_per_call 3):
each slice's call continued by a processing-time timer, the path a backlog of 1,000 pairs takes.
When the whole input is read before the first watermark, every pair starts catching up and its
forward-filled seconds after the last bars come from the call that releases it
(PairSettings.catch_up_release_ms later); before that release existed, they never came (the
test failed about one run in two with the same six records missing)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from config import KafkaSettings, PairSettings
from flink_jobs.flink_rest import FlinkRest
from flink_jobs.job_health import last_exception, progress_of
from flink_jobs.lifecycle import cancel_job, submit_job
from schemas import Topic, validator_for
from tests.flink.kafka_io import consume_until, isolated_kafka, produce, read_messages
from tests.flink.reference_pairs import assert_matches, cointegrated_bars, reference_records

pytestmark = pytest.mark.integration

PAIRS = ["binance:ETHUSDT/binance:BTCUSDT", "okx:BTC-USDT/binance:BTCUSDT"]
SETTINGS = {
    "window_s": 60, "min_points": 30, "fill_max_age_ms": 3_000, "adf_every_s": 5, "adf_points": 60,
    "max_records_per_call": 3,
}  # fmt: skip


def _bar(key: str, start: int, close: str, interval: str = "1s") -> dict[str, Any]:
    exchange, symbol = key.split(":")
    size = {"1s": 1_000, "1m": 60_000}[interval]
    return {
        "schema_version": 1, "exchange": exchange, "market": "spot", "symbol": symbol, "interval": interval,
        "window_start": start, "window_end": start + size, "open": close, "high": close, "low": close,
        "close": close, "volume": "1.000000000", "quote_volume": close, "vwap": float(close), "trade_count": 1,
        "buy_volume": "1.000000000", "sell_volume": "0.000000000", "volume_delta": "1.000000000",
    }  # fmt: skip


def _stall_report(
    kafka: KafkaSettings, rest: FlinkRest, job_id: str, expected: dict[str, list[dict[str, Any]]], t0: int
) -> str:
    """What a stall looks like: the missing records (pair, second from t0, whether they are in
    an open transaction), the job's state, last exception, checkpoints and counters."""

    def seen(isolation: str) -> set[tuple[str, int]]:
        values = [json.loads(m.value()) for m in read_messages(kafka, Topic.PAIRS, isolation=isolation)]
        return {(v["pair"], v["event_time"]) for v in values}

    committed, written = seen("read_committed"), seen("read_uncommitted")
    missing = [
        (pair, (r["event_time"] - t0) // 1000, (pair, r["event_time"]) in written)
        for pair, records in expected.items()
        for r in records
        if (pair, r["event_time"]) not in committed
    ]
    job = rest.get(f"/jobs/{job_id}")
    checkpoints = rest.get(f"/jobs/{job_id}/checkpoints").get("counts", {})
    return (
        f"missing (pair, s, uncommitted) {missing}; job {job.get('state')}, last exception:"
        f" {last_exception(rest, job_id)}, checkpoints {checkpoints}, {progress_of(rest, job_id, 0)}"
    )


def test_pairs_job_equals_the_reference(kafka_settings, flink_settings, monkeypatch) -> None:
    for name, value in SETTINGS.items():
        monkeypatch.setenv(f"OBM_PAIRS_{name.upper()}", str(value))
    monkeypatch.setenv("OBM_PAIRS_PAIRS", '["' + '","'.join(PAIRS) + '"]')
    settings = PairSettings()  # what submit_job's JobSpec reads from the same environment
    kafka = isolated_kafka(kafka_settings, (Topic.TRADE_BARS, Topic.PAIRS, Topic.DLQ))
    t0 = int(time.time() * 1000) // 60_000 * 60_000 - 600_000
    eth, btc = cointegrated_bars(11, 150, t0, gap_at=70, gap_s=5)
    okx, _ = cointegrated_bars(12, 150, t0)
    okx = {t: f"{float(c) * 24:.2f}" for t, c in okx.items()}  # a BTC price on another venue
    legs = {"binance:ETHUSDT": eth, "binance:BTCUSDT": btc, "okx:BTC-USDT": okx}
    bars = sorted(
        (_bar(key, t, close) for key, closes in legs.items() for t, close in closes.items()),
        key=lambda b: b["window_start"],
    )
    bars.insert(len(bars) // 2, _bar("binance:ETHUSDT", t0, "1.00", interval="1m"))  # not a 1 s close
    produce(kafka, Topic.TRADE_BARS, bars)
    flush = t0 + 300_000
    for partition in range(3):
        produce(kafka, Topic.TRADE_BARS, [_bar("binance:XRPUSDT", flush, "0.50")], partition=partition)
    expected = {
        pair: reference_records(legs[pair.split("/")[0]], legs[pair.split("/")[1]], pair, settings)
        for pair in PAIRS
    }
    total = sum(len(records) for records in expected.values())
    assert all(len(records) > 60 for records in expected.values())

    job_id = submit_job("pairs", flink=flink_settings, kafka=kafka)
    try:
        got = consume_until(kafka, Topic.PAIRS, lambda records: len(records) >= total)
    except TimeoutError as exc:
        rest = FlinkRest.of(flink_settings)
        raise AssertionError(f"{exc}; {_stall_report(kafka, rest, job_id, expected, t0)}") from None
    finally:
        cancel_job(flink_settings, job_id)

    validate = validator_for(Topic.PAIRS)
    for pair in PAIRS:
        mine = [r for r in got if r["pair"] == pair]
        for record in mine:
            assert record.pop("_key") == pair
            validate(record)
        assert_matches(mine, expected[pair])  # in order, each second once
    assert len(got) == total
