"""A TaskManager killed under load leaves no duplicate on the jobs' output (issue 13).

The metrics job runs on a Flink cluster of this test's own with its default exactly-once sinks
(in a fresh-clone run, after this test had killed the session cluster's TaskManager, the later
tests that read job and operator metrics through the REST API, test_jobs_poison's numRestarts and
test_job_lifecycle's stalled report, got none for minutes), fed at a steady
rate. Once some of its output is committed and more is written in the open transaction, the
TaskManager is killed (SIGKILL, the whole process group) and a new one started; the job restores
from its last checkpoint and processes the records since then again. Read as every consumer of the
project reads (read_committed), each input record comes out exactly once; read_uncommitted, the same
topic holds the records of the aborted transaction as well: the duplicates an at-least-once sink
would have left for every consumer (the contrast, asserted so that a kill that missed the open
transaction fails instead of passing for nothing)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from config import FlinkSettings, KafkaSettings, StackSettings
from config.clients import ISOLATION_LEVEL, producer_config
from flink_jobs.connectors import topic_name
from flink_jobs.flink_rest import FlinkRest
from flink_jobs.lifecycle import cancel_job, submit_job
from obm.stack.flink_cluster import FlinkCluster
from obm.stack.health import free_port
from schemas import Topic, record_key
from tests.flink.book_sequences import random_walk_books
from tests.flink.kafka_io import consume_until, isolated_kafka, produce, read_messages
from tests.flink.poison_cases import conforming

RATE_PER_S = 50
# Enough for 4 min at RATE_PER_S; the feed stops once the job has restored (after 1-2 min here).
RECORDS = 12_000


def until(condition: Callable[[], Any], what: str, timeout_s: float = 180.0) -> Any:
    """The first truthy value of `condition`, polled; a timeout names what did not happen."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.25)
    return value


class PacedFeed(threading.Thread):
    """orderbook.raw records at a steady rate, in order, until stopped; `sent` is how many went."""

    def __init__(self, kafka: KafkaSettings, records: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.kafka, self.records = kafka, records
        self.stop_event = threading.Event()
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = Producer(producer_config(self.kafka, {"linger.ms": 5}))
            topic, start = topic_name(self.kafka, Topic.RAW), time.monotonic()
            while not self.stop_event.is_set() and self.sent < len(self.records):
                due = min(int((time.monotonic() - start) * RATE_PER_S) + 1, len(self.records))
                for rec in self.records[self.sent : due]:
                    producer.produce(topic, orjson.dumps(rec), key=record_key(rec["exchange"], rec["symbol"]))
                self.sent = due
                producer.poll(0)
                self.stop_event.wait(0.01)
            assert producer.flush(30) == 0
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def finish(self) -> int:
        self.stop_event.set()
        self.join(60)
        if self.error is not None:
            raise self.error
        return self.sent


def sequence_ids(kafka: KafkaSettings, isolation: str) -> list[int]:
    return [
        orjson.loads(m.value())["sequence_id"]
        for m in read_messages(kafka, Topic.PROCESSED, isolation=isolation)
    ]


def restored_checkpoint(rest: FlinkRest, job_id: str) -> int | None:
    """The id of the checkpoint the running job restored from, once it runs again after one."""
    if rest.get(f"/jobs/{job_id}")["state"] != "RUNNING":
        return None
    restored = rest.get(f"/jobs/{job_id}/checkpoints").get("latest", {}).get("restored")
    return restored["id"] if restored else None


@pytest.fixture
def own_flink_cluster(stack_settings: StackSettings, tmp_path: Path) -> Iterator[FlinkCluster]:
    """A cluster this test may break: its own state folder, ports and processes."""
    settings = FlinkSettings(
        jobmanager=f"127.0.0.1:{free_port()}", rpc_port=free_port(), checkpoint_interval_ms=2_000
    )
    tmp_path.chmod(0o755)
    cluster = FlinkCluster(settings, stack_settings.model_copy(update={"state_dir": tmp_path}))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.mark.integration
def test_a_killed_taskmanager_leaves_no_duplicate_on_the_output(
    kafka_settings: KafkaSettings, own_flink_cluster: FlinkCluster
) -> None:
    flink_cluster, flink_settings = own_flink_cluster, own_flink_cluster.settings
    assert flink_settings.delivery_guarantee == "exactly-once", "the default this test is about"
    kafka = isolated_kafka(kafka_settings, (Topic.RAW, Topic.PROCESSED, Topic.DLQ))
    records = conforming(Topic.RAW, random_walk_books(RECORDS, seed=13))
    rest = FlinkRest.of(flink_settings)
    job_id = submit_job("metrics", flink=flink_settings, kafka=kafka)
    feed = PacedFeed(kafka, records)
    feed.start()
    try:
        # committed output (a checkpoint completed), and output of the open transaction beyond it
        until(lambda: sequence_ids(kafka, ISOLATION_LEVEL), "committed output")
        until(
            lambda: set(sequence_ids(kafka, "read_uncommitted")) - set(sequence_ids(kafka, ISOLATION_LEVEL)),
            "output in an open transaction",
        )
        _, taskmanager = flink_cluster.processes()
        taskmanager.kill()
        taskmanager.start()
        restored = until(lambda: restored_checkpoint(rest, job_id), "the job restored from a checkpoint")
        sent = feed.finish()
        # one later update per symbol moves the watermark past every record sent
        last = max(r["event_time"] for r in records[:sent])
        flush = [
            rec | {"event_time": last + 10_000, "sequence_id": 10_000_000 + i}
            for i, rec in enumerate({r["symbol"]: r for r in records[:sent]}.values())
        ]
        produce(kafka, Topic.RAW, flush)
        wanted = {r["sequence_id"] for r in records[:sent]}
        consume_until(kafka, Topic.PROCESSED, lambda got: wanted <= {r["sequence_id"] for r in got})
    finally:
        feed.finish()
        cancel_job(flink_settings, job_id)

    committed = Counter(s for s in sequence_ids(kafka, ISOLATION_LEVEL) if s in wanted)
    twice = {s: n for s, n in committed.items() if n > 1}
    assert not twice, (
        f"{len(twice)} records more than once at {ISOLATION_LEVEL}, e.g. {list(twice.items())[:5]}"
    )
    assert set(committed) == wanted, f"{len(wanted - set(committed))} records missing"
    uncommitted = Counter(s for s in sequence_ids(kafka, "read_uncommitted") if s in wanted)
    repeated = sum(n - 1 for n in uncommitted.values())
    print(
        f"\n{sent} records in, restored from checkpoint {restored}; {ISOLATION_LEVEL}: "
        f"{sum(committed.values())} out, 0 twice; read_uncommitted: {sum(uncommitted.values())} out, "
        f"{repeated} repeats of {sum(1 for n in uncommitted.values() if n > 1)} records (aborted transaction)"
    )
    assert repeated > 0, "the kill caught no open transaction: nothing was replayed"
