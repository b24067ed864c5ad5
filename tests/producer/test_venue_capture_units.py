"""The venue capture format (producer/venue_capture.py) and which replay a capture gets
(producer/simulator/venue_replay.open_replay): pure file round trips, no sockets."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from producer.capture import CaptureWriter, load_capture
from producer.simulator.replay import ReplayOptions, ReplaySource
from producer.simulator.venue_replay import VenueReplay, open_replay
from producer.venue_capture import CaptureHeader, VenueCaptureWriter, load_venue_capture, read_header

pytestmark = pytest.mark.unit

HEADER = CaptureHeader("gateio", "spot", ("BTC_USDT",), "/ws/v4/")
LISTING = b'[{"id": "BTC_USDT", "base": "BTC", "quote": "USDT", "trade_status": "tradable"}]'
SNAPSHOT = b'{"id": 42, "current": 1, "update": 1, "asks": [["60001", "1.5"]], "bids": [["60000", "2"]]}'
FRAMES = [
    b'{"time":1,"channel":"spot.order_book_update","event":"subscribe","result":{"status":"success"}}',
    b'{"time":1,"channel":"spot.order_book_update","event":"update","result":{"s":"BTC_USDT","U":42,"u":43}}',
]


def venue_capture(path: Path) -> None:
    writer = VenueCaptureWriter(path)
    writer.write_header(10, HEADER)
    writer.write_rest(10, "listing", LISTING)
    writer.write(11, FRAMES[0])
    writer.write_rest(12, "snapshot", SNAPSHOT, "BTC_USDT")
    writer.write(13, FRAMES[1])
    writer.close()


@pytest.mark.parametrize("name", ["cap.txt", "cap.txt.gz"])
def test_a_venue_capture_reads_back_as_written(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    venue_capture(path)
    capture = load_venue_capture(path)
    assert capture.header == HEADER == read_header(path)
    assert [(line.receive_ns, line.kind, line.symbol) for line in capture.lines] == [
        (10, "listing", None), (11, "frame", None), (12, "snapshot", "BTC_USDT"), (13, "frame", None),
    ]  # fmt: skip
    assert [line.raw for line in capture.lines if line.kind == "frame"] == FRAMES  # untouched
    assert orjson.loads(capture.listing or b"") == orjson.loads(LISTING)
    assert orjson.loads(capture.lines[2].raw) == orjson.loads(SNAPSHOT)
    assert capture.snapshot_indices("BTC_USDT") == [2] and capture.snapshot_indices("ETH_USDT") == []


def test_binance_captures_have_no_header_and_keep_their_replay(tmp_path: Path) -> None:
    path = tmp_path / "binance.txt"
    writer = CaptureWriter(path)
    depth = {"e": "depthUpdate", "E": 1, "s": "ETHUSDT", "U": 5, "u": 6, "b": [["1", "1"]], "a": [["2", "1"]]}
    writer.write(1, orjson.dumps({"stream": "ethusdt@depth@100ms", "data": depth}))
    writer.write_snapshot(2, b'{"lastUpdateId": 5, "bids": [["1", "1"]], "asks": [["2", "1"]]}', None)
    writer.close()
    assert read_header(path) is None
    assert isinstance(open_replay(ReplayOptions(str(path))), ReplaySource)
    assert load_capture(path).symbols == {"ETHUSDT"}
    with pytest.raises(ValueError, match="not a venue capture"):
        load_venue_capture(path)


def test_a_venue_capture_gets_the_venue_replay_on_the_recorded_paths(tmp_path: Path) -> None:
    path = tmp_path / "gate.txt.gz"
    venue_capture(path)
    replay = open_replay(ReplayOptions(str(path), speed=0))
    assert isinstance(replay, VenueReplay)
    assert (replay.symbols, replay.ws_path) == (["BTC_USDT"], "/ws/v4/")
    assert (replay.listing_path, replay.depth_path) == (
        "/api/v4/spot/currency_pairs",
        "/api/v4/spot/order_book",
    )
