"""Unit tests of the OKX adapter and the engines for venues in contracts or with the book in the
stream: the checksum (OKX's documented examples), message parsing and its DLQ reasons, the
instruments listing (linear and inverse contract sizes), base-unit sizes, and the StreamBookSync
procedure (snapshot, chain, resends, checksum)."""

from __future__ import annotations

import zlib
from decimal import Decimal

import pytest

from producer.book import SCALE
from producer.contract_sync import ContractBook
from producer.engine import Outcome
from producer.exchanges import EXCHANGES, BadFrame, okx_spot, okx_swap, resolve
from producer.exchanges.spec import BookSnapshot, DepthEvent, Instrument
from producer.stream_sync import StreamBookSync

pytestmark = pytest.mark.unit


def signed_crc(text: str) -> int:
    value = zlib.crc32(text.encode())
    return value - 2**32 if value >= 2**31 else value


def test_okx_modules_resolve_from_settings() -> None:
    assert resolve("okx", "spot") is okx_spot.EXCHANGE
    assert resolve("okx", "swap") is okx_swap.EXCHANGE
    assert EXCHANGES["okx_swap"].market == "swap"


def test_checksum_follows_okx_documented_strings() -> None:
    # OKX's examples: one level a side "3366.1:7:3366.8:9"; more asks than bids: the extra asks follow
    assert okx_spot.checksum([("3366.1", "7")], [("3366.8", "9")]) == signed_crc("3366.1:7:3366.8:9")
    asks = [("3366.8", "9"), ("3368", "8"), ("3372", "8")]
    assert okx_spot.checksum([("3366.1", "7")], asks) == signed_crc("3366.1:7:3366.8:9:3368:8:3372:8")
    bids = [("3366.1", "7"), ("3366", "6")]
    assert okx_spot.checksum(bids, [("3366.8", "9")]) == signed_crc("3366.1:7:3366.8:9:3366:6")
    # the venue's strings, not their values: "3366.10" is another checksum
    assert okx_spot.checksum([("3366.10", "7")], [("3366.8", "9")]) != okx_spot.checksum(
        [("3366.1", "7")], [("3366.8", "9")]
    )


def _push(action: str = "update", **item: object) -> dict:
    data = {
        "asks": [["101.5", "3", "0", "1"]],
        "bids": [["100.5", "2", "0", "2"]],
        "ts": "1700000000000",
        "checksum": 5,
        "prevSeqId": 7,
        "seqId": 9,
    }
    data.update(item)
    return {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": action, "data": [data]}


def test_parse_message_update_and_snapshot() -> None:
    stream, ev = okx_spot.parse_message(_push(), 123)
    assert stream == "books:BTC-USDT" and isinstance(ev, DepthEvent)
    assert (ev.symbol, ev.prev_final_id, ev.final_id, ev.event_time, ev.checksum) == (
        "BTC-USDT",
        7,
        9,
        1700000000000,
        5,
    )
    assert ev.bids == ((100 * SCALE + SCALE // 2,), (2 * SCALE,))
    assert ev.texts == ([["100.5", "2"]], [["101.5", "3"]])
    _, snap = okx_spot.parse_message(_push("snapshot", prevSeqId=-1), 0)
    assert isinstance(snap, BookSnapshot) and snap.last_update_id == 9 and snap.symbol == "BTC-USDT"
    assert okx_spot.parse_message({"event": "subscribe", "arg": {}}, 0) is None


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        ([1], "not a JSON object"),
        ({"event": "error", "code": "60012", "msg": "bad"}, "venue error 60012"),
        ({"arg": {"channel": "trades", "instId": "X"}, "data": []}, "not a books push"),
        (dict(_push(), data={}), "not a list of one object"),
        (_push(seqId="x"), "field 'seqId'"),
        (_push(ts=None), "field 'ts'"),
        (_push(checksum="5"), "field 'checksum'"),
        (_push(bids=[["1", "NaN"]]), "not a decimal number"),
        (_push(asks=[["1", "-1"]]), "negative size"),
        (_push(asks=["1"]), "level is not"),
        (_push(prevSeqId=-1), "field 'prevSeqId'"),
        (_push("partial"), "unknown action"),
    ],
)
def test_parse_message_rejects_with_a_reason(msg, reason) -> None:  # noqa: ANN001
    with pytest.raises(BadFrame, match=reason):
        okx_spot.parse_message(msg, 0)


def test_instruments_linear_inverse_and_spot() -> None:
    body = {
        "code": "0",
        "data": [
            {"instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT", "state": "live"},
            {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "ctVal": "0.01",
             "ctValCcy": "BTC", "state": "live"},
            {"instType": "SWAP", "instId": "BTC-USD-SWAP", "instFamily": "BTC-USD", "ctVal": "100",
             "ctValCcy": "USD", "state": "suspend"},
        ],
    }  # fmt: skip
    got = okx_spot.parse_instruments(body)
    assert got["BTC-USDT"] == Instrument("BTC-USDT", "live", True, "BTC", "USDT", "spot")
    assert got["BTC-USDT-SWAP"] == Instrument(
        "BTC-USDT-SWAP", "live", True, "BTC", "USDT", "perp", Decimal("0.01"), False
    )
    assert got["BTC-USD-SWAP"].inverse and not got["BTC-USD-SWAP"].trading
    with pytest.raises(BadFrame, match="ctVal"):
        okx_spot.parse_instruments(
            {"code": "0", "data": [{"instType": "SWAP", "instId": "X", "ctVal": 0.01}]}
        )
    with pytest.raises(BadFrame, match="not an instruments answer"):
        okx_spot.parse_instruments({"code": "50011", "data": []})


def test_contract_book_publishes_base_units() -> None:
    book = ContractBook("X")
    book.load([(60_000 * SCALE, 250 * SCALE)], [(60_001 * SCALE, 3 * SCALE)])
    with pytest.raises(RuntimeError, match="use_instrument"):
        book.top(1)
    book.use_instrument(Instrument("X", "TRADING", True, "BTC", "USD", "perp", Decimal(100), inverse=True))
    assert book.top(1) == ([60000.0], [250 * 100 / 60000], [60001.0], [3 * 100 / 60001])
    book.use_instrument(Instrument("X", "live", True, "BTC", "USDT", "perp", Decimal("0.01")))
    assert book.top(1)[1] == [2.5] and book.top(1)[3] == [0.03]
    book.use_instrument(Instrument("X", "live", True, "BTC", "USDT", "spot"))
    assert book.top(1)[1] == [250.0]


def _sync() -> StreamBookSync:
    sync = StreamBookSync.create(okx_spot.EXCHANGE, "BTC-USDT", 5)
    sync.use_instrument(Instrument("BTC-USDT", "live", True, "BTC", "USDT", "spot"))
    return sync


def _message(action: str, seq: int, prev: int, bids, asks, checksum=None):  # noqa: ANN001, ANN202
    levels = {"bids": [[p, s, "0", "1"] for p, s in bids], "asks": [[p, s, "0", "1"] for p, s in asks]}
    if checksum is None:  # 0: not checked (OKX's value since it deprecated the field)
        checksum = 0
    return okx_spot.parse_message(_push(action, seqId=seq, prevSeqId=prev, checksum=checksum, **levels), 0)[1]


def test_stream_sync_procedure() -> None:
    sync = _sync()
    bids, asks = [("100", "1"), ("99.5", "2")], [("101", "3")]
    right = okx_spot.checksum(bids, asks)
    assert sync.on_event(_message("update", 5, 4, [], [])) is Outcome.BUFFERED  # before any snapshot
    assert sync.on_stream_snapshot(_message("snapshot", 10, -1, bids, asks, right)) is Outcome.APPLIED
    assert (sync.live, sync.local_id, sync.record_resynced, sync.record_prev_id) == (True, 10, True, None)
    # an update that removes a level: checksum over what remains
    right = okx_spot.checksum([("100", "1")], asks)
    assert sync.on_event(_message("update", 12, 10, [("99.5", "0")], [], right)) is Outcome.APPLIED
    assert (sync.record_prev_id, sync.record_resynced) == (10, False)
    assert sync.on_event(_message("update", 12, 12, [], [], right)) is Outcome.STALE  # no change
    assert sync.on_event(_message("update", 11, 10, [], [])) is Outcome.STALE  # a resend
    assert sync.on_stream_snapshot(_message("snapshot", 12, -1, [("100", "1")], asks, right)) is Outcome.STALE
    assert sync.book.top(5)[0] == [100.0]
    # a checksum that does not match the book: not applied to any record, resync
    assert sync.on_event(_message("update", 13, 12, [("98", "1")], [], 12345)) is Outcome.NEED_SNAPSHOT
    assert not sync.live and sync.counters().checksum_mismatches == 1
    assert sync.wait_reason == "checksum mismatch at sequence id 13"
    assert sync.on_event(_message("update", 14, 13, [], [])) is Outcome.BUFFERED  # dropped meanwhile
    assert sync.on_stream_snapshot(_message("snapshot", 14, -1, bids, asks)) is Outcome.APPLIED
    # a broken chain
    assert sync.on_event(_message("update", 20, 15, [], [])) is Outcome.NEED_SNAPSHOT
    counters = sync.counters()
    assert (counters.gaps, counters.resyncs, counters.syncs, counters.checksum_mismatches) == (1, 2, 2, 1)
    assert "update 20 follows 15, the book is at 14" in sync.wait_reason
    # a snapshot whose own checksum is wrong
    assert sync.on_stream_snapshot(_message("snapshot", 30, -1, bids, asks, 777)) is Outcome.NEED_SNAPSHOT
    assert not sync.live and sync.counters().checksum_mismatches == 2
