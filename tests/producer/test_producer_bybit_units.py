"""Unit tests of the Bybit v5 adapter: message parsing and its DLQ reasons, u == 1 as a reset
snapshot, subscribe requests of at most 10 topics, the instruments listing per category."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from producer.book import SCALE
from producer.engine import Outcome
from producer.exchanges import BadFrame, bybit_inverse, bybit_linear, bybit_spot, resolve
from producer.exchanges.spec import BookSnapshot, DepthEvent, Instrument
from producer.stream_sync import StreamBookSync

pytestmark = pytest.mark.unit


def _push(kind: str = "delta", **data: object) -> dict:
    body = {"s": "BTCUSDT", "b": [["100.5", "2"]], "a": [["101", "0"]], "u": 8, "seq": 99}
    body.update(data)
    return {
        "topic": "orderbook.50.BTCUSDT",
        "type": kind,
        "ts": 1700000000000,
        "data": body,
        "cts": 1699999999999,
    }


def test_bybit_modules_resolve_from_settings() -> None:
    assert resolve("bybit", "spot") is bybit_spot.EXCHANGE
    assert resolve("bybit", "linear") is bybit_linear.EXCHANGE
    assert resolve("bybit", "inverse") is bybit_inverse.EXCHANGE
    assert bybit_inverse.EXCHANGE.stream_url("ws://h:1/", ["x"]) == "ws://h:1/v5/public/inverse"


def test_parse_delta_snapshot_and_reset() -> None:
    topic, ev = bybit_spot.parse_message(_push(), 5)
    assert topic == "orderbook.50.BTCUSDT" and isinstance(ev, DepthEvent)
    assert (ev.prev_final_id, ev.final_id, ev.event_time, ev.transaction_time) == (
        7,
        8,
        1700000000000,
        1699999999999,
    )
    assert ev.bids == ((100 * SCALE + SCALE // 2,), (2 * SCALE,)) and ev.asks == ((101 * SCALE,), (0,))
    _, snap = bybit_spot.parse_message(_push("snapshot"), 5)
    assert isinstance(snap, BookSnapshot) and snap.last_update_id == 8 and not snap.reset
    _, reset = bybit_spot.parse_message(_push("delta", u=1), 5)  # u == 1: a fresh snapshot, whatever the type
    assert isinstance(reset, BookSnapshot) and reset.reset
    assert bybit_spot.parse_message({"success": True, "ret_msg": "pong", "op": "ping"}, 0) is None


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        ("x", "not a JSON object"),
        (
            {"success": False, "ret_msg": "error:handler not found", "op": "subscribe"},
            "venue refused subscribe",
        ),
        ({"topic": "publicTrade.BTCUSDT", "data": {}}, "not an orderbook push"),
        (dict(_push(), data=[1]), "field 'data' is not an object"),
        (_push(s=5), "field 's'"),
        (_push(u=0), "field 'u'"),
        (dict(_push(), ts="1"), "field 'ts'"),
        (dict(_push(), cts=-1), "field 'cts'"),
        (_push(b=[["1", "NaN"]]), "not a decimal number"),
        (_push("partial"), "unknown type"),
    ],
)
def test_parse_rejects_with_a_reason(msg, reason) -> None:  # noqa: ANN001
    with pytest.raises(BadFrame, match=reason):
        bybit_spot.parse_message(msg, 0)


def test_subscribe_requests_carry_at_most_ten_topics() -> None:
    topics = [f"orderbook.50.S{i}USDT" for i in range(23)]
    requests = [orjson.loads(m) for m in bybit_spot.subscribe(topics)]
    assert [len(r["args"]) for r in requests] == [10, 10, 3]
    assert [a for r in requests for a in r["args"]] == topics
    assert [orjson.loads(m)["op"] for m in bybit_spot.resubscribe(topics[0])] == ["unsubscribe", "subscribe"]


def test_instruments_per_category() -> None:
    def body(category: str, **item: str) -> dict:
        entry = {"symbol": "BTCUSD", "status": "Trading", "baseCoin": "BTC", "quoteCoin": "USD", **item}
        return {"retCode": 0, "result": {"category": category, "list": [entry]}}

    inverse = bybit_spot.parse_instruments(body("inverse", contractType="InversePerpetual"))["BTCUSD"]
    assert inverse == Instrument("BTCUSD", "Trading", True, "BTC", "USD", "perp", Decimal(1), True)
    spot = bybit_spot.parse_instruments(body("spot", status="PreLaunch"))["BTCUSD"]
    assert (spot.kind, spot.trading, spot.contract_size) == ("spot", False, None)
    with pytest.raises(BadFrame, match="not an instruments answer"):
        bybit_spot.parse_instruments({"retCode": 10001, "result": {}})


def test_reset_snapshot_replaces_a_book_at_a_higher_id_but_a_repeat_does_not() -> None:
    sync = StreamBookSync.create(bybit_linear.EXCHANGE, "BTCUSDT", 5)
    sync.use_instrument(Instrument("BTCUSDT", "Trading", True, "BTC", "USDT", "perp"))
    snap = bybit_spot.parse_message(_push("snapshot", u=500, a=[["101", "1"]]), 0)[1]
    assert sync.on_stream_snapshot(snap) is Outcome.APPLIED
    assert sync.on_stream_snapshot(bybit_spot.parse_message(_push("snapshot", u=400), 0)[1]) is Outcome.STALE
    reset = bybit_spot.parse_message(_push("snapshot", u=1, b=[["99", "3"]], a=[["102", "1"]]), 0)[1]
    assert sync.on_stream_snapshot(reset) is Outcome.APPLIED
    assert (sync.local_id, sync.book.top(1)[0], sync.record_resynced) == (1, [99.0], True)
    assert sync.on_stream_snapshot(reset) is Outcome.STALE  # the same u == 1 snapshot again
    assert sync.on_event(bybit_spot.parse_message(_push(u=2, b=[], a=[]), 0)[1]) is Outcome.APPLIED
    assert sync.record_prev_id == 1
