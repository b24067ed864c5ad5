"""Pure parts of the gateway: key patterns, the conflating queue, request parsing, access rules."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import SecretStr
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from config.settings import GatewaySettings
from gateway.auth import ANONYMOUS, Access, Refusal, token_identity
from gateway.client_queue import ConflatingQueue
from gateway.fanin import _FAST_CHECKS, Incoming, KafkaFanIn
from gateway.hub import Client, Hub
from gateway.metrics import GatewayMetrics
from gateway.patterns import KeyPattern
from gateway.protocol import Channel, CloseCode, ProtocolError, parse_request, text_frame
from sinks.decoding.contract import RejectedRecord, SinkContract
from sinks.decoding.records import conforming

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("*", "binance:BTCUSDT", True),
        ("binance:*", "binance:BTCUSDT", True),
        ("binance:*", "binance_usdm:BTCUSDT", False),
        ("*:BTCUSDT", "binance_usdm:BTCUSDT", True),
        ("*:BTCUSDT", "binance:ETHUSDT", False),
        ("binance:BTCUSDT", "binance:BTCUSDT", True),
        ("binance:BTCUSDT", "binance:BTCUSDTX", False),
        ("binance:*", "binance", False),
    ],
)
def test_pattern_matching(pattern: str, key: str, expected: bool) -> None:
    assert KeyPattern.parse(pattern).matches(key) is expected


@pytest.mark.parametrize("bad", ["", "binance", "bin*:BTCUSDT", "binance:BTC*", ":BTCUSDT", "a:b:c", "**"])
def test_malformed_patterns_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        KeyPattern.parse(bad)


def test_pattern_text_round_trips() -> None:
    for text in ("*", "binance:*", "*:ETHUSDT", "binance:ETHUSDT", "*:*"):
        assert KeyPattern.parse(KeyPattern.parse(text).text) == KeyPattern.parse(text)
    assert KeyPattern.parse("*:*").text == "*"
    assert KeyPattern.parse("binance:ETHUSDT").exact and not KeyPattern.parse("binance:*").exact


def drain(q: ConflatingQueue) -> list[bytes]:
    return q.pop_many(len(q))


def test_queue_below_the_threshold_keeps_every_update_in_order() -> None:
    q = ConflatingQueue(capacity=10, conflate_above=5)
    for i in range(5):
        assert q.put(b"a%d" % i, ("book", "a"))
    assert drain(q) == [b"a0", b"a1", b"a2", b"a3", b"a4"] and q.conflated == 0


def test_queue_above_the_threshold_replaces_the_newest_pending_update_of_the_key() -> None:
    q = ConflatingQueue(capacity=10, conflate_above=2)
    q.put(b"a0", "a")
    q.put(b"b0", "b")
    q.put(b"a1", "a")  # replaces a0 in place: a's order is kept, b0 stays where it was
    q.put(b"a2", "a")
    assert q.conflated == 2
    assert drain(q) == [b"a2", b"b0"]


def test_events_are_never_conflated_and_overflow_is_reported() -> None:
    q = ConflatingQueue(capacity=3, conflate_above=0)
    assert q.put(b"alert1") and q.put(b"alert2") and q.put(b"alert3")
    assert not q.put(b"alert4")
    assert q.put(b"book", "k") is False  # no pending update of k to replace, and no room
    assert drain(q) == [b"alert1", b"alert2", b"alert3"]


def test_a_sent_update_is_not_replaced_afterwards() -> None:
    q = ConflatingQueue(capacity=10, conflate_above=0)
    q.put(b"a0", "a")
    assert q.pop_many(1) == [b"a0"]
    q.put(b"a1", "a")
    q.put(b"a2", "a")
    assert drain(q) == [b"a2"]


def test_queue_rejects_inconsistent_bounds() -> None:
    with pytest.raises(ValueError):
        ConflatingQueue(capacity=5, conflate_above=6)


def test_parse_request() -> None:
    req = parse_request(b'{"type": "subscribe", "channel": "book", "keys": ["binance:*", "*"], "id": 3}')
    assert req.action == "subscribe" and req.channel is Channel.BOOK and req.request_id == 3
    assert [p.text for p in req.patterns] == ["binance:*", "*"]
    for bad, code in [
        ("nope", "not_json"),
        ("[1]", "bad_message"),
        ('{"type": "sub"}', "bad_message"),
        ('{"type": "subscribe", "channel": "trades", "keys": ["*"]}', "bad_channel"),
        ('{"type": "subscribe", "channel": "book", "keys": []}', "bad_keys"),
        ('{"type": "subscribe", "channel": "book", "keys": ["bin*:X"]}', "bad_keys"),
    ]:
        with pytest.raises(ProtocolError) as err:
            parse_request(bad)
        assert err.value.code == code, bad


def test_access_rules() -> None:
    local = Access(GatewaySettings(profile="local"))
    assert local.identify({}) == ANONYMOUS
    production = Access(GatewaySettings(profile="production"))
    refused = production.identify({"Authorization": "Bearer x"})
    assert isinstance(refused, Refusal) and refused.code is CloseCode.UNAUTHORIZED
    with_tokens = Access(GatewaySettings(profile="production", tokens=SecretStr("s3cret, other ")))
    assert with_tokens.identify({"Authorization": "Bearer other"}) == token_identity("other")
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic s3cret"}):
        got = with_tokens.identify(headers)
        assert isinstance(got, Refusal) and got.code is CloseCode.UNAUTHORIZED, headers
    origin = with_tokens.identify({"Authorization": "Bearer s3cret", "Origin": "https://evil.example"})
    assert isinstance(origin, Refusal) and origin.code is CloseCode.ORIGIN_NOT_ALLOWED
    allowed = {"Authorization": "Bearer s3cret", "Origin": "http://localhost:8501"}
    assert with_tokens.identify(allowed) == token_identity("s3cret")
    assert "s3cret" not in token_identity("s3cret")


def test_connections_per_token() -> None:
    access = Access(GatewaySettings(max_connections_per_token=2))
    assert access.acquire("t") is None and access.acquire("t") is None
    refused = access.acquire("t")
    assert refused is not None and refused.code is CloseCode.TOO_MANY_CONNECTIONS
    access.release("t")
    assert access.acquire("t") is None


def unframe(data: bytes) -> list[bytes]:
    """The payloads of the text frames in `data`, parsed by websockets' own client-side parser
    (a server's frames are unmasked)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    payloads = []
    while not _done(reader.at_eof()):
        frame = _done(Frame.parse(reader.read_exact, mask=False))
        assert frame.opcode is Opcode.TEXT and frame.fin
        payloads.append(bytes(frame.data))
    return payloads


def _done(gen: Any) -> Any:
    """The value of a websockets parser coroutine over a reader that already holds all its data."""
    try:
        next(gen)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the parser wants more data than was written")


def messages(q: ConflatingQueue) -> list[dict[str, Any]]:
    return [orjson.loads(p) for p in unframe(b"".join(drain(q)))]


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 300_000])
def test_text_frame_is_what_a_client_parses(size: int) -> None:
    payload = b"x" * size
    assert unframe(text_frame(payload) * 2) == [payload, payload]


def test_queue_pop_many_takes_the_oldest_in_order_and_ends_conflation_of_what_it_took() -> None:
    q = ConflatingQueue(capacity=10, conflate_above=0)
    for i in range(5):
        q.put(b"e%d" % i)
    q.put(b"a0", "a")
    assert q.pop_many(3) == [b"e0", b"e1", b"e2"] and len(q) == 3
    assert q.pop_many(10) == [b"e3", b"e4", b"a0"] and q.pop_many(10) == []
    q.put(b"a1", "a")  # a0 was taken: a1 is queued, not written over a0
    assert drain(q) == [b"a1"] and q.conflated == 0


def subscribe(hub: Hub, client: Client, channel: str, *keys: str, action: str = "subscribe") -> None:
    request = parse_request(orjson.dumps({"type": action, "channel": channel, "keys": list(keys)}))
    if action == "subscribe":
        hub.subscribe(client, request, keys=[], from_redis={}, complete=True)
    else:
        hub.unsubscribe(client, request)


def test_hub_conflates_books_never_alerts_and_numbers_every_update() -> None:
    overflowed: list[Client] = []
    hub = Hub(GatewayMetrics(), overflowed.append)
    behind = Client("t", ConflatingQueue(capacity=100, conflate_above=0))  # as far behind as can be
    hub.add(behind)
    for channel in ("book", "alerts"):
        subscribe(hub, behind, channel, "x:*")
    assert [m["type"] for m in messages(behind.queue)] == ["subscribed", "subscribed"]
    for n in range(1, 11):
        hub.dispatch([
            Incoming(Channel.BOOK, "x:A", 1000 + n, {"n": n}),
            Incoming(Channel.ALERTS, "x:A", 1000 + n, {"n": n}),
            Incoming(Channel.BOOK, "y:A", 1000 + n, {"n": n}),  # not subscribed
        ])  # fmt: skip
    got = messages(behind.queue)
    assert [(m["channel"], m["seq"], m["data"]["n"]) for m in got] == [
        ("book", 10, 10),
        *[("alerts", n, n) for n in range(1, 11)],
    ]
    assert not overflowed and hub.latest[(Channel.BOOK, "y:A")].seq == 10
    assert hub.metrics.value("obm_gateway_records_in_total", channel="book") == 20
    assert hub.metrics.value("obm_gateway_conflated_total", channel="book") == 9


def test_hub_reports_a_client_whose_events_overflow() -> None:
    overflowed: list[Client] = []
    hub = Hub(GatewayMetrics(), overflowed.append)
    client = Client("t", ConflatingQueue(capacity=3, conflate_above=0))
    hub.add(client)
    subscribe(hub, client, "alerts", "*")
    hub.dispatch([Incoming(Channel.ALERTS, "x:A", 1000 + n, {"n": n}) for n in range(3)])
    assert overflowed == [client] and client.overflowed


def test_hub_routes_exact_and_wildcard_subscriptions_once_each_until_they_end() -> None:
    hub = Hub(GatewayMetrics(), lambda client: None)
    both, exact, other = (Client(n, ConflatingQueue(capacity=100, conflate_above=100)) for n in "abc")
    for client in (both, exact, other):
        hub.add(client)
    subscribe(hub, both, "metrics", "x:A", "x:*", "*")
    subscribe(hub, exact, "metrics", "x:A")
    subscribe(hub, other, "book", "x:A")  # same key, another channel
    for client in (both, exact, other):
        drain(client.queue)
    hub.touched.clear()

    def relay(n: int) -> list[list[int]]:
        hub.dispatch([Incoming(Channel.METRICS, "x:A", 1000 + n, {"n": n}),
                      Incoming(Channel.METRICS, "y:B", 1000 + n, {"n": n})])  # fmt: skip
        return [
            [m["data"]["n"] for m in messages(c.queue) if m["type"] == "update"] for c in (both, exact, other)
        ]

    assert relay(1) == [[1, 1], [1], []] and list(hub.touched) == [both, exact]
    subscribe(hub, both, "metrics", "x:A", "*", action="unsubscribe")  # x:* still matches x:A
    assert relay(2) == [[2], [2], []]
    subscribe(hub, both, "metrics", "x:*", action="unsubscribe")
    assert relay(3) == [[], [3], []]
    hub.remove(exact)
    assert relay(4) == [[], [], []] and hub.latest[(Channel.METRICS, "x:A")].seq == 4
    assert hub.metrics.value("obm_gateway_subscriptions") == 1  # other's book subscription


def _book(now_ms: int, levels: int = 3, **changes: Any) -> dict[str, Any]:
    return {
        "schema_version": 1, "exchange": "x", "market": "spot", "symbol": "AB", "event_time": now_ms,
        "receive_time_ns": now_ms * 1_000_000, "sequence_id": 7, "prev_sequence_id": 6,
        "bid_prices": [100.0 - i for i in range(levels)], "bid_sizes": [1.0] * levels,
        "ask_prices": [101.0 + i for i in range(levels)], "ask_sizes": [2.0] * levels,
        "resynced": False, "crossed": False, **changes,
    }  # fmt: skip


def _metrics(now_ms: int, **changes: Any) -> dict[str, Any]:
    return {
        "schema_version": 1, "exchange": "x", "market": "spot", "symbol": "AB", "event_time": now_ms,
        "receive_time_ns": now_ms * 1_000_000, "sequence_id": 7, "best_bid": 99.5, "best_ask": 100.5,
        "best_bid_size": 1.5, "best_ask_size": 2.0, "mid": 100.0, "spread": 1.0, "spread_bps": 100.0,
        "imbalance_1": 0.1, "imbalance_5": -0.2, "imbalance_10": 0.05, "imbalance_20": None,
        "depth_complete_10bps": True, "crossed": False, **changes,
    }  # fmt: skip


def test_rules_beyond_the_schema_are_judged_per_poll_and_channel_exactly_as_per_record() -> None:
    """The fan-in checks the event time bounds and equal-length arrays over a poll's column of
    fast-checked records; when that check fails, every record of the column is judged on its own,
    so exactly the ones `conforming` rejects are dropped, with its kinds."""
    now = 1_765_000_000_000
    contract = SinkContract.from_settings(clock=lambda: now)
    judges = {c: contract.at(c.topic, now) for c in Channel}
    records = [
        (Channel.BOOK, _book(now)),
        (Channel.BOOK, _book(now + 3_600_000)),  # an hour ahead of the clock
        (Channel.METRICS, _metrics(now)),
        (Channel.BOOK, _book(now, bid_sizes=[1.0])),  # 3 bid prices, 1 size
        (Channel.METRICS, _metrics(now - 1000)),
        (Channel.BOOK, _book(now - 5)),
    ]
    for batch in (records, [r for n, r in enumerate(records) if n not in (1, 3)]):
        kept = [(c, now, d) for c, d in batch]
        fast_passed: dict[Channel, list[int]] = {}
        for i, (c, d) in enumerate(batch):
            assert _FAST_CHECKS[c] is not None and _FAST_CHECKS[c](d)  # schema-valid: the fast path's
            fast_passed.setdefault(c, []).append(i)
        skipped: list[tuple[Channel, str]] = []
        dropped = KafkaFanIn._beyond_schema(kept, fast_passed, judges, skipped)
        expected: set[int] = set()
        for i, (c, d) in enumerate(batch):
            try:
                conforming(d, judges[c])
            except RejectedRecord:
                expected.add(i)
        assert dropped == expected
        if batch is records:
            assert dropped == {1, 3}
            assert skipped == [(Channel.BOOK, "event_time_ahead"), (Channel.BOOK, "unequal_length")]
        else:
            assert dropped == set() and skipped == []
