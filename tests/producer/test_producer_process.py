"""The producer as the lead runs it: `python -m producer` against `python -m producer.simulator`,
stopped with SIGTERM (Kafka flushed, exit 0); plus configuration errors, partial-depth streams and
record -> replay round trips."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from producer_harness import TruthClient, compare_with_truth, isolated_kafka, read_topic, running, wait_until

from config import KafkaSettings, ProducerSettings, SimulatorSettings
from obm.stack.health import free_port
from producer.capture import load_capture
from producer.publisher import topic_names
from producer.recorder import Recorder, RecordOptions
from producer.rest import UnknownSymbol
from producer.service import ProducerService
from producer.simulator import ReplayOptions, Simulator

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_python_m_producer_runs_and_stops_cleanly_on_sigterm(kafka_settings: KafkaSettings) -> None:
    kafka = isolated_kafka(kafka_settings)
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "producer.simulator",
            "--port",
            "0",
            "--symbols",
            "ETHUSDT,BTCUSDT",
            "--updates-per-second",
            "20",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    producer = None
    try:
        line = ""
        while "simulator ws=" not in line:
            line = sim.stderr.readline()
            assert line or sim.poll() is None, "simulator exited"
        ws_url, rest_url = re.search(r"ws=(\S+) rest=(\S+)", line).groups()
        port = free_port()
        env = dict(
            os.environ,
            OBM_PRODUCER_WS_URL=ws_url,
            OBM_PRODUCER_REST_URL=rest_url,
            OBM_PRODUCER_SYMBOLS='["ETHUSDT","BTCUSDT"]',
            OBM_PRODUCER_METRICS_PORT=str(port),
            OBM_KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
            OBM_KAFKA_TOPIC_PREFIX=kafka.topic_prefix,
        )
        producer = subprocess.Popen([sys.executable, "-m", "producer"], cwd=REPO, env=env)
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status != 200:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                pass
            time.sleep(0.2)
        assert status == 200, "producer never became ready"
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        time.sleep(1.0)
        _, metrics = _get(f"http://127.0.0.1:{port}/metrics")
        produced = float(re.search(rb"^obm_producer_records_out_total (\S+)$", metrics, re.M).group(1))
        assert produced > 0
        producer.send_signal(signal.SIGTERM)
        assert producer.wait(timeout=30) == 0
    finally:
        for proc in (producer, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    # everything produced before SIGTERM was flushed to the broker
    records = read_topic(kafka, topic_names(kafka)[0])
    assert len(records) >= produced
    assert {key for key, _ in records} == {"binance:ETHUSDT", "binance:BTCUSDT"}
    # the listing of the start-up symbol check reaches every record: the normalized instrument
    for _, rec in records:
        instrument = (rec.get("base"), rec.get("quote"), rec.get("kind"), rec.get("contract_size", "absent"))
        assert instrument == (rec["symbol"].removesuffix("USDT"), "USDT", "spot", None), rec


def test_unknown_symbol_is_a_clear_error(kafka_settings: KafkaSettings) -> None:
    async def scenario():
        sim = Simulator(SimulatorSettings(port=0, symbols=["ETHUSDT"]))
        await sim.start()
        try:
            settings = ProducerSettings(
                symbols=["ETHUSDT", "NOSUCHCOIN"], ws_url=sim.ws_url, rest_url=sim.rest_url, metrics_port=0
            )
            service = ProducerService(settings, kafka_settings)
            await service.run(asyncio.Event())
        finally:
            await sim.stop()

    with pytest.raises(UnknownSymbol, match="NOSUCHCOIN"):
        asyncio.run(scenario())
    with pytest.raises(UnknownSymbol, match="invalid symbol"):
        ProducerService(ProducerSettings(symbols=["eth-usdt!"]), kafka_settings)


def test_partial_depth_stream_publishes_the_exchange_top_n(kafka_settings: KafkaSettings) -> None:
    kafka = isolated_kafka(kafka_settings)

    async def scenario():
        async with (
            running(kafka, ["SOLUSDT"], rate=40, stream_kind="partial", depth=20) as (sim, svc),
            TruthClient(sim.ws_url, ["SOLUSDT"]) as truth,
        ):
            sol = svc.feed.symbols["SOLUSDT"]
            await wait_until(lambda: sol.records > 30, 30, "partial records")
            return truth

    truth = asyncio.run(scenario())
    records = read_topic(kafka, topic_names(kafka)[0])
    assert compare_with_truth(records, truth) > 0.9 * len(records)
    assert records[0][1]["resynced"] and all(not r["resynced"] for _, r in records[1:])


def test_record_then_replay_gives_the_same_books(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    """`obm record` against the simulator, then the recording replayed into the producer: every
    published book equals the recorded bookTicker at the same update id."""
    capture = tmp_path / "rec.txt.gz"

    async def record():
        sim = Simulator(
            SimulatorSettings(port=0, symbols=["ETHUSDT", "BTCUSDT"], updates_per_second=50, seed=5)
        )
        await sim.start()
        try:
            rec = Recorder(
                RecordOptions(
                    output=str(capture),
                    symbols=["ETHUSDT", "BTCUSDT"],
                    ws_url=sim.ws_url,
                    rest_url=sim.rest_url,
                    channels=["depth", "bookTicker"],
                    duration_s=2.0,
                )
            )
            return await rec.run(asyncio.Event()), rec.snapshots
        finally:
            await sim.stop()

    frames, snapshots = asyncio.run(record())
    assert frames > 100 and snapshots == 2
    cap = load_capture(capture)
    assert {cap.frames[i].symbol for s in ("ETHUSDT", "BTCUSDT") for i in cap.snapshot_indices(s)} == {
        "ETHUSDT",
        "BTCUSDT",
    }
    tickers = {}
    for f in cap.frames:
        if f.stream and f.stream.endswith("@bookTicker"):
            data = orjson.loads(f.raw)["data"]
            tickers[(data["s"], data["u"])] = data

    kafka = isolated_kafka(kafka_settings)
    depth_frames = sum(1 for f in cap.frames if f.first_id)

    async def replay():
        async with running(kafka, ["ETHUSDT", "BTCUSDT"], replay=ReplayOptions(str(capture), speed=0)) as (
            _,
            svc,
        ):
            await wait_until(lambda: svc.feed.frames_in >= depth_frames, 30, "all recorded frames")
            # At speed 0 the whole capture can be in before a snapshot comes back: the buffered
            # events are applied when it does, so wait for that rather than stop with books pending.
            await wait_until(svc.feed.is_live, 30, "books live")
            return {s: (st.sync.gaps, st.sync.syncs) for s, st in svc.feed.symbols.items()}

    assert asyncio.run(replay()) == {"ETHUSDT": (0, 1), "BTCUSDT": (0, 1)}
    records = read_topic(kafka, topic_names(kafka)[0])
    matched = 0
    for _, rec in records:
        ticker = tickers.get((rec["symbol"], rec["sequence_id"]))
        if ticker is None:
            continue
        matched += 1
        assert (rec["bid_prices"][0], rec["bid_sizes"][0], rec["ask_prices"][0], rec["ask_sizes"][0]) == (
            float(ticker["b"]),
            float(ticker["B"]),
            float(ticker["a"]),
            float(ticker["A"]),
        )
    assert matched > 0.9 * len(records) and len(records) > 50
