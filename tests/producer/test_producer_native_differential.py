"""Native engine == Python engine, frame for frame: the same records byte for byte, the same DLQ
records (reasons included), the same sync counters, on the shared Binance capture and on long
random market-model streams (spot and USD-M) salted with malformed, unusual, stale and missing
frames, with the venue's listing given to the books as the service does at start (every record
ends with the normalized instrument). The native hot path hands back every frame it does not
take, so any disagreement here means it took a frame the reference would treat differently."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import native_engine_required  # noqa: F401 - first: skips or fails this module without the engine
import orjson
import pytest
from bytes_publisher import BytesPublisher

from producer.capture import iter_lines
from producer.exchanges import BookSnapshot, ExchangeSpec, binance_spot, binance_usdm
from producer.feed import BookFeed
from producer.simulator.exchange_info import spot_exchange_info, usdm_exchange_info
from producer.simulator.market_model import SymbolModel, depth_update

pytestmark = pytest.mark.unit
CAPTURE = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance-spot-ethusdt-20240808.txt.gz"


def _state(feed: BookFeed) -> list[tuple]:
    """What observability reads (state, reason, counters, records, DLQ) and the book's update id;
    `since` is the wall clock of each feed's own transitions, so it is left out."""
    return [
        (r.status.symbol, r.status.state, r.status.reason, r.counters, r.records, r.dlq)
        for r in feed.book_reports()
    ] + [(s.sync.local_id,) for s in feed.symbols.values()] + [
        (feed.frames_in, feed.dlq, feed.lag_buckets, feed.lag_sum_ms, feed.lag_count)
    ]  # fmt: skip


async def _run_both(spec: ExchangeSpec, symbols: list[str], frames, snapshot) -> tuple[BookFeed, BookFeed]:  # noqa: ANN001
    """Feed the same frames to both engines in lockstep; `snapshot(symbol)` answers both fetches."""

    async def fetch(symbol: str) -> BookSnapshot:
        await asyncio.sleep(0)
        return spec.parse_snapshot(orjson.loads(orjson.dumps(snapshot(symbol))))

    pubs = BytesPublisher(), BytesPublisher()
    engines = ("python", "native")
    feeds = [BookFeed(spec, symbols, p, fetch, engine=e) for p, e in zip(pubs, engines, strict=True)]  # type: ignore[arg-type]
    assert feeds[1].native and not feeds[0].native
    # the listing as the service reads it at start: every record ends with the instrument
    listing = spec.parse_instruments(_exchange_info(spec, symbols))
    for feed in feeds:
        for symbol, state in feed.symbols.items():
            state.sync.use_instrument(listing[symbol])
    for i, (raw, t) in enumerate(frames):
        answers = [feed.on_frame(raw, t) for feed in feeds]
        assert answers[0] == answers[1], i
        for _ in range(3):
            await asyncio.sleep(0)
        if i % 50 == 0 or i < 100:
            assert pubs[0].raw == pubs[1].raw, i
            assert pubs[0].dlq == pubs[1].dlq, i
            assert _state(feeds[0]) == _state(feeds[1]), i
    for _ in range(50):
        await asyncio.sleep(0.01)  # pending snapshot fetches (a stale one retries after 0.2 s)
    assert pubs[0].raw == pubs[1].raw
    assert pubs[0].dlq == pubs[1].dlq
    assert _state(feeds[0]) == _state(feeds[1])
    kind = "perp" if spec is binance_usdm.EXCHANGE else "spot"
    for _, payload, _ in pubs[1].raw:
        record = orjson.loads(payload)
        base = record["symbol"].removesuffix("USDT")  # ETHUSDT, SOLUSDT
        instrument = {k: record.get(k) for k in ("base", "quote", "kind", "contract_size")}
        assert instrument == {"base": base, "quote": "USDT", "kind": kind, "contract_size": None}, record
    for feed in feeds:
        await feed.stop()
    return feeds[0], feeds[1]


def _exchange_info(spec: ExchangeSpec, symbols: list[str]) -> dict[str, Any]:
    """The simulator's exchangeInfo answer (shaped like Binance's) for `spec`'s market."""
    answer = usdm_exchange_info if spec is binance_usdm.EXCHANGE else spot_exchange_info
    return orjson.loads(orjson.dumps(answer(symbols)))


@pytest.mark.usefixtures("capture_path")  # fails, never skips, when the capture is missing
def test_capture_gives_identical_records_and_dlq_through_both_engines() -> None:
    lines = list(iter_lines(CAPTURE))
    snap = next(orjson.loads(raw) for _, raw in lines if raw.startswith(b'{"lastUpdateId"'))
    # every stream frame, trades and tickers included (both engines send those to the DLQ)
    frames = [(raw, t) for t, raw in lines if raw.startswith(b'{"stream"')][:12_000]
    py, nat = asyncio.run(_run_both(binance_spot.EXCHANGE, ["ETHUSDT"], frames, lambda s: snap))
    depth = sum(1 for raw, _ in frames if b"@depth@100ms" in raw)
    assert py.symbols["ETHUSDT"].records > 1000 and py.symbols["ETHUSDT"].sync.counters().gaps == 0
    # the native path took nearly every depth frame (those before the snapshot go to Python)
    assert nat.native_deferred - (len(frames) - depth) < 20


def _mutate(rng: random.Random, data: dict[str, Any], stream: str, futures: bool) -> bytes:
    """One frame, often altered in a way the native scanner must either handle exactly or hand back."""
    msg: dict[str, Any] = {"stream": stream, "data": data}
    kind = rng.randrange(40)
    bad_levels = [
        [["1e3", "1"]], [["-1", "1"]], [[" 1", "1"]], [["1.000000001", "1"]], [["NaN", "1"]],
        [["１", "1"]], [["0", "1"]], [["0.0", "1"]], [["1", "-0"]], [["9" * 65, "1"]], [["9" * 40, "1"]],
        [["1", "2", "3"]], [["1"]], [[1, "2"]], [{"p": 1}], ["x"], "x", None, [[["1"], "2"]],
        [["1.", ".5"]], [["00012.5", "0.000000010"]],
    ]  # fmt: skip
    if kind == 0:
        data[rng.choice("ba")] = rng.choice(bad_levels)
    elif kind == 1:
        key = rng.choice(["e", "E", "s", "U", "u", "b", "a", "pu", "T"])
        if rng.random() < 0.5:
            data.pop(key, None)
        else:
            data[key] = rng.choice([-1, "7", 1.5, True, None, 2**64, 2**70, "trade", "BTCUSDT", [], {}])
    elif kind == 2:
        data["U"], data["u"] = data["u"] + 1, data["U"]
    elif kind == 3:
        msg["stream"] = rng.choice(["btcusdt@depth@100ms", 5, None, "ethusdt@trade"])
    elif kind == 4:
        msg["data"] = rng.choice([[], "x", None, 3])
    elif kind == 5:
        data["x"] = {"nested": [1, 2, {"a": [True, False, None]}], "s": "é\n"}
    elif kind == 6:
        return orjson.dumps(msg, option=orjson.OPT_INDENT_2)
    elif kind == 7:
        text = orjson.dumps(msg)
        cut = rng.randrange(len(text))
        return text[:cut] if rng.random() < 0.5 else text + rng.choice([b"x", b" ", b"}", b"\n"])
    elif kind == 8:  # a string escape: valid JSON, same value, only Python may take it
        return (
            orjson.dumps(msg).replace(b'"depthUpdate"', b'"depth\\u0055pdate"').replace(b".", b"\\u002e", 1)
        )
    elif kind == 9:  # duplicate keys: orjson keeps the last
        key = rng.choice([b'"E":', b'"U":', b'"s":', b'"stream":', b'"b":'])
        return orjson.dumps(msg).replace(key, key + b'"dup",' + key, 1)
    elif kind == 10:
        text = orjson.dumps(msg)
        return rng.choice(
            [text.replace(b'"E":', b'"E":0', 1), text.replace(b'"U":', b'"U":-0', 1), text + b"\xff"]
        )
    elif kind == 11:
        data["s"] = "BTCUSDT"
    text = orjson.dumps(msg)
    return text.decode() if rng.random() < 0.5 else text  # aiohttp gives str; bytes must work too


@pytest.mark.parametrize("futures", [False, True])
def test_random_streams_with_bad_frames_give_identical_results(futures: bool) -> None:
    spec = binance_usdm.EXCHANGE if futures else binance_spot.EXCHANGE
    symbols = ["ETHUSDT", "SOLUSDT"]
    rng = random.Random(11 + futures)
    models = {s: SymbolModel(s, seed=i + 1) for i, s in enumerate(symbols)}
    prev_final = {s: m.update_id for s, m in models.items()}
    old: list[bytes] = []

    def frames():  # noqa: ANN202 - generated lazily so snapshots see the model's present
        for i in range(2500):
            symbol = rng.choice(symbols)
            first, final, bids, asks = models[symbol].step()
            data = depth_update(symbol, 1_700_000_000_000 + i, first, final, bids, asks)
            if futures:
                data |= {"pu": prev_final[symbol], "T": 1_700_000_000_000 + i}
            prev_final[symbol] = final
            stream = spec.diff_channel(symbol)
            if rng.random() < 0.02:
                continue  # lost: a gap
            raw = (
                _mutate(rng, data, stream, futures)
                if rng.random() < 0.2
                else orjson.dumps({"stream": stream, "data": data})
            )
            if old and rng.random() < 0.02:
                yield rng.choice(old), i  # stale or out of order
            if isinstance(raw, bytes):
                old.append(raw)
                del old[:-50]
            yield raw, 1_700_000_000_000_000_000 + i * 1_000_000

    py, nat = asyncio.run(_run_both(spec, symbols, frames(), lambda s: models[s].snapshot(1000)))
    assert sum(s.records for s in py.symbols.values()) > 1000
    assert sum(r.counters.gaps for r in py.book_reports()) > 5 and py.dlq > 50
    assert nat.native_deferred < nat.frames_in / 2
