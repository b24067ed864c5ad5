"""The replay golden test: the shared Binance capture, served by the simulator over a real
WebSocket at maximum speed, into the producer and a real broker. The published book must have no
gap, and at every bookTicker of the capture whose update id equals a published record's sequence
id, the record's best bid, best ask and their sizes must equal the ticker's (577 in that file)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from producer_harness import isolated_kafka, read_topic, running, wait_until

from producer.capture import iter_lines
from producer.publisher import topic_names
from producer.simulator import ReplayOptions
from schemas import Topic, validator_for

pytestmark = pytest.mark.integration
CAPTURE = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance-spot-ethusdt-20240808.txt.gz"


def capture_tickers() -> dict[int, dict[str, str]]:
    """bookTickers of the capture by update id, read straight from the file (not via producer code)."""
    out = {}
    for _, raw in iter_lines(CAPTURE):
        msg = orjson.loads(raw)
        if msg.get("stream", "").endswith("@bookTicker"):
            out[msg["data"]["u"]] = msg["data"]
    return out


@pytest.mark.usefixtures("capture_path")  # fails, never skips, when the capture is missing
def test_replayed_capture_publishes_books_that_match_every_ticker(kafka_settings) -> None:
    kafka = isolated_kafka(kafka_settings)
    depth_frames = sum(1 for _, raw in iter_lines(CAPTURE) if b"@depth@100ms" in raw)

    async def scenario():
        # Books only: with the trade stream subscribed, frames_in would count the capture's trade
        # frames too and the wait below would end before the last depth frame.
        replay = ReplayOptions(str(CAPTURE), speed=0)
        async with running(kafka, ["ETHUSDT"], replay=replay, trades=False) as (sim, svc):
            await wait_until(lambda: svc.feed.frames_in >= depth_frames, 60, "all depth frames")
            await wait_until(lambda: svc.feed.symbols["ETHUSDT"].sync.live, 10, "book live")
            return svc.feed.symbols["ETHUSDT"].sync, svc.publisher

    sync, publisher = asyncio.run(scenario())
    assert (sync.gaps, sync.resyncs, sync.syncs) == (0, 0, 1)
    assert publisher.delivery_errors == 0 and publisher.invalid_records == 0

    raw_topic, dlq_topic = topic_names(kafka)
    records = read_topic(kafka, raw_topic)
    assert read_topic(kafka, dlq_topic) == []
    validate = validator_for(Topic.RAW)
    for key, rec in records:
        validate(rec)
        assert key == "binance:ETHUSDT"
        assert (rec["exchange"], rec["market"], rec["symbol"], rec["crossed"]) == (
            "binance",
            "spot",
            "ETHUSDT",
            False,
        )
        assert len(rec["bid_prices"]) == len(rec["ask_prices"]) == 20
        # the normalized instrument from the simulator's exchangeInfo, read at start
        assert (rec["base"], rec["quote"], rec["kind"], rec["contract_size"]) == ("ETH", "USDT", "spot", None)
    # one unbroken chain starting at the snapshot
    assert records[0][1]["resynced"] is True and records[0][1]["prev_sequence_id"] is None
    for (_, prev), (_, rec) in zip(records, records[1:], strict=False):
        assert rec["prev_sequence_id"] == prev["sequence_id"] and not rec["resynced"]
    assert len(records) == depth_frames - 2  # the two events before the snapshot are covered by it

    tickers = capture_tickers()
    by_seq = {rec["sequence_id"]: rec for _, rec in records}
    matched = 0
    for u, ticker in tickers.items():
        rec = by_seq.get(u)
        if rec is None:
            continue
        matched += 1
        assert (rec["bid_prices"][0], rec["bid_sizes"][0]) == (float(ticker["b"]), float(ticker["B"])), u
        assert (rec["ask_prices"][0], rec["ask_sizes"][0]) == (float(ticker["a"]), float(ticker["A"])), u
    assert matched == 577
