"""Trades end to end: the simulator's market (Binance spot protocol) over a real WebSocket into
the producer with trades on, and trades.raw on the session's real broker. Every trade the
simulator sent (read by a client of its own on the same stream) is on the topic exactly once, in
order, keyed exchange:symbol, with the venue's exact text; the books keep flowing beside them."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
from producer_harness import isolated_kafka, read_topic, running, wait_until

from producer.publisher import create_topics_if_absent, topic_names
from schemas import Topic, topic_name, validator_for

pytestmark = pytest.mark.integration
SYMBOLS = ["ETHUSDT", "BTCUSDT"]


def test_the_simulators_trades_reach_trades_raw_once_each(kafka_settings) -> None:
    asyncio.run(_scenario(kafka_settings))


async def _scenario(kafka_settings) -> None:  # noqa: ANN001
    kafka = isolated_kafka(kafka_settings)
    trades_topic = topic_name(Topic.TRADES, kafka.topic_prefix)
    create_topics_if_absent(kafka, [trades_topic], partitions=1)
    sent: dict[str, list[dict]] = {s: [] for s in SYMBOLS}
    async with running(kafka, SYMBOLS, rate=50.0, trades=True) as (sim, service):
        assert service.trades is not None
        url = f"{sim.ws_url}/stream?streams=" + "/".join(f"{s.lower()}@trade" for s in SYMBOLS)
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            # The truth starts once this client is subscribed; the producer may have more before.
            async def read() -> None:
                async for msg in ws:
                    data = orjson.loads(msg.data)["data"]
                    sent[data["s"]].append(data)

            reader = asyncio.create_task(read())
            await wait_until(lambda: all(len(v) >= 40 for v in sent.values()), 60, "40 trades per symbol")
            reader.cancel()
        await wait_until(
            lambda: all(c["published"] >= 40 for c in service.trades.counts().values()),
            30,
            "trades published",
        )
        assert service.publisher.produced > 0, "the books flow beside the trades"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{service.http_port}/metrics") as response:
                exposition = await response.text()
        published = [
            line
            for line in exposition.splitlines()
            if line.startswith("obm_producer_trades_published_total{")
        ]
        assert len(published) == len(SYMBOLS) and all(float(line.split()[-1]) >= 40 for line in published)
    records = read_topic(kafka, trades_topic)
    validate = validator_for(Topic.TRADES)
    for symbol in SYMBOLS:
        mine = [(key, r) for key, r in records if r["symbol"] == symbol]
        assert all(key == f"binance:{symbol}" for key, _ in mine)
        for _, rec in mine:
            validate(rec)
        ids = [int(r["trade_id"]) for _, r in mine]
        assert ids == sorted(set(ids)), "each trade once, in the venue's order"
        by_id = {r["trade_id"]: r for _, r in mine}
        for frame in sent[symbol]:
            rec = by_id[str(frame["t"])]
            assert (rec["price"], rec["size"], rec["event_time"]) == (frame["p"], frame["q"], frame["T"])
            assert rec["side"] == ("sell" if frame["m"] else "buy")
    assert not [r for _, r in read_topic(kafka, topic_names(kafka)[1])], "no frame went to the DLQ"
