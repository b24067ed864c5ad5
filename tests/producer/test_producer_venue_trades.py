"""OKX, Bybit, Gate.io and Hyperliquid trades end to end: the simulator's market over each venue's
own protocol (OKX `trades` channel, Bybit `publicTrade.{symbol}`, Gate.io `futures.trades`,
Hyperliquid `trades`; pushes of several trades) into the producer with trades on, and trades.raw
on the session's real broker. Every trade the simulator sent (read by a client of its own
subscribed to the same channel) is on the topic exactly once, in the venue's order, keyed
exchange:symbol, with the venue's exact price text and the size in base units (contracts x
contract value, / price when inverse, computed here independently); the books flow beside the
trades and nothing goes to the DLQ. One producer per venue family: OKX swaps (a linear and an
inverse swap), Bybit inverse, Gate.io USDT futures, Hyperliquid spot (its coin `@1` renames the
trade stream; records keep the symbol HYPE-USDC)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import aiohttp
import orjson
import pytest
from producer_harness import isolated_kafka, read_topic, running, wait_until

from producer.publisher import create_topics_if_absent, topic_names
from producer.simulator.gateio import quanto_multiplier
from producer.simulator.okx import instrument
from schemas import Topic, topic_name, validator_for

pytestmark = pytest.mark.integration
TRADES_EACH = 30
NANO = Decimal("0.000000001")


def base_units(contracts: str, price: str, contract_value: Decimal, inverse: bool) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        value = Decimal(contracts) * contract_value
        if inverse:
            value = value / Decimal(price)
    return value.quantize(NANO, rounding=ROUND_HALF_EVEN)


def okx_truth(push: Any) -> list[dict[str, Any]]:
    """The trades of an OKX push as sent, with what their records must carry."""
    if not (isinstance(push, dict) and push.get("arg", {}).get("channel") == "trades" and "data" in push):
        return []
    return [_okx_trade(item) for item in push["data"]]


def _okx_trade(item: dict[str, Any]) -> dict[str, Any]:
    listing = instrument(item["instId"])
    assert listing is not None
    inverse = listing["ctValCcy"] == "USD"
    return {
        "symbol": item["instId"],
        "trade_id": item["tradeId"],
        "price": item["px"],
        "size": base_units(item["sz"], item["px"], Decimal(listing["ctVal"]), inverse),
        "side": item["side"],
        "event_time": int(item["ts"]),
    }


def bybit_inverse_truth(push: Any) -> list[dict[str, Any]]:
    """The trades of a Bybit inverse push as sent: contracts of 1 USD, so base units are v / p."""
    if not (isinstance(push, dict) and str(push.get("topic")).startswith("publicTrade.")):
        return []
    return [
        {
            "symbol": item["s"],
            "trade_id": item["i"],
            "price": item["p"],
            "size": base_units(item["v"], item["p"], Decimal(1), True),
            "side": item["S"].lower(),
            "event_time": item["T"],
        }
        for item in push["data"]
    ]


def gateio_futures_truth(push: Any) -> list[dict[str, Any]]:
    """The trades of a Gate.io futures.trades update as sent: signed contracts of the contract's
    quanto_multiplier (base units per contract)."""
    if not (
        isinstance(push, dict) and push.get("channel") == "futures.trades" and push.get("event") == "update"
    ):
        return []
    return [
        {
            "symbol": item["contract"],
            "trade_id": str(item["id"]),
            "price": item["price"],
            "size": base_units(
                str(abs(item["size"])), item["price"], Decimal(quanto_multiplier(item["contract"])), False
            ),
            "side": "buy" if item["size"] > 0 else "sell",
            "event_time": item["create_time_ms"],
        }
        for item in push["result"]
    ]


def test_okx_swap_trades_reach_trades_raw_once_each_in_base_units(kafka_settings) -> None:
    symbols = ["BTC-USDT-SWAP", "BTC-USD-SWAP"]
    subscribe = {"op": "subscribe", "args": [{"channel": "trades", "instId": s} for s in symbols]}
    asyncio.run(
        _scenario(kafka_settings, "okx", "swap", symbols, "/ws/v5/public", subscribe, okx_truth, "okx_swap")
    )


def test_bybit_inverse_trades_reach_trades_raw_once_each_in_base_units(kafka_settings) -> None:
    symbols = ["BTCUSD"]
    subscribe = {"op": "subscribe", "args": [f"publicTrade.{s}" for s in symbols]}
    asyncio.run(
        _scenario(
            kafka_settings, "bybit", "inverse", symbols, "/v5/public/inverse", subscribe,
            bybit_inverse_truth, "bybit_inverse",
        )
    )  # fmt: skip


def test_gateio_futures_trades_reach_trades_raw_once_each_in_base_units(kafka_settings) -> None:
    symbols = ["BTC_USDT"]
    subscribe = {
        "time": int(time.time()),
        "channel": "futures.trades",
        "event": "subscribe",
        "payload": symbols,
    }
    asyncio.run(
        _scenario(
            kafka_settings, "gateio", "futures", symbols, "/v4/ws/usdt", subscribe,
            gateio_futures_truth, "gateio_futures",
        )
    )  # fmt: skip


def hyperliquid_spot_truth(push: Any) -> list[dict[str, Any]]:
    """The trades of a Hyperliquid `trades` message as sent (base tokens), under the record's
    symbol: the simulator's only spot pair besides PURR/USDC streams as `@1`."""
    if not (isinstance(push, dict) and push.get("channel") == "trades"):
        return []
    symbol_of = {"@1": "HYPE-USDC"}
    return [
        {
            "symbol": symbol_of[item["coin"]],
            "trade_id": str(item["tid"]),
            "price": item["px"],
            "size": Decimal(item["sz"]),
            "size_text": item["sz"],
            "side": {"B": "buy", "A": "sell"}[item["side"]],
            "event_time": item["time"],
        }
        for item in push["data"]
    ]


def test_hyperliquid_spot_trades_reach_trades_raw_once_each_under_the_symbol(kafka_settings) -> None:
    subscribe = {"method": "subscribe", "subscription": {"type": "trades", "coin": "@1"}}
    asyncio.run(
        _scenario(
            kafka_settings, "hyperliquid", "spot", ["HYPE-USDC"], "/ws", subscribe,
            hyperliquid_spot_truth, "hyperliquid_spot",
        )
    )  # fmt: skip


async def _scenario(  # noqa: PLR0913 - one scenario, each venue's particulars
    kafka_settings: Any,
    exchange: str,
    market: str,
    symbols: list[str],
    path: str,
    subscribe: dict[str, Any],
    truth_of: Callable[[Any], list[dict[str, Any]]],
    exchange_id: str,
) -> None:
    kafka = isolated_kafka(kafka_settings)
    trades_topic = topic_name(Topic.TRADES, kafka.topic_prefix)
    create_topics_if_absent(kafka, [trades_topic], partitions=1)
    sent: dict[str, list[dict[str, Any]]] = {s: [] for s in symbols}
    async with running(kafka, symbols, rate=50.0, exchange=exchange, market=market, trades=True) as (
        sim,
        service,
    ):
        assert service.trades is not None, "the venue has a trade stream"
        async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url + path) as ws:
            await ws.send_str(orjson.dumps(subscribe).decode())

            # The truth starts once this client is subscribed; the producer may have more before.
            async def read() -> None:
                async for msg in ws:
                    for truth in truth_of(orjson.loads(msg.data)):
                        sent[truth["symbol"]].append(truth)

            reader = asyncio.create_task(read())
            await wait_until(
                lambda: all(len(v) >= TRADES_EACH for v in sent.values()), 60, f"{TRADES_EACH} trades each"
            )
            reader.cancel()
        last_ids = {s: v[-1]["trade_id"] for s, v in sent.items()}
        states = [service.trades.by_symbol[s] for s in symbols]
        await wait_until(
            lambda: all(last_ids[state.symbol] in state.recent._ids for state in states),
            30,
            "the last trade the client saw published",
        )
        assert service.publisher.produced > 0, "the books flow beside the trades"
    records = read_topic(kafka, trades_topic)
    validate = validator_for(Topic.TRADES)
    for symbol in symbols:
        mine = [(key, r) for key, r in records if r["symbol"] == symbol]
        assert mine, f"no trade of {symbol} on the topic"
        assert all(key == f"{exchange_id}:{symbol}" for key, _ in mine)
        for _, rec in mine:
            validate(rec)
            assert (rec["exchange"], rec["market"]) == (exchange_id, market)
        ids = [r["trade_id"] for _, r in mine]
        assert len(ids) == len(set(ids)), "each trade once"
        truth = sent[symbol]
        start = ids.index(truth[0]["trade_id"])
        published = [r for _, r in mine][start : start + len(truth)]
        assert [r["trade_id"] for r in published] == [t["trade_id"] for t in truth], "in the venue's order"
        for rec, want in zip(published, truth, strict=True):
            got = {**{k: rec[k] for k in ("symbol", "trade_id", "price", "side", "event_time")}}
            assert got == {k: want[k] for k in got}
            # base-unit venues publish the size as sent; contracts converted have 9 decimals
            assert rec["size"] == want.get("size_text", format(want["size"], "f"))
            assert Decimal(rec["size"]) == want["size"]
    assert not [r for _, r in read_topic(kafka, topic_names(kafka)[1])], "no frame went to the DLQ"
