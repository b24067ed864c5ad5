"""trades.bars into PostgreSQL, on plain PostgreSQL and on TimescaleDB (tests/pg_kinds.py): the
sink upserts each bar to its version with the most trades whatever order the versions come in
(an older one after a newer one, a replayed batch, two versions in one batch), values exact; the
hourly candles (a continuous aggregate under TimescaleDB, a view without it) and the cumulative
volume delta follow the stored bars."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import orjson
import psycopg
import pytest
from pg_kinds import require_timescaledb

from schemas.topics import Topic
from sinks.batching import SinkBatch, SinkRecord
from sinks.postgres_sink import PostgresSink

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
# The hour before the last whole one: inside the contract's age bound, and closed.
HOUR = int(time.time() * 1000) // HOUR_MS * HOUR_MS - HOUR_MS


@pytest.fixture
def exchange() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def sink(pg_settings):
    s = PostgresSink(pg_settings)
    s.setup()
    yield s
    s.close()


def _text(value: Decimal) -> str:
    return format(value, "f")  # the bars' texts never use an exponent


def _bar(exchange: str, interval: str, start: int, trades: list[tuple[str, str, str]]) -> dict:
    """A trades.bars record of (price, size, side) trades in time order, sums computed exactly."""
    size = {"1s": 1_000, "1m": 60_000, "5m": 300_000}[interval]
    prices = [Decimal(p) for p, _, _ in trades]
    sizes = [Decimal(q) for _, q, _ in trades]
    buy = sum((Decimal(q) for _, q, s in trades if s == "buy"), Decimal(0))
    sell = sum((Decimal(q) for _, q, s in trades if s == "sell"), Decimal(0))
    quote = sum((p * q for p, q in zip(prices, sizes, strict=True)), Decimal(0))
    return {
        "schema_version": 1, "exchange": exchange, "market": "spot", "symbol": "ETHUSDT", "interval": interval,
        "window_start": start, "window_end": start + size, "open": _text(prices[0]), "high": _text(max(prices)),
        "low": _text(min(prices)), "close": _text(prices[-1]), "volume": _text(sum(sizes)), "quote_volume": _text(quote),
        "vwap": float(quote / sum(sizes)), "trade_count": len(trades), "buy_volume": _text(buy),
        "sell_volume": _text(sell), "volume_delta": _text(buy - sell),
    }  # fmt: skip


def _write(sink: PostgresSink, bars: list[dict], offset: int = 0) -> None:
    records = [
        SinkRecord(Topic.TRADE_BARS, Topic.TRADE_BARS.value, 0, offset + i, b"k", orjson.dumps(b), 1)
        for i, b in enumerate(bars)
    ]
    result = sink.write(SinkBatch(records))
    assert not result.dlq, [r for r in result.dlq]


def _stored(pg_settings, exchange: str) -> dict[tuple, tuple]:
    with psycopg.connect(pg_settings.conninfo()) as conn:
        rows = conn.execute(
            """select "interval", (extract(epoch from window_start) * 1000)::bigint, trade_count, open, close,
                      volume, quote_volume, volume_delta
               from trade_bars where exchange = %s""",
            (exchange,),
        ).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def _row(bar: dict) -> tuple:
    return (
        bar["trade_count"],
        *(Decimal(bar[k]) for k in ("open", "close", "volume", "quote_volume", "volume_delta")),
    )


T1 = ("2511.5000000000", "0.123456789", "buy")
T2 = ("2511.7000000000", "1.000000001", "sell")
T3 = ("2510.0000000000", "0.000000001", "buy")


def test_each_bar_keeps_its_version_with_the_most_trades(sink, pg_settings, exchange):
    one, two, three = (_bar(exchange, "1s", HOUR, [T1, T2, T3][:n]) for n in (1, 2, 3))
    other = _bar(exchange, "1m", HOUR, [T1])
    _write(sink, [one, two, other])  # two versions in one batch
    assert _stored(pg_settings, exchange) == {("1s", HOUR): _row(two), ("1m", HOUR): _row(other)}
    _write(sink, [one], offset=3)  # an older version after a newer one
    _write(sink, [one, two, other])  # the first batch replayed
    assert _stored(pg_settings, exchange)[("1s", HOUR)] == _row(two)
    _write(sink, [three], offset=4)  # a late trade's update
    stored = _stored(pg_settings, exchange)
    assert stored[("1s", HOUR)] == _row(three)
    assert stored[("1s", HOUR)][4] == Decimal("2821.7617305952000000000"), (
        "exact: 19 decimals of price x size"
    )


def test_hourly_candles_and_cumulative_delta_follow_the_bars(sink, pg_settings, exchange):
    minutes = [_bar(exchange, "1m", HOUR + i * 60_000, [T1, T2] if i % 2 else [T3]) for i in range(4)]
    _write(sink, minutes)
    with psycopg.connect(pg_settings.conninfo()) as conn:
        candle = conn.execute(
            "select open, high, low, close, volume, trade_count, volume_delta from trade_bars_1h where exchange = %s",
            (exchange,),
        ).fetchall()
        cvd = conn.execute(
            "select cvd from trade_bars_cvd where exchange = %s and \"interval\" = '1m' order by window_start",
            (exchange,),
        ).fetchall()
        on_timescaledb = conn.execute(
            "select exists (select 1 from pg_extension where extname = 'timescaledb')"
        ).fetchone() == (True,)
    if on_timescaledb:  # trade_bars a hypertable, trade_bars_1h a continuous aggregate (pg_kinds)
        require_timescaledb(pg_settings)
    deltas = [Decimal(m["volume_delta"]) for m in minutes]
    assert candle == [
        (
            Decimal(T3[0]), Decimal(T2[0]), Decimal(T3[0]), Decimal(T2[0]),
            sum((Decimal(m["volume"]) for m in minutes), Decimal(0)), 6, sum(deltas, Decimal(0)),
        )
    ]  # fmt: skip
    assert [c for (c,) in cvd] == [sum(deltas[: i + 1], Decimal(0)) for i in range(4)]
