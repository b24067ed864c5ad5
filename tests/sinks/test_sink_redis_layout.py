"""The Redis key layout is a contract with the dashboard: these are the exact names it reads."""

import pytest

from sinks.redis_layout import RedisLayout, split_symbol_member, symbol_member

pytestmark = pytest.mark.unit


def test_default_prefix_gives_the_documented_names():
    k = RedisLayout()
    assert k.symbols() == "obm:symbols"
    assert k.latest("binance", "BTCUSDT") == "obm:latest:binance:BTCUSDT"
    assert k.book("binance", "BTCUSDT") == "obm:book:binance:BTCUSDT"
    assert k.bars("1s", "binance", "BTCUSDT") == "obm:bars:1s:binance:BTCUSDT"
    assert k.alerts_stream() == "obm:alerts"
    assert k.alerts_last("binance", "ETHUSDT") == "obm:alerts:last:binance:ETHUSDT"
    assert k.alerts_channel() == "obm:alerts:live"
    assert k.heartbeat() == "obm:sink:heartbeat"


def test_prefix_comes_from_settings():
    class S:
        key_prefix = "test42"

    k = RedisLayout.from_settings(S())
    assert k.latest("x", "Y") == "test42:latest:x:Y"
    assert k.alerts_channel() == "test42:alerts:live"


def test_symbol_member_round_trip():
    assert symbol_member("binance_usdm", "BTCUSDT") == "binance_usdm:BTCUSDT"
    assert split_symbol_member(b"binance_usdm:BTCUSDT") == ("binance_usdm", "BTCUSDT")
    with pytest.raises(ValueError):
        split_symbol_member("nocolon")
