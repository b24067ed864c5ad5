"""Pure parts of the gateway: key patterns, the conflating queue, request parsing, access rules."""

from __future__ import annotations

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
