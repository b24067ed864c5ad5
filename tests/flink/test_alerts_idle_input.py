"""The alerts job when its input stops: every alert that the last watermark decides must come out
although no record follows and every partition of the input turns idle.

The input is the crafted scenarios (every alert type, so every detection branch has candidates
when the watermark comes), written before the job starts like a backlog that ends, and shaped so
the source announces the final watermark and its idleness in one step: a partition whose only
record is older (a quiet symbol) holds the watermark back until it falls silent together with the
partition that has the scenarios. So the job's Python operators (the key_by and the cooldown) get
candidates, then the watermark, then idleness, back to back; on a loaded machine, where they start
seconds after the source, all of it waits in their input. That is the order in which the alerts
job emitted nothing for 180 s (issue 13): PyFlink held the watermark behind the open bundle of
candidates, passed the idleness on first, and Flink's outputs drop a watermark while idle, so the
cooldown's timers never fired."""

from __future__ import annotations

import pytest

from flink_jobs.lifecycle import cancel_job, submit_job
from schemas import Topic
from tests.flink.alert_sequences import CRAFTED_SETTINGS, T0, crafted, processed
from tests.flink.kafka_io import consume_until, isolated_kafka, produce, read_all
from tests.flink.reference_alerts import as_tuple


@pytest.mark.integration
def test_alerts_come_out_when_the_input_stops(kafka_settings, flink_settings):
    kafka = isolated_kafka(kafka_settings, (Topic.PROCESSED, Topic.ALERTS))
    records, expected = crafted()
    # a record past the last scenario one by more than the watermark bound: the final watermark
    # decides every alert
    end = max(r["event_time"] for r in records) - T0 + 5_000
    scenarios = sorted(records, key=lambda r: r["event_time"]) + [
        processed("ENDUSDT", end, 0, imbalance_5=0.0)
    ]
    produce(kafka, Topic.PROCESSED, scenarios, partition=0)
    # written last, so its partition falls silent with the scenarios' one or after it, never before
    produce(kafka, Topic.PROCESSED, [processed("OLDUSDT", 0, 0, imbalance_5=0.0)], partition=1)
    job_id = submit_job("alerts", flink=flink_settings, kafka=kafka, alerts=CRAFTED_SETTINGS)
    try:
        consume_until(kafka, Topic.ALERTS, lambda got: len(got) >= len(expected))
        alerts = read_all(kafka, Topic.ALERTS)
    finally:
        cancel_job(flink_settings, job_id)
    assert sorted(as_tuple(a) for a in alerts) == expected
