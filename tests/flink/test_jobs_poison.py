"""Poison records on the real pipeline: every job (metrics on orderbook.raw, bars and alerts on
orderbook.processed) on the session cluster reads good records, then one record of each poison kind
under a live key, then more good records. Each job must stay RUNNING with no restart and no
exception, write exactly what the good records alone give (the poisoned key's later records
included), count each rejection by kind, and put each poison record in orderbook.dlq once, with
its reason, topic, partition, offset, key and original bytes. A poison record dated a day ahead
must not move the bars' and alerts' watermark (windows and patterns after it still close)."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from confluent_kafka import Producer

from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings
from flink_jobs.connectors import topic_name
from flink_jobs.lifecycle import cancel_job, submit_job
from flink_jobs.pipelines import dlq_source
from schemas import Topic, record_key, validator_for
from schemas.dlq import original_bytes
from tests.flink.alert_sequences import T0, processed
from tests.flink.book_sequences import random_walk_books
from tests.flink.comparing import mismatches
from tests.flink.conftest import CONTRACT_MAX_AGE_ENV
from tests.flink.kafka_io import consume_until, isolated_kafka, read_all
from tests.flink.poison_cases import Poison, conforming, poison_cases, retimed
from tests.flink.reference_alerts import reference_alerts
from tests.flink.reference_bars import reference_bars
from tests.flink.reference_metrics import reference_metrics

pytestmark = pytest.mark.integration


def _produce(kafka: KafkaSettings, topic: Topic, items: list[tuple[str, bytes]]) -> list[tuple[int, int]]:
    """Write (key, value) pairs in order; returns the (partition, offset) of each."""
    positions: list[tuple[int, int] | None] = [None] * len(items)
    producer = Producer(
        {"bootstrap.servers": kafka.bootstrap_servers, "linger.ms": 5, "enable.idempotence": True}
    )

    def delivered(i: int) -> Any:
        def report(err: Any, msg: Any) -> None:
            assert err is None, err
            positions[i] = (msg.partition(), msg.offset())

        return report

    for i, (key, value) in enumerate(items):
        producer.produce(topic_name(kafka, topic), value, key=key, on_delivery=delivered(i))
    assert producer.flush(30) == 0
    assert all(p is not None for p in positions)
    return [p for p in positions if p is not None]


def _keyed(records: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    return [(record_key(r["exchange"], r["symbol"]), json.dumps(r).encode()) for r in records]


def _rest(flink: FlinkSettings, path: str) -> Any:
    with urllib.request.urlopen(f"http://{flink.jobmanager}{path}", timeout=10) as response:
        return json.loads(response.read())


def _rejection_counts(flink: FlinkSettings, job_id: str) -> dict[str, int]:
    """The job's obm_rejected_<kind> counters (summed over subtasks), as the REST API shows them."""
    counts: dict[str, int] = {}
    for vertex in _rest(flink, f"/jobs/{job_id}")["vertices"]:
        listed = _rest(flink, f"/jobs/{job_id}/vertices/{vertex['id']}/metrics")
        ids = [m["id"] for m in listed if "obm_rejected_" in m["id"]]
        if ids:
            values = _rest(flink, f"/jobs/{job_id}/vertices/{vertex['id']}/metrics?get={','.join(ids)}")
            for metric in values:
                kind = metric["id"].split("obm_rejected_", 1)[1]
                counts[kind] = counts.get(kind, 0) + int(float(metric["value"]))
    return counts


def _expected_counts(cases: list[Poison]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.kind] = counts.get(case.kind, 0) + 1
    return counts


def _assert_healthy(flink: FlinkSettings, job_id: str, cases: list[Poison]) -> None:
    """RUNNING, no restart, no exception, and each rejection counted by kind. The counters reach
    the REST API with the metric fetcher's interval (10 s), so they are read until they agree."""
    job = _rest(flink, f"/jobs/{job_id}")
    assert job["state"] == "RUNNING", job["state"]
    # Job metrics reach the REST API with the metric fetcher's interval: an empty answer means
    # "not fetched yet", not zero, so it is read until present.
    restarts: list = []
    until = time.monotonic() + 60
    while not restarts and time.monotonic() < until:
        restarts = _rest(flink, f"/jobs/{job_id}/metrics?get=numRestarts")
        time.sleep(0 if restarts else 2)
    assert [int(m["value"]) for m in restarts] == [0]
    history = _rest(flink, f"/jobs/{job_id}/exceptions")
    assert not history["exceptionHistory"]["entries"], history["exceptionHistory"]["entries"][:1]
    wanted = _expected_counts(cases)
    deadline = time.monotonic() + 60
    counts = _rejection_counts(flink, job_id)
    while {k: v for k, v in counts.items() if v} != wanted and time.monotonic() < deadline:
        time.sleep(2)
        counts = _rejection_counts(flink, job_id)
    assert {k: v for k, v in counts.items() if v} == wanted
    assert "wrong_type" in counts and "unreadable" in counts  # every kind is registered, 0 or not


def _assert_dlq(
    kafka: KafkaSettings,
    job: str,
    topic: Topic,
    cases: list[Poison],
    positions: list[tuple[int, int]],
    key: str,
) -> None:
    """One DLQ record per poison record from `job`, saying why and where, with the original bytes."""
    mine = [r for r in read_all(kafka, Topic.DLQ) if r["source"] == dlq_source(job)]
    assert len(mine) == len(cases), [r["reason"] for r in mine]
    validate = validator_for(Topic.DLQ)
    by_offset = {(r["partition"], r["offset"]): r for r in mine}
    for case, (partition, offset) in zip(cases, positions, strict=True):
        rec = by_offset[(partition, offset)]
        assert rec.pop("_key") == key
        validate(rec)
        assert rec["reason"].startswith(f"{case.kind}: "), (case.name, rec["reason"])
        assert original_bytes(rec) == case.payload, case.name
        assert rec["topic"] == topic_name(kafka, topic)
        assert rec["origin"] == f"{rec['topic']}[{partition}]@{offset}"
        assert rec["key"] == key
        assert abs(rec["error_time_ms"] - time.time() * 1000) < 600_000


def test_metrics_job_sends_each_poison_record_to_the_dlq_and_carries_on(
    kafka_settings, flink_settings, monkeypatch
) -> None:
    monkeypatch.setenv(CONTRACT_MAX_AGE_ENV, "0")  # as deployed: the topic's retention
    kafka = isolated_kafka(kafka_settings, (Topic.RAW, Topic.PROCESSED, Topic.DLQ))
    books = conforming(Topic.RAW, retimed(random_walk_books(300, seed=7)))
    assert len(books) > 200
    before, after = books[:150], books[150:]
    live = next(r for r in reversed(before) if r["symbol"] == "ETHUSDT")
    key = record_key(live["exchange"], live["symbol"])
    cases = poison_cases(Topic.RAW, live)
    assert any(r["symbol"] == "ETHUSDT" for r in after)
    positions = _produce(
        kafka, Topic.RAW, _keyed(before) + [(key, c.payload) for c in cases] + _keyed(after)
    )[len(before) : len(before) + len(cases)]

    job_id = submit_job("metrics", flink=flink_settings, kafka=kafka)
    try:
        wanted = {r["sequence_id"] for r in books}
        out = consume_until(kafka, Topic.PROCESSED, lambda got: wanted <= {r["sequence_id"] for r in got})
        consume_until(kafka, Topic.DLQ, lambda got: len(got) >= len(cases))
        _assert_healthy(flink_settings, job_id, cases)
    finally:
        cancel_job(flink_settings, job_id)

    _assert_dlq(kafka, "metrics", Topic.RAW, cases, positions, key)
    assert sorted(r["sequence_id"] for r in out) == sorted(wanted), "a record came out twice, or a poison one"
    expected = reference_metrics(books, MetricsJobSettings())
    problems = []
    for rec in out:
        rec.pop("_key")
        problems += [
            f"seq {rec['sequence_id']} {p}"
            for p in mismatches(rec, expected[(rec["exchange"], rec["symbol"], rec["sequence_id"])])
        ]
    assert not problems, "\n".join(problems[:30])


def _processed_input(now_ms: int) -> tuple[list[dict], list[dict], int]:
    """(before, after, flush time): two symbols at 10 updates/s; after the poison, XXXUSDT holds
    an extreme imbalance for 1.2 s (an alert), and a last update 15 s later for each symbol
    moves the watermark past every window and pattern before it. Dated within the last minute."""
    shift = now_ms - 60_000 - T0

    def at(symbol: str, t: int, seq: int, imbalance: float) -> dict:
        mid = 100.0 + t / 1e5
        rec = processed(
            symbol, t, seq, imbalance_5=imbalance, mid=mid, spread_bps=1.0, ofi_1=0.25, microprice=mid + 0.001
        )
        return rec | {
            "event_time": rec["event_time"] + shift,
            "receive_time_ns": (rec["event_time"] + shift) * 10**6,
        }

    before = [at(s, t, t // 100, 0.1) for t in range(0, 3000, 100) for s in ("XXXUSDT", "YYYUSDT")]
    after = [
        at(s, t, t // 100, 0.55 if s == "XXXUSDT" and 3100 <= t <= 4300 else 0.1)
        for t in range(3000, 6000, 100)
        for s in ("XXXUSDT", "YYYUSDT")
    ]
    flush = [at(s, 21_000, 210, 0.1) for s in ("XXXUSDT", "YYYUSDT")]
    return before, after + flush, 21_000 + shift + T0


def test_bars_and_alerts_jobs_send_each_poison_record_to_the_dlq_and_carry_on(
    kafka_settings, flink_settings, monkeypatch
) -> None:
    monkeypatch.setenv(CONTRACT_MAX_AGE_ENV, "0")
    kafka = isolated_kafka(kafka_settings, (Topic.PROCESSED, Topic.BARS, Topic.ALERTS, Topic.DLQ))
    now = int(time.time() * 1000)
    before, after, flush_time = _processed_input(now)
    live = before[-2]
    key = record_key(live["exchange"], live["symbol"])
    assert live["symbol"] == "XXXUSDT"
    cases = poison_cases(Topic.PROCESSED, live, now)
    positions = _produce(
        kafka, Topic.PROCESSED, _keyed(before) + [(key, c.payload) for c in cases] + _keyed(after)
    )[len(before) : len(before) + len(cases)]
    good = before + after
    lateness_ms = flink_settings.watermark_out_of_orderness_ms
    bars_expected = {
        k: v
        for k, v in reference_bars(good).items()
        if k[2] == "1s" and k[3] + 1000 <= flush_time - lateness_ms
    }
    seed = AlertSettings(profile="seed")  # the rules of reference_alerts
    alerts_expected = reference_alerts(good, seed)
    assert any(a[3] == "XXXUSDT" and a[4] > live["event_time"] for a in alerts_expected)

    jobs = {
        job: submit_job(job, flink=flink_settings, kafka=kafka, alerts=seed) for job in ("bars", "alerts")
    }
    try:
        bars = consume_until(
            kafka,
            Topic.BARS,
            lambda got: (
                set(bars_expected)
                <= {(b["exchange"], b["symbol"], b["interval"], b["window_start"]) for b in got}
            ),
        )
        alerts = consume_until(kafka, Topic.ALERTS, lambda got: len(got) >= len(alerts_expected))
        consume_until(kafka, Topic.DLQ, lambda got: len(got) >= 2 * len(cases))
        for job_id in jobs.values():
            _assert_healthy(flink_settings, job_id, cases)
        sources = [v["name"] for v in _rest(flink_settings, f"/jobs/{jobs['alerts']}")["vertices"]]
        assert sum(name.startswith("Source: source") for name in sources) == 1, sources
    finally:
        for job_id in jobs.values():
            cancel_job(flink_settings, job_id)

    for job in jobs:
        _assert_dlq(kafka, job, Topic.PROCESSED, cases, positions, key)
    # the windows after the poison closed: its day-ahead event time did not move the watermark
    assert all(b["window_start"] < now + 300_000 for b in bars)
    problems = []
    for bar in bars:
        k = (bar["exchange"], bar["symbol"], bar["interval"], bar["window_start"])
        if k in bars_expected:
            bar.pop("_key")
            problems += [f"{k} {p}" for p in mismatches(bar, bars_expected[k])]
    assert not problems, "\n".join(problems[:30])
    fields = (
        "alert_type",
        "severity",
        "exchange",
        "symbol",
        "window_start",
        "window_end",
        "metric_value",
        "threshold",
    )
    assert sorted(tuple(a[f] for f in fields) for a in alerts) == alerts_expected
