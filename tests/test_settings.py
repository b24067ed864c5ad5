"""Typed settings: env prefixes work, secrets stay secret, and the stack hands every child process
exactly the configuration it resolved (settings -> env -> settings is the identity)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config import (
    AlertSettings,
    FlinkSettings,
    KafkaSettings,
    MetricsJobSettings,
    PostgresSettings,
    ProducerSettings,
    SinkSettings,
)
from flink_jobs.connectors import kafka_sink_ddl
from obm.stack.settings_env import settings_env
from obm.stack.supervisor import StackConfig
from schemas import Topic

pytestmark = pytest.mark.unit


def test_env_prefix_and_secret(monkeypatch):
    monkeypatch.setenv("OBM_PG_PASSWORD", "s3cret")
    monkeypatch.setenv("OBM_KAFKA_BOOTSTRAP_SERVERS", "10.0.0.5:19092")
    pg = PostgresSettings()
    assert "s3cret" not in repr(pg)
    assert "password=s3cret" in pg.conninfo()
    assert KafkaSettings().port == 19092


def test_settings_round_trip_through_the_environment(monkeypatch):
    original = ProducerSettings(symbols=["BTCUSDT", "DOGEUSDT"], depth=10, metrics_port=19108)
    for key, value in settings_env(original).items():
        monkeypatch.setenv(key, value)
    assert ProducerSettings() == original


def test_per_symbol_alert_overrides():
    settings = AlertSettings(overrides={"BTCUSDT": {"imbalance_high": 0.8}})
    assert settings.for_symbol("btcusdt")["imbalance_high"] == 0.8
    assert settings.for_symbol("ETHUSDT")["imbalance_high"] == 0.7


def test_stack_points_the_producer_at_the_simulator_unless_live(tmp_path):
    from config import StackSettings

    cfg = StackConfig(stack=StackSettings(state_dir=tmp_path))
    env = cfg.env()
    assert env["OBM_PRODUCER_WS_URL"] == cfg.simulator.ws_url
    cfg.save()
    again = StackConfig.load_or_default(StackSettings(state_dir=tmp_path))
    assert again.env() == env
    live = StackConfig(stack=StackSettings(state_dir=tmp_path), live=True)
    assert live.env()["OBM_PRODUCER_WS_URL"] == ""


def test_kafka_storage_format_passes_ids_that_look_like_options(monkeypatch, tmp_path):
    """A KRaft cluster id is url-safe base64 and may start with '-': it must still reach the tool
    as the value of --cluster-id (it once failed 1 start in 64)."""
    import subprocess

    from config import KafkaSettings, StackSettings
    from obm.stack import kafka_broker

    seen: list[list[str]] = []

    def fake_run(argv, **_kwargs):
        seen.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    jars = tmp_path / "jars" / "kafka"
    jars.mkdir(parents=True)
    (jars / "kafka_2.13-4.1.1.jar").touch()
    monkeypatch.setattr(kafka_broker, "_cluster_id", lambda: "-Ab3xYz")
    monkeypatch.setattr(subprocess, "run", fake_run)
    broker = kafka_broker.KafkaBroker(
        KafkaSettings(), StackSettings(state_dir=tmp_path, jars_dir=tmp_path / "jars")
    )
    broker._write_config()
    broker._format_once()
    assert "--cluster-id=-Ab3xYz" in seen[0]


def test_job_output_producer_is_tuned_from_settings(monkeypatch):
    """The jobs' Kafka sink takes linger, compression and batch size from MetricsJobSettings, so
    a deployment that needs compressed topics changes an environment variable, not code."""
    monkeypatch.setenv("OBM_METRICS_KAFKA_COMPRESSION", "zstd")
    monkeypatch.setenv("OBM_METRICS_KAFKA_BATCH_BYTES", "65536")
    ddl = kafka_sink_ddl(
        "sink", Topic.PROCESSED, kafka=KafkaSettings(), flink=FlinkSettings(),
        producer=MetricsJobSettings(), job="metrics",
    )  # fmt: skip
    assert "'properties.compression.type' = 'zstd'" in ddl
    assert "'properties.batch.size' = '65536'" in ddl
    assert "'properties.linger.ms' = '5'" in ddl
    monkeypatch.setenv("OBM_METRICS_KAFKA_COMPRESSION", "brotli")
    with pytest.raises(ValidationError):
        MetricsJobSettings()


def test_the_main_command_runs_the_trade_bars_and_pairs_jobs_on_simulated_trades() -> None:
    """`obm up` with the default settings: the producer publishes the simulator's trades, the jobs
    that read them run, and the default pair's two legs are instruments the stack produces."""
    from config import PairSettings
    from flink_jobs.pair_analytics import PairSpec
    from producer.exchanges import resolve
    from schemas import record_key

    cfg = StackConfig()
    assert {"trade_bars", "pairs"} <= set(cfg.flink.jobs)
    assert cfg.flink.taskmanager_slots >= cfg.flink.slots_needed()
    assert cfg.env()["OBM_PRODUCER_TRADES"] == "true"  # what the producer process reads
    produced = set()
    for producer in cfg.producers():
        produced |= {record_key(resolve(producer.exchange, producer.market).id, s) for s in producer.symbols}
    assert produced <= {record_key("binance", s) for s in cfg.simulated_market().symbols}
    pairs = [PairSpec.parse(text) for text in PairSettings().pairs]
    assert pairs and all({pair.y, pair.x} <= produced for pair in pairs), (pairs, produced)


def test_sink_consumers_take_their_session_timeout_from_the_settings():
    """A sink restarted after a crash gets its partitions back after this timeout (librdkafka's
    default, 45 s, stalled the restarted sink that long); the broker refuses less than 6 s."""
    from sinks.launch import build_loop

    for kind in ("postgres", "redis"):
        loop = build_loop(kind, sink_settings=SinkSettings(session_timeout_ms=7_000))
        assert loop._consumer_config["session.timeout.ms"] == 7_000
    assert SinkSettings().session_timeout_ms == 10_000
    with pytest.raises(ValidationError):
        SinkSettings(session_timeout_ms=5_000)
