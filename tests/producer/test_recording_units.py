"""When a recording asks for a book's REST snapshot (producer/recording.py, through the Binance
recorder's frame reading): at the book's first update, after a break in the recorded update-id
chain, never twice while one is on its way, and not for an update that continues the chain by
Binance futures' `pu`. The snapshot fetch itself is replaced by a probe: no sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from producer.recorder import Recorder, RecordOptions

pytestmark = pytest.mark.unit


class ProbeRecorder(Recorder):
    """A Recorder whose snapshot requests are noted instead of fetched; `hold` keeps them pending."""

    def __init__(self, symbols: list[str]) -> None:
        super().__init__(RecordOptions(output="unused", symbols=symbols))
        self.asked: list[str] = []
        self.hold = asyncio.Event()

    async def _snapshot(self, symbol: str, session: Any, writer: Any) -> None:
        self.asked.append(symbol)
        await self.hold.wait()
        self._pending.discard(symbol)


def diff(symbol: str, first: int, final: int, pu: int | None = None) -> bytes:
    data: dict[str, Any] = {"e": "depthUpdate", "s": symbol, "U": first, "u": final, "b": [], "a": []}
    if pu is not None:
        data["pu"] = pu
    return orjson.dumps({"stream": f"{symbol.lower()}@depth@100ms", "data": data})


async def frames(rec: ProbeRecorder, *raws: bytes) -> None:
    for raw in raws:
        rec._on_frame(raw, 0, None, None)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the snapshot tasks start


def test_first_update_and_a_break_ask_for_a_snapshot_a_chained_update_does_not() -> None:
    async def scenario() -> list[list[str]]:
        rec = ProbeRecorder(["ETHUSDT", "BTCUSDT"])
        rec.hold.set()
        seen = []
        await frames(rec, diff("ETHUSDT", 1, 5))
        seen.append(list(rec.asked))
        await frames(rec, diff("ETHUSDT", 6, 8), diff("ETHUSDT", 9, 9))
        seen.append(list(rec.asked))
        await frames(rec, diff("ETHUSDT", 11, 12))  # 10 is missing
        seen.append(list(rec.asked))
        await frames(rec, diff("BTCUSDT", 100, 101))  # each book its own chain
        seen.append(list(rec.asked))
        return seen

    assert asyncio.run(scenario()) == [
        ["ETHUSDT"],
        ["ETHUSDT"],
        ["ETHUSDT", "ETHUSDT"],
        ["ETHUSDT", "ETHUSDT", "BTCUSDT"],
    ]


def test_no_second_request_while_one_is_pending() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        rec = ProbeRecorder(["ETHUSDT"])
        await frames(rec, diff("ETHUSDT", 1, 5), diff("ETHUSDT", 7, 8), diff("ETHUSDT", 20, 21))
        pending = list(rec.asked)
        rec.hold.set()
        await asyncio.gather(*rec._tasks)
        await frames(rec, diff("ETHUSDT", 30, 31))  # a break after the snapshot came back
        return pending, list(rec.asked)

    assert asyncio.run(scenario()) == (["ETHUSDT"], ["ETHUSDT", "ETHUSDT"])


def test_futures_updates_chain_by_pu() -> None:
    """USD-M/COIN-M diffs do not continue U = u + 1; `pu` says the previous update's u."""

    async def scenario() -> list[str]:
        rec = ProbeRecorder(["ETHUSDT"])
        rec.hold.set()
        await frames(rec, diff("ETHUSDT", 100, 110, pu=95))
        await frames(rec, diff("ETHUSDT", 115, 120, pu=110), diff("ETHUSDT", 125, 130, pu=120))
        await frames(rec, diff("ETHUSDT", 140, 150, pu=135))  # pu is not the last u: a break
        return list(rec.asked)

    assert asyncio.run(scenario()) == ["ETHUSDT", "ETHUSDT"]


def test_frames_that_are_not_book_updates_ask_for_nothing() -> None:
    async def scenario() -> list[str]:
        rec = ProbeRecorder(["ETHUSDT"])
        rec.hold.set()
        ticker = orjson.dumps({"stream": "ethusdt@bookTicker", "data": {"u": 5, "s": "ETHUSDT"}})
        await frames(rec, ticker, b"not json", b"[1, 2]", orjson.dumps({"data": {"e": "depthUpdate"}}))
        return list(rec.asked)

    assert asyncio.run(scenario()) == []
