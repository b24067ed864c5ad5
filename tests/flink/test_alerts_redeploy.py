"""The alerts job from Kafka to Kafka on a real session cluster, redeployed from a savepoint in
the middle of the input: an episode that started before the redeploy is confirmed after it (the
pattern state survived), a repeat inside the cooldown of an alert raised before it is suppressed
(the cooldown state survived), no alert id comes out twice, and the whole output equals the
reference over the whole input."""

from __future__ import annotations

import pytest

from config import AlertSettings
from flink_jobs.lifecycle import find_active_job, redeploy_job, stop_job, submit_job
from schemas import Topic, validator_for
from tests.flink.alert_sequences import T0, processed, random_processed
from tests.flink.kafka_io import consume_until, isolated_kafka, produce, read_all
from tests.flink.reference_alerts import as_tuple, reference_alerts

WALK = ("RNDAUSDT", "RNDBUSDT")


def _imbalances(symbol: str, points: list[tuple[int, float | None]], seq0: int) -> list[dict]:
    return [processed(symbol, t, seq0 + i, imbalance_5=x) for i, (t, x) in enumerate(points)]


def _by_time(*parts: list[dict]) -> list[dict]:
    return sorted((r for part in parts for r in part), key=lambda r: r["event_time"])


def _first_half() -> list[dict]:
    xxx = _imbalances("XXXUSDT", [(0, 0.1), *[(t, 0.55) for t in range(100, 1101, 100)], (1200, 0.1)], 0)
    yyy = _imbalances("YYYUSDT", [(0, 0.1), (100, 0.6), (200, 0.6)], 0)  # an episode left open
    walk = random_processed(400, seed=41, symbols=WALK)
    walk = [r for r in walk if r["event_time"] < T0 + 9_000]
    # moves the watermark past everything above (YYYUSDT's partition may go idle instead)
    flush = [processed(s, 10_000, 900, imbalance_5=0.0) for s in ("XXXUSDT", *WALK)]
    return _by_time(xxx, yyy, walk) + flush


def _second_half() -> list[dict]:
    xxx = _imbalances("XXXUSDT", [(t, 0.55) for t in range(12_000, 13_001, 100)] + [(13_100, 0.1)], 1000)
    yyy = _imbalances("YYYUSDT", [(12_000, 0.6), (12_100, 0.1)], 1000)
    walk = [
        r | {"sequence_id": r["sequence_id"] + 5000}
        for r in random_processed(400, seed=43, symbols=WALK, start=12_000)
        if r["event_time"] < T0 + 24_000
    ]
    sentinel = [processed("ZZZUSDT", 24_500, 1, imbalance_velocity=0.5)]
    flush = [processed(s, 40_000, 9000, imbalance_5=0.0) for s in ("XXXUSDT", "YYYUSDT", "ZZZUSDT", *WALK)]
    return _by_time(xxx, yyy, walk, sentinel) + flush


@pytest.mark.integration
def test_alerts_redeployed_from_a_savepoint_keep_state_and_ids(kafka_settings, flink_settings, tmp_path):
    kafka = isolated_kafka(kafka_settings, (Topic.PROCESSED, Topic.ALERTS))
    settings = AlertSettings(profile="seed")  # the rules of reference_alerts
    first, second = _first_half(), _second_half()
    expected = reference_alerts(first + second, settings)
    assert ("imbalance_extreme", "medium", "binance", "YYYUSDT", T0 + 100, T0 + 12_000, 0.6, 0.5) in expected
    assert not any(a[3] == "XXXUSDT" and a[4] == T0 + 12_000 for a in expected)  # inside the cooldown

    produce(kafka, Topic.PROCESSED, first)
    job_id = submit_job("alerts", flink=flink_settings, kafka=kafka, alerts=settings)
    savepoints = str(tmp_path / "savepoints")
    try:
        consume_until(kafka, Topic.ALERTS, lambda got: any(a["symbol"] == "XXXUSDT" for a in got))
        new_id, savepoint = redeploy_job(
            "alerts", flink=flink_settings, kafka=kafka, savepoint_dir=savepoints, alerts=settings
        )
        assert new_id != job_id and savepoint.startswith("file:")
        produce(kafka, Topic.PROCESSED, second)
        # the sentinel's alert is decided last; the others may sit on other partitions, behind it
        consume_until(
            kafka,
            Topic.ALERTS,
            lambda got: any(a["symbol"] == "ZZZUSDT" for a in got) and len(got) >= len(expected),
        )
        alerts = read_all(kafka, Topic.ALERTS)
    finally:
        running = find_active_job(flink_settings, "alerts")
        if running is not None:
            stop_job(flink_settings, running.job_id, savepoints)

    ids = [a["alert_id"] for a in alerts]
    assert len(ids) == len(set(ids)), "an alert came out twice across the redeploy"
    validate = validator_for(Topic.ALERTS)
    got = []
    for alert in alerts:
        assert alert.pop("_key") == f"{alert['exchange']}:{alert['symbol']}"
        validate(alert)
        if alert["symbol"] != "ZZZUSDT":
            got.append(as_tuple(alert))
    assert sorted(got) == [a for a in expected if a[3] != "ZZZUSDT"]
