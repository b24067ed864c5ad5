"""Record and replay for every venue family subscribed by message (OKX, Bybit, Gate.io,
Hyperliquid; Binance's round trip is in test_producer_process.py), golden against the live run:

a producer keeps the simulator's model-driven book live into one topic while `obm record`'s
recorder (producer.recorder.open_recorder) records the same venue from the same simulator; then the
capture is replayed by the simulator (its venue replay: the recorded listing, frames and REST
snapshots over the real WebSocket and REST paths) at full speed into a second producer and topic.
Every record the replay published must equal the live producer's record at the same sequence id,
field for field (receive times aside), and the replay must publish every record the live producer
published over the recorded span, in order. Markets are the ones whose listing matters (contract
sizes, Hyperliquid's spot @index names), so the recorded listing is exercised too.

Gate.io's books start from a REST snapshot of limited depth (the producer asks 100 levels), and
the live producer and the recorder fetch theirs at different update ids. A level below a
snapshot's last one is known only once an update touches it, so the two books can differ below
their windows, and the simulator's market model moves far enough in a few hundred updates (its
bids thin out and the price walks more than 100 ticks) for such a level to reach the published
top 10 in one book and not the other: the replay then differs from the live record for a reason
that is not the record/replay (seen 2026-12-06: record 58 of 60, bid levels, 1 run in 1). So for
Gate.io the live producer, the recorder and the replayed producer all ask for snapshots deeper
than the model's whole book (GATEIO_SNAPSHOT_LIMIT): both books are then exact, whenever their
snapshots were taken."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from producer_harness import isolated_kafka, read_topic, running, wait_until

from config import KafkaSettings
from producer.exchanges import BadFrame, DepthEvent, resolve
from producer.publisher import topic_names
from producer.recorder import RecordOptions, open_recorder
from producer.service import ProducerOptions
from producer.simulator import ReplayOptions
from producer.venue_capture import VenueCapture, load_venue_capture
from producer.venue_recorder import VenueRecorder

pytestmark = pytest.mark.integration
DEPTH = 10
LIVE_RECORDS = 60  # per book while recording
# Deeper than the simulator's books (300 levels a side at the start, refilled to 150): see above.
GATEIO_SNAPSHOT_LIMIT = 1000
COMPARED = (
    "exchange", "market", "symbol", "event_time", "transaction_time", "sequence_id", "bid_prices", "bid_sizes",
    "ask_prices", "ask_sizes", "crossed", "base", "quote", "kind", "contract_size",
)  # fmt: skip
CASES = [
    ("okx", "swap", "BTC-USDT-SWAP"),  # in-stream snapshot, checksum, ctVal contracts
    ("bybit", "inverse", "BTCUSD"),  # in-stream snapshot, u chain, 1 USD contracts
    ("gateio", "futures", "BTC_USDT"),  # REST snapshot + U/u chain, quanto_multiplier
    ("hyperliquid", "spot", "HYPE-USDC"),  # whole books by time, spotMeta's @index coin
]


@pytest.mark.parametrize(("exchange", "market", "symbol"), CASES, ids=[c[0] for c in CASES])
def test_a_recorded_venue_replays_into_the_live_records(
    kafka_settings: KafkaSettings, tmp_path: Path, exchange: str, market: str, symbol: str
) -> None:
    capture = tmp_path / f"{exchange}.txt.gz"
    live_kafka, replay_kafka = isolated_kafka(kafka_settings), isolated_kafka(kafka_settings)
    venue = {"exchange": exchange, "market": market, "depth": DEPTH}
    snapshot_limit = GATEIO_SNAPSHOT_LIMIT if exchange == "gateio" else None

    async def record() -> int:
        options = ProducerOptions(snapshot_limit=snapshot_limit)
        async with running(live_kafka, [symbol], rate=40.0, options=options, **venue) as (sim, svc):
            book = svc.feed.symbols[symbol]
            await wait_until(lambda: book.records > 0, 30, "the live book")
            recorder = open_recorder(
                RecordOptions(str(capture), [symbol], exchange, market, sim.ws_url, sim.rest_url)
            )
            assert isinstance(recorder, VenueRecorder)
            if snapshot_limit is not None:
                recorder.snapshot_limit = snapshot_limit
            stop = asyncio.Event()
            task = asyncio.create_task(recorder.run(stop))
            start = book.records
            await wait_until(lambda: book.records >= start + LIVE_RECORDS, 60, f"{LIVE_RECORDS} live records")
            stop.set()
            frames = await task
            end = book.records  # the live producer goes on past the recording's last frame
            await wait_until(lambda: book.records >= end + 5, 30, "live records after the recording")
            return frames

    frames = asyncio.run(record())
    recorded = load_venue_capture(capture)
    assert (recorded.header.exchange, recorded.header.symbols) == (resolve(exchange, market).id, (symbol,))
    assert recorded.listing is not None and frames == sum(
        1 for line in recorded.lines if line.kind == "frame"
    )
    for line in recorded.lines:  # Gate.io: the snapshots are whole books (the premise above)
        if line.kind == "snapshot":
            body = orjson.loads(line.raw)
            assert max(len(body["bids"]), len(body["asks"])) < GATEIO_SNAPSHOT_LIMIT, line.receive_ns
    assert (exchange == "gateio") == any(line.kind == "snapshot" for line in recorded.lines)
    live = [r for _, r in read_topic(live_kafka, topic_names(live_kafka)[0])]
    live_by_seq = {r["sequence_id"]: r for r in live}
    # The replay's last record is the live one at the capture's last book id (or just before it:
    # a frame that changes nothing publishes nothing).
    last = max(r["sequence_id"] for r in live if r["sequence_id"] <= max(book_ids(recorded)))
    topic = topic_names(replay_kafka)[0]

    async def replay() -> None:
        options = ReplayOptions(str(capture), speed=0)
        producer = ProducerOptions(snapshot_limit=snapshot_limit)
        async with running(replay_kafka, [symbol], replay=options, options=producer, **venue) as (sim, _):
            assert sim.venue_replay is not None
            await wait_until(lambda: sim.venue_replay.sent == frames, 60, "every recorded frame sent")
            deadline = asyncio.get_running_loop().time() + 60
            while not any(
                r["sequence_id"] == last for _, r in await asyncio.to_thread(read_topic, replay_kafka, topic)
            ):
                assert asyncio.get_running_loop().time() < deadline, f"no replayed record at {last}"
                await asyncio.sleep(0.5)

    asyncio.run(replay())
    replayed = [r for _, r in read_topic(replay_kafka, topic_names(replay_kafka)[0])]
    assert len(replayed) >= LIVE_RECORDS // 2, len(replayed)
    span = [r for r in live if replayed[0]["sequence_id"] <= r["sequence_id"] <= replayed[-1]["sequence_id"]]
    assert [r["sequence_id"] for r in replayed] == [r["sequence_id"] for r in span]
    assert replayed[-1]["sequence_id"] == last
    for i, record in enumerate(replayed):
        expected = live_by_seq[record["sequence_id"]]
        # The first is the recorder's own subscription snapshot: the same book at the same id,
        # stamped when it was sent to the recorder (OKX's `ts`), not when the update came.
        fields = COMPARED if i else [k for k in COMPARED if k not in ("event_time", "transaction_time")]
        assert {k: record.get(k) for k in fields} == {k: expected.get(k) for k in fields}, i
        if i:
            assert record["prev_sequence_id"] == replayed[i - 1]["sequence_id"]
    assert replayed[0]["resynced"]


def book_ids(capture: VenueCapture) -> list[int]:
    """The update ids (or times) of the capture's book messages, read by the venue's own parser."""
    spec = resolve(capture.header.exchange, capture.header.market)
    assert spec.parse_message is not None
    ids = []
    for line in capture.lines:
        if line.kind != "frame":
            continue
        try:
            parsed = spec.parse_message(orjson.loads(line.raw), 0)
        except (BadFrame, orjson.JSONDecodeError):
            continue
        if parsed is not None:
            book = parsed[1]
            ids.append(book.final_id if isinstance(book, DepthEvent) else book.last_update_id)
    return ids
