"""Pure parts of the gateway: key patterns, the conflating queue, request parsing, access rules."""

from __future__ import annotations

import orjson
import pytest
from pydantic import SecretStr

from config.settings import GatewaySettings
from gateway.auth import ANONYMOUS, Access, Refusal, token_identity
from gateway.client_queue import ConflatingQueue
from gateway.patterns import KeyPattern
from gateway.protocol import Channel, CloseCode, ProtocolError, parse_request

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
    out = []
    while (item := q.pop()) is not None:
        out.append(item)
    return out


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
    assert q.pop() == b"a0"
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


def test_hub_conflates_books_never_alerts_and_numbers_every_update() -> None:
    from gateway.fanin import Incoming
    from gateway.hub import Client, Hub
    from gateway.metrics import GatewayMetrics

    overflowed: list[Client] = []
    hub = Hub(GatewayMetrics(), overflowed.append)
    behind = Client("t", ConflatingQueue(capacity=100, conflate_above=0))  # as far behind as can be
    hub.add(behind)
    for channel in ("book", "alerts"):
        hub.subscribe(behind, parse_request(f'{{"type": "subscribe", "channel": "{channel}", "keys": ["x:*"]}}'),
                      keys=[], from_redis={}, complete=True)  # fmt: skip
    assert [m["type"] for m in map(orjson.loads, drain(behind.queue))] == ["subscribed", "subscribed"]
    for n in range(1, 11):
        hub.dispatch(Incoming(Channel.BOOK, "x:A", 1000 + n, {"n": n}))
        hub.dispatch(Incoming(Channel.ALERTS, "x:A", 1000 + n, {"n": n}))
        hub.dispatch(Incoming(Channel.BOOK, "y:A", 1000 + n, {"n": n}))  # not subscribed
    got = [orjson.loads(m) for m in drain(behind.queue)]
    assert [(m["channel"], m["seq"], m["data"]["n"]) for m in got] == [
        ("book", 10, 10),
        *[("alerts", n, n) for n in range(1, 11)],
    ]
    assert not overflowed and hub.latest[(Channel.BOOK, "y:A")].seq == 10


def test_hub_reports_a_client_whose_events_overflow() -> None:
    from gateway.fanin import Incoming
    from gateway.hub import Client, Hub
    from gateway.metrics import GatewayMetrics

    overflowed: list[Client] = []
    hub = Hub(GatewayMetrics(), overflowed.append)
    client = Client("t", ConflatingQueue(capacity=3, conflate_above=0))
    hub.add(client)
    hub.subscribe(client, parse_request('{"type": "subscribe", "channel": "alerts", "keys": ["*"]}'),
                  keys=[], from_redis={}, complete=True)  # fmt: skip
    for n in range(3):
        hub.dispatch(Incoming(Channel.ALERTS, "x:A", 1000 + n, {"n": n}))
    assert overflowed == [client] and client.overflowed
