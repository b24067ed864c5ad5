"""Unit tests of the Hyperliquid adapter's pure parts: l2Book parsing (exact, refusing what it
cannot use with a reason), the meta/spotMeta listings (spot coins through the `@index` mapping),
subscribe messages, and the whole-book engine's ordering by time."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from producer.engine import Outcome
from producer.exchanges import BadFrame, hyperliquid_perp, hyperliquid_spot, resolve
from producer.exchanges.hyperliquid_perp import parse_message, perp_instruments
from producer.exchanges.hyperliquid_spot import spot_instruments
from producer.stream_sync import SnapshotStreamSync

pytestmark = pytest.mark.unit


def _msg(time_ms=5, bids=None, asks=None, coin="BTC"):  # noqa: ANN001, ANN202
    bids = (
        [{"px": "60000.5", "sz": "0.00012345", "n": 2}, {"px": "60000", "sz": "3", "n": 1}]
        if bids is None
        else bids
    )
    asks = [{"px": "60001", "sz": "1.5", "n": 4}] if asks is None else asks
    return {"channel": "l2Book", "data": {"coin": coin, "time": time_ms, "levels": [bids, asks]}}


def test_l2book_is_a_whole_book_at_its_time_exactly() -> None:
    stream, snap = parse_message(_msg(), 99)
    assert stream == "BTC" and snap.last_update_id == 5 and snap.event_time == 5
    assert snap.transaction_time is None and snap.receive_time_ns == 99
    assert snap.bids == ((6000050000000, 6000000000000), (12345, 300000000))
    assert snap.asks == ((6000100000000,), (150000000,))


def test_control_messages_are_not_books() -> None:
    assert parse_message({"channel": "pong"}, 0) is None
    answer = {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": {}}}
    assert parse_message(answer, 0) is None


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        ([1, 2], "not a JSON object"),
        ({"channel": "error", "data": "Invalid subscription"}, "venue error"),
        ({"channel": "trades", "data": []}, "not an l2Book message"),
        ({"channel": "l2Book", "data": []}, "'data' is not an object"),
        (_msg(coin=""), "'coin' is not a name"),
        (_msg(time_ms="5"), "'time' is not a non-negative integer"),
        (_msg(time_ms=-1), "'time' is not a non-negative integer"),
        (_msg(time_ms=True), "'time' is not a non-negative integer"),
        ({"channel": "l2Book", "data": {"coin": "BTC", "time": 1, "levels": [[]]}}, "not [bids, asks]"),
        (_msg(bids=[{"px": "1", "sz": "NaN", "n": 1}]), "not a decimal number"),
        (_msg(bids=[{"px": "1", "sz": 1.5, "n": 1}]), "not a decimal string"),
        (_msg(asks=[{"px": "1", "sz": "-1", "n": 1}]), "negative size"),
        (_msg(asks=[{"px": "1", "sz": "0", "n": 0}]), "size 0 in a whole book"),
        (
            _msg(asks=[{"px": "2", "sz": "1", "n": 1}, {"px": "1", "sz": "1", "n": 1}]),
            "not strictly ascending",
        ),
        (
            _msg(bids=[{"px": "1", "sz": "1", "n": 1}, {"px": "1", "sz": "2", "n": 1}]),
            "not strictly descending",
        ),
        (_msg(bids=[["1", "1"]]), "not {px, sz, n}"),
        (_msg(bids="x"), "not a list of levels"),
    ],
)
def test_unusable_frames_are_refused_with_a_reason(msg, reason) -> None:  # noqa: ANN001
    with pytest.raises(BadFrame, match=reason.replace("[", r"\[").replace("{", r"\{")):
        parse_message(msg, 0)


def test_perp_listing_keeps_the_coin_and_marks_delisted() -> None:
    body = {
        "universe": [
            {"name": "BTC", "szDecimals": 5},
            {"name": "kPEPE"},
            {"name": "LUNA", "isDelisted": True},
        ]
    }
    listed = perp_instruments(body)
    assert set(listed) == {"BTC", "KPEPE", "LUNA"}
    assert listed["KPEPE"].venue_name == "kPEPE" and listed["KPEPE"].base == "kPEPE"
    btc = listed["BTC"]
    assert (btc.quote, btc.kind, btc.contract_size, btc.trading) == ("USDC", "perp", None, True)
    assert not listed["LUNA"].trading
    with pytest.raises(BadFrame):
        perp_instruments({"tokens": []})


def test_spot_names_go_through_the_spotmeta_index() -> None:
    body = {
        "tokens": [
            {"name": "USDC", "index": 0},
            {"name": "PURR", "index": 1},
            {"name": "HYPE", "index": 150},
        ],
        "universe": [
            {"name": "PURR/USDC", "index": 0, "tokens": [1, 0]},
            {"name": "@107", "index": 107, "tokens": [150, 0]},
            {"name": "@200", "index": 200, "tokens": [150, 0]},  # same names: the first listed wins
        ],
    }
    listed = spot_instruments(body)
    assert listed["PURR-USDC"].venue_name == "PURR/USDC"
    hype = listed["HYPE-USDC"]
    assert (hype.venue_name, hype.base, hype.quote, hype.kind) == ("@107", "HYPE", "USDC", "spot")


def test_subscriptions_and_registry() -> None:
    assert [orjson.loads(m) for m in hyperliquid_perp.subscribe(["BTC", "@107"])] == [
        {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}},
        {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "@107"}},
    ]
    assert [orjson.loads(m)["method"] for m in hyperliquid_perp.resubscribe("BTC")] == [
        "unsubscribe",
        "subscribe",
    ]
    assert resolve("hyperliquid", "perp") is hyperliquid_perp.EXCHANGE
    assert resolve("hyperliquid", "spot") is hyperliquid_spot.EXCHANGE
    assert hyperliquid_perp.EXCHANGE.ping == ('{"method":"ping"}', 20.0, None)
    assert orjson.loads(hyperliquid_spot.EXCHANGE.exchange_info_body or b"") == {"type": "spotMeta"}


def test_books_are_ordered_by_time_and_never_repeated() -> None:
    sync = SnapshotStreamSync.create(hyperliquid_perp.EXCHANGE, "BTC", 5)
    sync.use_instrument(perp_instruments({"universe": [{"name": "BTC"}]})["BTC"])
    outcomes = []
    for time_ms in (10, 12, 12, 11, 15):
        _, snap = parse_message(_msg(time_ms=time_ms), 0)
        outcome = sync.on_stream_snapshot(snap)
        outcomes.append(
            (outcome, sync.record_prev_id, sync.record_resynced) if outcome is Outcome.APPLIED else outcome
        )
    assert outcomes == [
        (Outcome.APPLIED, None, True),
        (Outcome.APPLIED, 10, False),
        Outcome.STALE,  # the same time again
        Outcome.STALE,  # older
        (Outcome.APPLIED, 12, False),
    ]
    assert sync.local_id == 15 and sync.counters().stale_events == 2
    bid_prices, bid_sizes, _, _ = sync.book.top(5)
    assert bid_prices == [60000.5, 60000.0] and bid_sizes == [float(Decimal("0.00012345")), 3.0]
