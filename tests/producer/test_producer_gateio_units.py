"""Unit tests of the Gate.io adapter (spot and USDT futures): notification parsing and its DLQ
reasons, subscribe and ping messages (timed when sent), the REST snapshot and its query, the
listings (quanto_multiplier as the contract size), and the Binance-like procedure on Gate.io's
U/u ids: stale updates before the snapshot, the first update spanning id + 1, an overlap, a gap;
futures contracts published as base units."""

from __future__ import annotations

import time
from decimal import Decimal

import orjson
import pytest

from producer.book import SCALE
from producer.contract_sync import ContractBookSync
from producer.engine import Outcome
from producer.exchanges import EXCHANGES, BadFrame, gateio_futures, gateio_spot, resolve
from producer.exchanges.spec import BookSnapshot, DepthEvent, Instrument

pytestmark = pytest.mark.unit
SPOT, FUTURES = gateio_spot.EXCHANGE, gateio_futures.EXCHANGE


def test_gateio_modules_resolve_from_settings() -> None:
    assert resolve("gateio", "spot") is SPOT
    assert resolve("gateio", "futures") is FUTURES
    assert EXCHANGES["gateio_futures"].market == "futures"


def _spot(**result: object) -> dict:
    body = {"t": 1606294781123, "e": "depthUpdate", "E": 1606294781, "s": "BTC_USDT", "U": 48776301,
            "u": 48776306, "b": [["19137.74", "0.0001"], ["19088.37", "0"]], "a": [["19137.75", "0.6135"]]}  # fmt: skip
    body.update(result)
    return {"time": 1606294781, "time_ms": 1606294781236, "channel": "spot.order_book_update",
            "event": "update", "result": body}  # fmt: skip


def _futures(**result: object) -> dict:
    body = {"t": 1615366381417, "s": "BTC_USDT", "U": 2517661101, "u": 2517661113,
            "b": [{"p": "54672.1", "s": 0}, {"p": "54664.5", "s": 58794}], "a": [{"p": "54743.6", "s": "12.5"}]}  # fmt: skip
    body.update(result)
    return {"time": 1615366381, "channel": "futures.order_book_update", "event": "update", "error": None,
            "result": body}  # fmt: skip


def test_parse_spot_update_as_documented() -> None:
    stream, ev = SPOT.parse_message(_spot(), 7)  # type: ignore[misc]
    assert stream == "spot.order_book_update:BTC_USDT" == SPOT.diff_channel("BTC_USDT")
    assert isinstance(ev, DepthEvent)
    assert (ev.symbol, ev.first_id, ev.final_id, ev.event_time, ev.receive_time_ns) == (
        "BTC_USDT", 48776301, 48776306, 1606294781123, 7)  # fmt: skip
    assert ev.bids == ((1913774 * SCALE // 100, 1908837 * SCALE // 100), (SCALE // 10_000, 0))
    assert ev.asks == ((1913775 * SCALE // 100,), (6135 * SCALE // 10_000,))


def test_parse_futures_update_integer_and_decimal_sizes() -> None:
    stream, ev = FUTURES.parse_message(_futures(), 0)  # type: ignore[misc]
    assert stream == "futures.order_book_update:BTC_USDT" == FUTURES.diff_channel("BTC_USDT")
    assert ev.bids == ((546721 * SCALE // 10, 546645 * SCALE // 10), (0, 58794 * SCALE))
    assert ev.asks == ((547436 * SCALE // 10,), (125 * SCALE // 10,))


@pytest.mark.parametrize(
    "msg",
    [
        {"time": 1, "time_ms": 1, "channel": "spot.order_book_update", "event": "subscribe", "error": None,
         "result": {"status": "success"}},
        {"time": 1, "channel": "spot.pong", "event": "", "error": None, "result": None},
    ],
)  # fmt: skip
def test_answers_to_our_requests_are_not_book_messages(msg) -> None:  # noqa: ANN001
    assert SPOT.parse_message(msg, 0) is None  # type: ignore[misc]


@pytest.mark.parametrize(
    ("spec", "msg", "reason"),
    [
        (SPOT, [1], "not a JSON object"),
        (
            SPOT,
            {
                "channel": "spot.order_book_update",
                "event": "subscribe",
                "error": {"code": 2, "message": "invalid argument"},
            },
            "venue error on 'spot.order_book_update' 'subscribe': 2: invalid argument",
        ),  # fmt: skip
        (
            SPOT,
            {"channel": "spot.trades", "event": "update", "result": {}},
            "not a spot.order_book_update update",
        ),
        (SPOT, _futures(), "not a spot.order_book_update update"),
        (SPOT, dict(_spot(), result=[1]), "field 'result' is not an object"),
        (SPOT, _spot(u=None), "field 'u' is not a non-negative integer"),
        (SPOT, _spot(U=9, u=8), "U 9 > u 8"),
        (SPOT, _spot(t="1"), "field 't'"),
        (SPOT, _spot(s=5), "field 's' is not a string"),
        (SPOT, _spot(b=[["1", "NaN"]]), "not a decimal number"),
        (SPOT, _spot(a=[["1", "-1"]]), "negative size"),
        (FUTURES, _futures(b=[{"p": "1", "s": -3}]), "negative size"),
        (FUTURES, _futures(a=[["1", "2"]]), "level is not {p, s}"),
        (FUTURES, _futures(a=[{"p": 1.5, "s": 2}]), "not a decimal"),
        (FUTURES, _futures(b={"p": "1"}), "expected a list of {p, s} levels"),
    ],
)
def test_parse_rejects_with_a_reason(spec, msg, reason) -> None:  # noqa: ANN001
    with pytest.raises(BadFrame, match=reason.replace("{", r"\{").replace("}", r"\}")):
        spec.parse_message(msg, 0)


def test_subscribe_and_ping_carry_the_time_they_are_made() -> None:
    before = int(time.time())
    spot = [orjson.loads(m) for m in SPOT.subscribe(["spot.order_book_update:BTC_USDT", "spot.order_book_update:ETH_USDT"])]  # type: ignore[misc]  # fmt: skip
    assert [m["payload"] for m in spot] == [["BTC_USDT", "100ms"], ["ETH_USDT", "100ms"]]
    assert {(m["channel"], m["event"]) for m in spot} == {("spot.order_book_update", "subscribe")}
    assert all(before <= m["time"] <= time.time() for m in spot)
    futures = orjson.loads(FUTURES.subscribe(["futures.order_book_update:BTC_USDT"])[0])  # type: ignore[misc]
    assert (futures["channel"], futures["payload"]) == ("futures.order_book_update", ["BTC_USDT", "100ms"])
    text, interval, answer = SPOT.ping  # type: ignore[misc]
    assert callable(text) and answer is None and interval == 20.0
    ping = orjson.loads(text())
    assert ping["channel"] == "spot.ping" and before <= ping["time"] <= time.time()
    assert orjson.loads(FUTURES.ping[0]())["channel"] == "futures.ping"  # type: ignore[index, operator]
    assert SPOT.stream_url("ws://h:1", []) == "ws://h:1/ws/v4/"
    assert FUTURES.stream_url("wss://fx-ws.gateio.ws", []) == "wss://fx-ws.gateio.ws/v4/ws/usdt"


def test_rest_snapshot_query_and_body() -> None:
    assert SPOT.snapshot_params("BTC_USDT", 100) == {
        "currency_pair": "BTC_USDT",
        "limit": "100",
        "with_id": "true",
    }
    assert FUTURES.snapshot_params("BTC_USDT", 100) == {
        "contract": "BTC_USDT",
        "limit": "100",
        "with_id": "true",
    }
    snap = SPOT.parse_snapshot({"id": 123456, "current": 1, "update": 1, "asks": [["1.52", "1.151"]], "bids": [["1.17", "201.863"]]})  # fmt: skip
    assert isinstance(snap, BookSnapshot) and snap.last_update_id == 123456
    snap = FUTURES.parse_snapshot({"id": 9, "current": 1.5, "update": 1.5, "asks": [{"p": "1.52", "s": 100}], "bids": []})  # fmt: skip
    assert snap.asks == ((152 * SCALE // 100,), (100 * SCALE,)) and snap.bids == ((), ())
    with pytest.raises(BadFrame, match="missing field 'id'"):  # asked without with_id=true
        SPOT.parse_snapshot({"current": 1, "update": 1, "asks": [], "bids": []})


def test_listings() -> None:
    pairs = gateio_spot.parse_instruments(
        [
            {"id": "BTC_USDT", "base": "BTC", "quote": "USDT", "trade_status": "tradable"},
            {"id": "OLD_USDT", "base": "OLD", "quote": "USDT", "trade_status": "untradable"},
        ]  # fmt: skip
    )
    assert pairs["BTC_USDT"] == Instrument("BTC_USDT", "tradable", True, "BTC", "USDT", "spot")
    assert not pairs["OLD_USDT"].trading
    contracts = gateio_futures.parse_instruments(
        [
            {"name": "BTC_USDT", "quanto_multiplier": "0.0001", "in_delisting": False, "status": "trading"},
            {"name": "LUNA_USDT", "quanto_multiplier": "1", "in_delisting": True},
        ]  # fmt: skip
    )
    assert contracts["BTC_USDT"] == Instrument(
        "BTC_USDT", "trading", True, "BTC", "USDT", "perp", Decimal("0.0001"), False
    )
    assert not contracts["LUNA_USDT"].trading and contracts["LUNA_USDT"].status == "delisting"
    with pytest.raises(BadFrame, match="quanto_multiplier"):
        gateio_futures.parse_instruments([{"name": "X_USDT", "quanto_multiplier": 0.0001}])
    with pytest.raises(BadFrame, match="not a list"):
        gateio_spot.parse_instruments({"label": "SERVER_ERROR"})


def _ev(first: int, last: int, bids=(), asks=()) -> DepthEvent:  # noqa: ANN001
    return SPOT.parse_diff(
        {"t": 1, "s": "BTC_USDT", "U": first, "u": last, "b": list(bids), "a": list(asks)}, 0
    )


def test_procedure_on_gateio_ids() -> None:
    """Binance's spot rule on U/u against the REST snapshot's id."""
    sync = SPOT.book_engine().create(SPOT, "BTC_USDT", 5)  # type: ignore[misc]
    assert isinstance(sync, ContractBookSync)
    sync.use_instrument(Instrument("BTC_USDT", "tradable", True, "BTC", "USDT", "spot"))
    for ev in (_ev(98, 99), _ev(100, 100), _ev(101, 103, [["100", "7"]]), _ev(104, 104, [], [["101", "1"]])):
        assert sync.on_event(ev) is Outcome.BUFFERED
    emitted: list[int] = []
    snap = SPOT.parse_snapshot({"id": 101, "bids": [["100", "1"], ["99", "2"]], "asks": [["101", "3"]]})
    assert sync.on_snapshot(snap, lambda ev: emitted.append(ev.final_id)) is Outcome.APPLIED
    # u <= 101 dropped (98-99, 100); 101-103 spans id + 1 = 102 and applies, then 104
    assert emitted == [103, 104] and sync.local_id == 104 and sync.stale_events == 2
    assert sync.book.top(5) == ([100.0, 99.0], [7.0, 2.0], [101.0], [1.0])
    assert sync.on_event(_ev(103, 104)) is Outcome.STALE  # a resend
    # an overlap (103..106 while the book is at 104): absolute sizes, the book lands at 106
    assert sync.on_event(_ev(103, 106, [["100", "0"]])) is Outcome.APPLIED
    assert (sync.local_id, sync.record_prev_id, sync.record_resynced) == (106, 104, False)
    assert sync.on_event(_ev(108, 108)) is Outcome.NEED_SNAPSHOT  # 107 lost
    assert not sync.live and sync.counters().gaps == 1
    # a snapshot older than the stream: fetched again
    assert sync.on_snapshot(SPOT.parse_snapshot({"id": 105, "bids": [], "asks": []}), emitted.append) is (
        Outcome.NEED_SNAPSHOT
    )
    assert sync.counters().stale_snapshots == 1


def test_futures_contracts_publish_base_units() -> None:
    sync = FUTURES.book_engine().create(FUTURES, "BTC_USDT", 5)  # type: ignore[misc]
    sync.use_instrument(Instrument("BTC_USDT", "trading", True, "BTC", "USDT", "perp", Decimal("0.0001")))
    snap = FUTURES.parse_snapshot({"id": 1, "bids": [{"p": "60000.1", "s": 25000}], "asks": [{"p": "60000.2", "s": 3}]})  # fmt: skip
    sync.on_snapshot(snap, lambda ev: None)
    assert sync.book.top(1) == ([60000.1], [2.5], [60000.2], [0.0003])
    assert sync.instrument_fields == {"base": "BTC", "quote": "USDT", "kind": "perp", "contract_size": 0.0001}


@pytest.mark.parametrize(
    "raw",
    [
        [{"p": "60000.1", "s": 3}, {"p": "60000.2", "s": 0}],  # the fast path: every size an int
        [{"p": "60000.1", "s": 3}, {"p": "60000.2", "s": "0.5"}],  # a decimal string among them
        [{"p": "1", "s": True}],  # bool and float are no contract counts (True == 1 as a key)
        [{"p": "1", "s": 1.0}],
        [{"p": "1", "s": -1}],
        [{"p": "-1", "s": 1}],
        [{"p": "1", "s": (1 << 127) // SCALE}],  # the largest count the book can hold
        [{"p": "1", "s": (1 << 127) // SCALE + 1}],
        [["1", "2"]],
        [{"p": "1"}],
        [{"p": ["1"], "s": 1}],
        "levels",
        [],
    ],
)
def test_futures_levels_fast_path_accepts_and_refuses_what_the_checked_one_does(raw) -> None:  # noqa: ANN001
    """futures_side's path for all-integer sizes against parse_columns of [price, str(size)]."""

    def checked() -> object:
        try:
            pairs = [[lv["p"], str(lv["s"]) if type(lv["s"]) is int else lv["s"]] for lv in raw]
            return gateio_futures.parse_columns(pairs, "b")
        except Exception:  # noqa: BLE001 - any refusal
            return "refused"

    try:
        got: object = gateio_futures.futures_side(raw, "b")
    except BadFrame:
        got = "refused"
    assert got == checked()
