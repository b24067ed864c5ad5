"""Helpers of the producer's integration tests: a simulator and a producer service in one event
loop, per-test topics on the session's real broker, and reading the topics back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from config import KafkaSettings, ProducerSettings, SimulatorSettings
from producer.publisher import create_topics_if_absent, topic_names
from producer.service import ProducerOptions, ProducerService
from producer.simulator import ReplayOptions, Simulator


def isolated_kafka(kafka: KafkaSettings) -> KafkaSettings:
    """The session's broker with a topic prefix of this test's own; raw and DLQ topics created
    with one partition (records of all symbols in one total order, easy to read back)."""
    settings = kafka.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:10]}."})
    create_topics_if_absent(settings, list(topic_names(settings)), partitions=1)
    return settings


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(
    kafka: KafkaSettings,
    symbols: list[str],
    *,
    replay: ReplayOptions | None = None,
    rate: float = 50.0,
    options: ProducerOptions | None = None,
    start_producer: bool = True,
    prepare: Callable[[Simulator], Awaitable[None]] | None = None,
    **producer_settings: Any,
) -> AsyncIterator[tuple[Simulator, ProducerService]]:
    sim = Simulator(
        SimulatorSettings(host="127.0.0.1", port=0, symbols=symbols, seed=11, updates_per_second=rate), replay
    )
    await sim.start()
    if prepare is not None:
        await prepare(sim)
    settings = ProducerSettings(
        symbols=symbols, ws_url=sim.ws_url, rest_url=sim.rest_url, metrics_port=0, **producer_settings
    )
    opts = options or ProducerOptions()
    opts.validate_every = 1
    service = ProducerService(settings, kafka, opts)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop)) if start_producer else None
    try:
        if task is not None:
            await wait_until(lambda: service.http_port is not None or task.done(), 30, "producer start")
            if task.done():
                task.result()
        yield sim, service
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 60)
        await sim.stop()


def read_topic(
    kafka: KafkaSettings, topic: str, timeout_s: float = 20.0
) -> list[tuple[str | None, dict[str, Any]]]:
    """Every record of a one-partition topic, from the start to the end offset at call time: a
    record produced after that (the topic may still be written) is not read, so a poll while a
    producer runs gets exactly the `high` records the watermark said."""
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"read-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, 0)])
        out: list[tuple[str | None, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < high and time.monotonic() < deadline:
            for msg in consumer.consume(min(10_000, high - len(out)), timeout=0.5):
                if msg.error() or msg.offset() >= high:
                    continue
                key = msg.key().decode() if msg.key() else None
                out.append((key, orjson.loads(msg.value())))
        assert len(out) == high, f"read {len(out)} of {high} records of {topic}"
        return out
    finally:
        consumer.close()


class TruthClient:
    """Subscribes to the simulator's partial-depth stream (`@depth20@100ms`), which the market
    model emits after every step with lastUpdateId = the step's u: the model's own top 20 at each
    update id, independent of the producer's book keeping."""

    def __init__(self, ws_url: str, symbols: list[str]) -> None:
        self.url = f"{ws_url}/stream?streams=" + "/".join(f"{s.lower()}@depth20@100ms" for s in symbols)
        self.books: dict[tuple[str, int], dict[str, list[float]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TruthClient:
        import aiohttp

        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.url)
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for msg in self._ws:
            frame = orjson.loads(msg.data)
            symbol = frame["stream"].split("@")[0].upper()
            data = frame["data"]
            self.books[(symbol, data["lastUpdateId"])] = {
                "bid_prices": [float(p) for p, _ in data["bids"]],
                "bid_sizes": [float(q) for _, q in data["bids"]],
                "ask_prices": [float(p) for p, _ in data["asks"]],
                "ask_sizes": [float(q) for _, q in data["asks"]],
            }

    async def __aexit__(self, *exc: object) -> None:
        await self._ws.close()
        if self._task is not None:
            self._task.cancel()
        await self._session.close()


def compare_with_truth(records: list[tuple[str | None, dict[str, Any]]], truth: TruthClient) -> int:
    """Assert every record that has a truth book equals it exactly; return how many were compared."""
    compared = 0
    for _, rec in records:
        book = truth.books.get((rec["symbol"], rec["sequence_id"]))
        if book is None:
            continue
        compared += 1
        got = {k: rec[k] for k in ("bid_prices", "bid_sizes", "ask_prices", "ask_sizes")}
        assert got == book, f"{rec['symbol']} at {rec['sequence_id']}"
    return compared
