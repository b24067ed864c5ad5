"""The trade_bars job's logic on a bounded sequence of trades (two symbols, 11 minutes, trades out
of order within the watermark's bound, late within the allowed lateness, and too late), compared
with the independent Python reference: every bar's final value after upserting the changelog,
the bars emitted again for late trades, and the trades refused with their reason."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyflink.table import StreamTableEnvironment, Table, TableEnvironment
from pyflink.table.expressions import col

from flink_jobs.connectors import KEY_COLUMN, ROWTIME, file_source_ddl
from flink_jobs.environment import stream_table_environment
from flink_jobs.trade_bars import TOO_LATE, bar_versions, refused_trades, trade_bars_table
from schemas import Topic, validator_for
from tests.flink.conftest import BOUNDED_FLINK
from tests.flink.reference_trade_bars import reference_trade_bars

pytestmark = pytest.mark.integration

LATENESS_MS = 3_000
START_MS = 1_723_161_000_000  # 2024-08-09 00:50:00 UTC, a multiple of 5 min
DECIMAL_FIELDS = ("open", "high", "low", "close", "volume", "quote_volume", "buy_volume", "sell_volume",
                  "volume_delta")  # fmt: skip


def _trade(rng: random.Random, symbol: str, trade_id: int, t: int, price: Decimal) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "exchange": "binance",
        "market": "spot",
        "symbol": symbol,
        "trade_id": str(trade_id),
        "price": f"{price + Decimal(rng.randint(0, 9999)) / 10**10:.10f}",  # all 10 decimals used
        "size": f"{Decimal(rng.randint(1, 5 * 10**9)) / Decimal(10**9):.9f}",  # all 9
        "side": rng.choice(("buy", "sell")),
        "event_time": t,
        "receive_time_ns": t * 1_000_000,
    }


def trade_sequence(seed: int = 15) -> list[dict[str, Any]]:
    """Trades in arrival order: mostly in time, some up to 1.5 s back (within the watermark's
    2 s), and some held back 2.5-6 s (late within the lateness) or 9-20 s (too late)."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    held: list[tuple[int, dict[str, Any]]] = []  # (release after this arrival time, trade)
    prices = {"ETHUSDT": Decimal("2511.50"), "BTCUSDT": Decimal("61234.10")}
    t, ids = START_MS, {"ETHUSDT": 1_000, "BTCUSDT": 900_000_000}
    while t < START_MS + 11 * 60_000:
        t += rng.choice((5, 40, 120, 300, 700))
        symbol = rng.choice(tuple(prices))
        prices[symbol] += Decimal(rng.randint(-3, 3)) / 100
        ids[symbol] += 1
        trade = _trade(rng, symbol, ids[symbol], t, prices[symbol])
        roll = rng.random()
        if roll < 0.05:
            trade["event_time"] = t - rng.randint(0, 1_500)
        if roll > 0.97:
            held.append((t + rng.randint(2_500, 6_000), trade))
        elif roll > 0.955:
            held.append((t + rng.randint(9_000, 20_000), trade))
        else:
            out.append(trade)
        for due, late in [h for h in held if h[0] <= t]:
            held.remove((due, late))
            out.append(late)
    return out + [late for _, late in held]


@pytest.fixture(scope="module")
def bars_env() -> StreamTableEnvironment:
    """An environment of its own: the job's late-firing options would make the window TVFs of
    the other jobs' tests fail in a shared one. A stream one: bar_versions is a DataStream step."""
    return stream_table_environment(
        BOUNDED_FLINK, name="obm-trade-bars-tests", parallelism=1, with_kafka=False
    )


def _source(t_env: TableEnvironment, folder: Path, trades: list[dict[str, Any]]) -> Table:
    folder.mkdir(parents=True)
    (folder / "part-0.json").write_text("".join(json.dumps(r) + "\n" for r in trades))
    name = f"trades_{uuid.uuid4().hex[:8]}"
    t_env.execute_sql(
        file_source_ddl(name, Topic.TRADES, folder, flink=BOUNDED_FLINK, watermark_each_record=True)
    )
    return t_env.from_path(name)


def _changelog(table: Table) -> list[tuple[str, dict[str, Any]]]:
    names = [n for n in table.get_schema().get_field_names() if n != ROWTIME]
    with table.select(*[col(n) for n in names]).execute().collect() as results:
        return [(str(row.get_row_kind()), dict(zip(names, row, strict=True))) for row in results]


def test_trade_bars_match_reference_with_late_and_too_late_trades(bars_env, tmp_path):
    trades = trade_sequence()
    ref = reference_trade_bars(
        trades, out_of_orderness_ms=BOUNDED_FLINK.watermark_out_of_orderness_ms, lateness_ms=LATENESS_MS
    )
    assert ref.refused and sum(ref.updates.values()) >= 10, "the sequence exercises both late paths"
    source = _source(bars_env, tmp_path / "in", trades)

    versions = _changelog(bar_versions(trade_bars_table(source, LATENESS_MS)))
    final: dict[tuple, dict[str, Any]] = {}
    updates: Counter[tuple] = Counter()
    validate = validator_for(Topic.TRADE_BARS)
    for kind, bar in versions:
        assert kind == "+I", "the versions are an append-only stream"
        key = (bar["exchange"], bar["symbol"], bar["interval"], bar["window_start"])
        assert bar.pop(KEY_COLUMN) == f"{bar['exchange']}:{bar['symbol']}"
        validate(bar)
        if key in final:
            updates[key] += 1
            assert bar["trade_count"] > final[key]["trade_count"], f"a version of {key} without a new trade"
        final[key] = bar
    assert set(final) == set(ref.bars)
    assert {k: n for k, n in updates.items() if n} == ref.updates
    problems = []
    for key, bar in final.items():
        want = ref.bars[key]
        for name in DECIMAL_FIELDS:
            if Decimal(bar[name]) != want[name]:
                problems.append(f"{key} {name}: {bar[name]} != {want[name]}")
        for name in ("market", "window_end", "trade_count"):
            if bar[name] != want[name]:
                problems.append(f"{key} {name}: {bar[name]} != {want[name]}")
        if abs(bar["vwap"] - want["vwap"]) > 1e-12 * want["vwap"]:
            problems.append(f"{key} vwap: {bar['vwap']} != {want['vwap']}")
    assert not problems, "\n".join(problems[:30])

    refused = _changelog(refused_trades(source, LATENESS_MS))
    assert sorted(r["trade_id"] for _, r in refused) == sorted(t["trade_id"] for t in ref.refused)
    for _, row in refused:
        assert row["reason"].startswith(f"{TOO_LATE}: trade at event_time {row['event_time']} "), row[
            "reason"
        ]
