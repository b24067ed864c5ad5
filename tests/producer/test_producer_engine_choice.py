"""OBM_PRODUCER_ENGINE=auto: the compiled engine when it is built, else the Python reference, said
once at start; a whole producer process runs and publishes on the Python engine when the compiled
one cannot be imported (as on a machine without a Rust toolchain); and the compiled engine's tests
skip only where it cannot be built."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import native_engine
import pytest
from confluent_kafka import Consumer, TopicPartition
from native_engine import require_native_engine
from producer_harness import isolated_kafka, read_topic

from config import KafkaSettings
from config.clients import consumer_config
from obm.stack.health import free_port
from producer import engine_choice
from producer.engine_choice import describe_engine, resolve_engine
from producer.exchanges import binance_spot, bybit_linear, hyperliquid_perp, okx_spot
from producer.feed import BookFeed
from producer.publisher import topic_names
from producer.stream_feed import StreamBookFeed
from producer.stream_sync import SnapshotStreamSync, StreamBookSync
from producer.sync import BookSync

REPO = Path(__file__).resolve().parents[2]
HIDE_NATIVE = "import sys; sys.modules['obm_book_native'] = None"


@pytest.fixture
def without_native(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The compiled engine's module cannot be imported; returns bootstrap's marker file (absent)."""
    monkeypatch.setitem(sys.modules, "obm_book_native", None)
    monkeypatch.delitem(sys.modules, "producer.native_sync", raising=False)
    monkeypatch.delitem(sys.modules, "producer.native_stream_sync", raising=False)
    marker = tmp_path / "native-engine"
    monkeypatch.setattr(engine_choice, "NATIVE_MARKER", marker)
    return marker


@pytest.mark.unit
def test_auto_is_the_compiled_engine_when_it_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_choice, "native_installed", lambda: True)
    assert resolve_engine("auto") == ("native", "")
    assert describe_engine("auto") == "native"
    assert describe_engine("python") == "python (OBM_PRODUCER_ENGINE=python)"
    assert resolve_engine("native") == ("native", "")


@pytest.mark.unit
def test_auto_falls_back_to_python_and_says_why(without_native: Path) -> None:
    assert resolve_engine("auto") == ("python", "obm_book_native is not installed")
    without_native.write_text("built\n")  # built once, gone since: still said
    assert resolve_engine("auto") == ("python", "obm_book_native is not installed")
    without_native.write_text("no Rust toolchain\n")
    assert resolve_engine("auto") == ("python", "no Rust toolchain")
    assert describe_engine("auto") == "python (no Rust toolchain)"


class _Publisher:
    def publish_book(self, *args: object, **kwargs: object) -> bool:
        return True

    def publish_book_json(self, *args: object, **kwargs: object) -> bool:
        return True

    def publish_dlq(self, record: object) -> None:
        pass


async def _no_snapshot(symbol: str):  # noqa: ANN202
    raise AssertionError("not reached")


@pytest.mark.unit
def test_a_feed_on_auto_runs_the_python_engine_and_says_so_once(without_native: Path, caplog) -> None:
    without_native.write_text("no Rust toolchain\n")
    with caplog.at_level(logging.WARNING, logger="producer.feed"):
        feed = BookFeed(
            binance_spot.EXCHANGE, ["ETHUSDT", "BTCUSDT"], _Publisher(), _no_snapshot, engine="auto"
        )
    assert all(type(s.sync) is BookSync for s in feed.symbols.values())
    said = [r.getMessage() for r in caplog.records if "engine:" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("engine: python (no Rust toolchain)"), said
    with pytest.raises(ImportError, match="scripts/bootstrap.sh"):  # asked for by name: no fallback
        BookFeed(binance_spot.EXCHANGE, ["ETHUSDT"], _Publisher(), _no_snapshot, engine="native")


@pytest.mark.unit
def test_venue_feeds_on_auto_run_their_python_engine_and_say_so_once(without_native: Path, caplog) -> None:
    """OKX, Bybit and Hyperliquid have compiled twins (producer/native_stream_sync.py); without
    the module each feed keeps its books on the venue's Python engine and says why, once."""
    without_native.write_text("no Rust toolchain\n")
    cases = [(okx_spot, "BTC-USDT", StreamBookSync), (bybit_linear, "BTCUSDT", StreamBookSync),
             (hyperliquid_perp, "BTC", SnapshotStreamSync)]  # fmt: skip
    for module, symbol, engine in cases:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="producer.feed"):
            feed = StreamBookFeed(module.EXCHANGE, [symbol], _Publisher(), _no_snapshot, engine="auto")
        assert type(feed.symbols[symbol].sync) is engine and not feed.native
        said = [r.getMessage() for r in caplog.records if "engine:" in r.getMessage()]
        assert len(said) == 1 and said[0].startswith("engine: python (no Rust toolchain)"), said
        with pytest.raises(ImportError, match="scripts/bootstrap.sh"):  # asked for by name: no fallback
            StreamBookFeed(module.EXCHANGE, [symbol], _Publisher(), _no_snapshot, engine="native")


@pytest.mark.unit
def test_the_compiled_engine_tests_skip_only_without_a_toolchain(without_native: Path, monkeypatch) -> None:
    without_native.write_text("no Rust toolchain\n")
    monkeypatch.setattr(native_engine, "cargo_installed", lambda: False)
    with pytest.raises(pytest.skip.Exception, match="no Rust toolchain"):
        require_native_engine()
    monkeypatch.setattr(native_engine, "cargo_installed", lambda: True)  # cargo here, module not
    with pytest.raises(pytest.fail.Exception, match="cargo is installed"):
        require_native_engine()
    monkeypatch.setattr(native_engine, "cargo_installed", lambda: False)
    without_native.write_text("built\n")  # built, then lost
    with pytest.raises(pytest.fail.Exception, match="recorded 'built'"):
        require_native_engine()


def _end_offset(kafka: KafkaSettings, topic: str) -> int:
    consumer = Consumer(consumer_config(kafka, "end-offset"))
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


@pytest.mark.integration
def test_a_producer_process_without_the_compiled_engine_publishes_on_python(
    kafka_settings: KafkaSettings,
) -> None:
    kafka = isolated_kafka(kafka_settings)
    sim = subprocess.Popen([sys.executable, "-m", "producer.simulator", "--port", "0", "--symbols", "ETHUSDT",
                            "--updates-per-second", "20"], cwd=REPO, stderr=subprocess.PIPE, text=True)  # fmt: skip
    producer = None
    try:
        line = ""
        while "simulator ws=" not in line:
            line = sim.stderr.readline()
            assert line or sim.poll() is None, "simulator exited"
        ws_url, rest_url = re.search(r"ws=(\S+) rest=(\S+)", line).groups()
        env = dict(os.environ, OBM_PRODUCER_WS_URL=ws_url, OBM_PRODUCER_REST_URL=rest_url,
                   OBM_PRODUCER_SYMBOLS='["ETHUSDT"]', OBM_PRODUCER_METRICS_PORT=str(free_port()),
                   OBM_PRODUCER_ENGINE="auto", OBM_KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
                   OBM_KAFKA_TOPIC_PREFIX=kafka.topic_prefix)  # fmt: skip
        code = f"{HIDE_NATIVE}; from producer.cli import produce; produce(prog_name='python -m producer')"
        producer = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stderr=subprocess.PIPE,
                                    text=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _end_offset(kafka, topic_names(kafka)[0]) < 20:
            assert producer.poll() is None, "the producer exited"
            time.sleep(0.5)
        producer.send_signal(signal.SIGTERM)
        _, err = producer.communicate(timeout=30)
        assert producer.returncode == 0, err[-3000:]
    finally:
        for proc in (producer, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    records = read_topic(kafka, topic_names(kafka)[0])
    assert len(records) >= 20 and {k for k, _ in records} == {"binance:ETHUSDT"}
    said = [ln for ln in err.splitlines() if "engine:" in ln]
    assert len(said) == 1 and "engine: python (obm_book_native is not installed)" in said[0], said
