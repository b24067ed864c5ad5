"""Every venue through the whole topology in one stack start: `obm up --exchanges
binance,okx,bybit,gateio,hyperliquid` runs one producer per venue against the simulator (every
venue's protocol on one port) -> orderbook.raw -> Flink metrics job -> orderbook.processed ->
sinks -> PostgreSQL and Redis. Each venue's records must arrive under its own exchange id, market
and symbols, with the normalized instrument that lines the same instrument up across venues, in
an unbroken chain per book; and each venue's metrics must be stored, equal to an independent
computation from its raw records."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator

import psycopg
import pytest

from config.clients import redis_client
from obm.stack.producers import PORT_STRIDE
from schemas.redis_layout import RedisLayout
from tests.e2e.reference_metrics import reference_metrics
from tests.e2e.stack_cli import StackUnderTest, free_port_run
from tests.e2e.test_walking_skeleton import METRIC_COLUMNS, read_topic

pytestmark = pytest.mark.e2e

VENUES = ("binance", "okx", "bybit", "gateio", "hyperliquid")
# (exchange id, symbol) -> (market, base, quote, kind): the venues' default symbols
# (producer/venue_defaults.py) and what their listings say.
EXPECTED = {
    ("binance", "BTCUSDT"): ("spot", "BTC", "USDT", "spot"),
    ("binance", "ETHUSDT"): ("spot", "ETH", "USDT", "spot"),
    ("binance", "SOLUSDT"): ("spot", "SOL", "USDT", "spot"),
    ("okx", "BTC-USDT"): ("spot", "BTC", "USDT", "spot"),
    ("okx", "ETH-USDT"): ("spot", "ETH", "USDT", "spot"),
    ("bybit", "BTCUSDT"): ("spot", "BTC", "USDT", "spot"),
    ("bybit", "ETHUSDT"): ("spot", "ETH", "USDT", "spot"),
    ("gateio", "BTC_USDT"): ("spot", "BTC", "USDT", "spot"),
    ("gateio", "ETH_USDT"): ("spot", "ETH", "USDT", "spot"),
    ("hyperliquid", "BTC"): ("perp", "BTC", "USDC", "perp"),
    ("hyperliquid", "ETH"): ("perp", "ETH", "USDC", "perp"),
}
PER_BOOK = 20  # records of every book before the checks start


@pytest.fixture(scope="module")
def stack() -> Iterator[StackUnderTest]:
    st = StackUnderTest()
    st.env["OBM_PRODUCER_METRICS_PORT"] = str(free_port_run(len(VENUES), PORT_STRIDE))
    # The one job this module checks (books and their metrics): the walking skeleton runs the
    # default six; on a busy 2-core CI machine five more submissions cost minutes, not coverage here.
    st.env["OBM_FLINK_JOBS"] = '["metrics"]'
    up = st.obm("up", "--exchanges", ",".join(VENUES), timeout=900)
    if up.returncode != 0:
        down = st.obm("down")
        pytest.fail(f"obm up failed:\n{up.stdout}\n{up.stderr}\n--- down:\n{down.stdout}")
    yield st
    down = st.obm("down", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    st.cleanup()


def raw_by_book(st: StackUnderTest) -> dict[tuple[str, str], list[dict]]:
    """orderbook.raw per (exchange, symbol), in topic order, once every expected book has
    PER_BOOK records (or the wait is over: the assertions then say which book is short)."""
    deadline = time.monotonic() + 240
    while True:
        books: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for record in read_topic(st, "orderbook.raw", min_records=PER_BOOK * len(EXPECTED)):
            books[(record["exchange"], record["symbol"])].append(record)
        if all(len(books[key]) >= PER_BOOK for key in EXPECTED) or time.monotonic() > deadline:
            return dict(books)
        time.sleep(2)


def test_status_shows_one_healthy_producer_per_venue(stack):
    status = stack.obm("status", timeout=120)
    assert status.returncode == 0, status.stdout + status.stderr
    base = int(stack.env["OBM_PRODUCER_METRICS_PORT"])
    for i, venue in enumerate(VENUES):
        line = next(line for line in status.stdout.splitlines() if line.startswith(f"producer-{venue} "))
        assert "healthy" in line and f":{base + PORT_STRIDE * i}/metrics" in line, status.stdout


def test_every_venue_publishes_its_books_with_its_instrument_in_one_chain(stack):
    books = raw_by_book(stack)
    logs = "\n".join(stack.log(f"producer-{v}", 10) for v in VENUES)
    assert set(books) == set(EXPECTED), f"books {sorted(books)}\n{logs}"
    for key, records in books.items():
        market, base, quote, kind = EXPECTED[key]
        assert len(records) >= PER_BOOK, (key, len(records), logs)
        for record in records:
            got = (record["market"], record.get("base"), record.get("quote"), record.get("kind"))
            assert got == (market, base, quote, kind), (key, got)
            assert record["bid_prices"] and record["ask_prices"], key
        for before, after in zip(records, records[1:], strict=False):
            assert after["sequence_id"] > before["sequence_id"], (key, before["sequence_id"], after)
            if not after["resynced"]:
                assert after["prev_sequence_id"] == before["sequence_id"], (key, after)
    # The same instrument on every venue: BTC against the dollar (USDT, or USDC on Hyperliquid).
    btc = {ex for (ex, _), (_, b, _, _) in EXPECTED.items() if b == "BTC"}
    assert btc == set(VENUES)


def test_every_venues_metrics_are_stored_and_equal_an_independent_computation(stack):
    books = raw_by_book(stack)
    wanted = {
        (r["exchange"], r["symbol"], r["sequence_id"]): r
        for key in EXPECTED
        for r in books.get(key, [])[:PER_BOOK]
    }
    rows: dict[tuple, dict] = {}
    deadline = time.monotonic() + 180
    with psycopg.connect(stack.postgres.conninfo(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            cur = conn.execute(
                f"select exchange, symbol, sequence_id, {', '.join(METRIC_COLUMNS)} from orderbook_metrics "
                "where sequence_id = any(%s)",
                ([k[2] for k in wanted],),
            )
            names = [d.name for d in cur.description]
            rows = {(r[0], r[1], r[2]): dict(zip(names, r, strict=True)) for r in cur.fetchall()}
            rows = {k: v for k, v in rows.items() if k in wanted}
            if set(wanted) <= set(rows):
                break
            time.sleep(2)
    missing = sorted({k[:2] for k in set(wanted) - set(rows)})
    assert not missing, f"books with raw records but no stored metrics: {missing}\n" + stack.log(
        "sink-postgres"
    )
    for key, record in wanted.items():
        expected = reference_metrics(record)
        for col in METRIC_COLUMNS:
            assert rows[key][col] == pytest.approx(expected[col], rel=1e-12, abs=1e-12), (key, col)

    # Redis: the latest metrics of every venue's books, each one of that book's raw records.
    r = redis_client(stack.redis, timeout_s=10)
    layout = RedisLayout.from_settings(stack.redis)
    latest = {key: r.get(layout.latest(*key)) for key in EXPECTED}
    assert all(latest.values()), [key for key, blob in latest.items() if not blob]
    for key, blob in latest.items():
        value = json.loads(blob)
        assert (value["exchange"], value["symbol"]) == key
        assert value["sequence_id"] >= books[key][0]["sequence_id"], (key, value["sequence_id"])
