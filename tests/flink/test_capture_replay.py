"""The real Binance capture (../shared/data) replayed by the simulator over a WebSocket into the
producer and a real broker, then the metrics job from Kafka to Kafka on the session cluster: every
processed record must equal the numpy reference computed from the raw records the producer
published (real books: 20 levels, real tick sizes and event-time spacing)."""

from __future__ import annotations

import asyncio

import pytest

from config import MetricsJobSettings
from flink_jobs.connectors import topic_name
from flink_jobs.lifecycle import stop_job, submit_job
from producer.capture import iter_lines
from producer.simulator import ReplayOptions
from schemas import Topic, validator_for
from tests.flink.comparing import mismatches
from tests.flink.kafka_io import consume_until, isolated_kafka, produce, read_all
from tests.flink.reference_metrics import reference_metrics
from tests.producer.producer_harness import running, wait_until


def _replay_into_raw(kafka, capture_path) -> list[dict]:
    """Run the capture through simulator and producer; returns what landed on orderbook.raw."""
    depth_frames = sum(1 for _, raw in iter_lines(capture_path) if b"@depth@100ms" in raw)

    async def scenario() -> None:
        # Books only: with the trade stream, frames_in and delivered would count the trades too.
        replay = ReplayOptions(str(capture_path), speed=0)
        async with running(kafka, ["ETHUSDT"], replay=replay, trades=False) as (_, svc):
            await wait_until(lambda: svc.feed.frames_in >= depth_frames, 120, "all depth frames")
            await wait_until(lambda: svc.feed.symbols["ETHUSDT"].sync.live, 10, "book live")
            await wait_until(lambda: svc.publisher.delivered >= depth_frames - 2, 60, "all records delivered")

    asyncio.run(scenario())
    records = read_all(kafka, Topic.RAW)
    for rec in records:
        rec.pop("_key")
    return records


@pytest.mark.integration
def test_capture_through_producer_and_metrics_job_matches_reference(
    kafka_settings, flink_settings, capture_path, tmp_path
):
    kafka = isolated_kafka(kafka_settings, (Topic.RAW, Topic.PROCESSED, Topic.DLQ))
    raw = _replay_into_raw(kafka, capture_path)
    assert len(raw) > 3000 and {r["symbol"] for r in raw} == {"ETHUSDT"}
    assert all(len(r["bid_prices"]) == 20 for r in raw)
    # one more update 10 s later moves the watermark past every real one
    last = raw[-1]
    produce(
        kafka,
        Topic.RAW,
        [last | {"event_time": last["event_time"] + 10_000, "sequence_id": last["sequence_id"] + 1}],
    )

    settings = MetricsJobSettings()
    job_id = submit_job("metrics", flink=flink_settings, kafka=kafka, metrics=settings)
    wanted = {r["sequence_id"] for r in raw}
    try:
        out = consume_until(
            kafka, Topic.PROCESSED, lambda got: wanted <= {r["sequence_id"] for r in got}, 300
        )
    finally:
        stop_job(flink_settings, job_id, str(tmp_path / "savepoints"))

    out = [r for r in out if r["sequence_id"] in wanted]
    assert len(out) == len(raw), f"{topic_name(kafka, Topic.PROCESSED)}: duplicates"
    expected = reference_metrics(raw, settings)
    validate = validator_for(Topic.PROCESSED)
    problems = []
    for rec in out:
        assert rec.pop("_key") == "binance:ETHUSDT"
        validate(rec)
        problems += [
            f"seq {rec['sequence_id']} {p}"
            for p in mismatches(rec, expected[("binance", "ETHUSDT", rec["sequence_id"])])
        ]
    assert not problems, "\n".join(problems[:30])
    # real data exercises the metrics: velocity and z-scores are defined, OFI moves both ways
    assert sum(r["imbalance_velocity"] is not None for r in out) > len(out) // 2
    assert sum(r["spread_bps_z"] is not None for r in out) > len(out) // 2
    assert min(r["ofi_1"] or 0 for r in out) < 0 < max(r["ofi_1"] or 0 for r in out)
