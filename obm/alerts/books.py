"""orderbook.raw records without a running stack, for `obm alerts evaluate` and `calibrate`: a
capture (`obm record` format, producer/capture.py) or the simulator's market model, fed through the
producer's own book code (BookFeed, Python engine) into a list instead of Kafka. So the books the
rules are measured on are the books the producer would publish, gaps and resyncs included."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from producer.capture import iter_lines
from producer.exchanges import BookSnapshot, ExchangeSpec, resolve
from producer.feed import BookFeed
from producer.simulator.market_model import SymbolModel, depth_update

Frame = tuple[int, bytes]  # (receive time ns, the stream frame's JSON)


class ListPublisher:
    """What BookFeed would send to Kafka, kept in memory (the DLQ is counted, not kept)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.dlq = 0

    def publish_book(self, key: bytes, record: dict[str, Any], force_check: bool = False) -> bool:
        self.records.append(record)
        return True

    def publish_book_json(self, key: bytes, payload: bytes, force_check: bool = False) -> bool:
        self.records.append(orjson.loads(payload))
        return True

    def publish_dlq(self, record: dict[str, Any]) -> None:
        self.dlq += 1

    def poll(self, timeout: float = 0.0) -> int:
        return 0


async def _feed(
    spec: ExchangeSpec, symbols: list[str], frames: Iterable[Frame], snapshots: dict[str, list[dict]]
) -> list[dict[str, Any]]:
    """Every book record of the frames; a book's n-th snapshot request gets its n-th snapshot
    (the last one again when they run out)."""
    served: dict[str, int] = defaultdict(int)

    async def fetch(symbol: str) -> BookSnapshot:
        await asyncio.sleep(0)
        mine = snapshots.get(symbol) or []
        if not mine:
            raise RuntimeError(f"no depth snapshot of {symbol} in the input")
        snap = mine[min(served[symbol], len(mine) - 1)]
        served[symbol] += 1
        return spec.parse_snapshot(snap)

    publisher = ListPublisher()
    feed = BookFeed(spec, symbols, publisher, fetch, engine="python", restart_backoff_s=(0.0, 0.0))  # type: ignore[arg-type]
    for raw, t in ((raw, t) for t, raw in frames):
        feed.on_frame(raw, t)
        await asyncio.sleep(0)  # let a pending snapshot fetch run
    for _ in range(20):
        await asyncio.sleep(0)
    await feed.stop()
    return publisher.records


def capture_records(
    path: str | Path, exchange: str = "binance", market: str = "spot"
) -> list[dict[str, Any]]:
    """The orderbook.raw records the producer makes of a Binance capture (spot or USD-M diff
    streams, `depthUpdate` events)."""
    spec = resolve(exchange, market)
    frames: list[Frame] = []
    snapshots: dict[str, list[dict]] = defaultdict(list)
    symbols: list[str] = []
    for ns, raw in iter_lines(path):
        msg = orjson.loads(raw)
        if "lastUpdateId" in msg:
            snapshots[msg.pop("symbol", None) or ""].append(msg)
        elif "stream" in msg:
            frames.append((ns, raw))
            data = msg.get("data")
            if isinstance(data, dict) and data.get("e") == "depthUpdate" and data.get("s") not in symbols:
                symbols.append(data["s"])
    if "" in snapshots:  # a one-symbol capture's bare snapshots
        if len(symbols) != 1:
            raise ValueError(f"{path}: snapshots without a symbol in a capture of {symbols}")
        snapshots[symbols[0]] = snapshots.pop("")
    if not symbols:
        raise ValueError(f"{path}: no depth stream of {spec.id} ({market}) in the capture")
    return asyncio.run(_feed(spec, symbols, frames, snapshots))


def simulated_records(
    symbols: list[str], seconds: float, seed: int = 7, start_ms: int = 1_723_161_240_000
) -> list[dict]:
    """The orderbook.raw records of the simulator's market model (one 100 ms diff per symbol and
    step, event times from `start_ms`), through the same book code as a capture."""
    spec = resolve("binance", "spot")
    models = {s: SymbolModel(s, seed) for s in symbols}
    snapshots = {s: [m.snapshot(1000)] for s, m in models.items()}
    frames: list[Frame] = []
    for step in range(int(seconds * 10)):
        t = start_ms + step * 100
        for s, m in models.items():
            first, final, bids, asks = m.step()
            data = depth_update(s, t, first, final, bids, asks)
            frames.append((t * 1_000_000, orjson.dumps({"stream": spec.diff_channel(s), "data": data})))
    return asyncio.run(_feed(spec, symbols, frames, snapshots))
