"""The database sink's write paths against a real PostgreSQL, without Kafka: rows stored from the
column-built COPY rows equal what the row converters make, a replayed or overlapping batch
(unique keys hit: the staging + ON CONFLICT path) stores each row once, and a value PostgreSQL
refuses inside the direct COPY still isolates just that record."""

from __future__ import annotations

import time
import uuid

import orjson
import psycopg
import pytest
from sink_test_support import ALERT_CONTEXT

from schemas.dlq import original_bytes
from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.batching import SinkBatch, SinkRecord
from sinks.decoding.contract import RejectKind
from sinks.postgres_rows import ALERTS, BARS, METRICS, alerts_row, bars_row, metrics_row
from sinks.postgres_sink import PostgresSink

pytestmark = pytest.mark.integration


@pytest.fixture
def exchange() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


@pytest.fixture
def sink(pg_settings):
    s = PostgresSink(pg_settings)
    s.setup()
    yield s
    s.close()


def _records(topic: Topic, dicts: list[dict], start: int = 0) -> list[SinkRecord]:
    return [
        SinkRecord(topic, topic.value, 0, start + i, b"k", orjson.dumps(d), 1) for i, d in enumerate(dicts)
    ]


# Records dated a minute before the test runs: within the contract's event-time bounds.
_BASE_MS = int(time.time() * 1000) - 60_000


def _metric(exchange: str, seq: int, full: bool = True) -> dict:
    rec = dict(load_schema(Topic.PROCESSED)["examples"][0], exchange=exchange, sequence_id=seq,
               event_time=_BASE_MS + seq, symbol=("BTCUSDT", "ETHUSDT")[seq % 2])  # fmt: skip
    if full:
        for name, spec in load_schema(Topic.PROCESSED)["properties"].items():
            if name not in rec:
                nullable_bool = "boolean" in spec.get("type", [])
                rec[name] = (
                    [None, seq % 3 == 0][seq % 2] if nullable_bool else [None, seq * 0.25, seq][seq % 3]
                )
    return rec


def _select(pg_settings, table: str, columns: tuple[str, ...], exchange: str) -> list[tuple]:
    cols = ", ".join(f'"{c}"' for c in columns)
    with psycopg.connect(pg_settings.conninfo()) as conn:
        return sorted(
            conn.execute(f"select {cols} from {table} where exchange = %s", (exchange,)).fetchall(), key=repr
        )


def test_rows_from_columns_equal_the_row_converters(sink, pg_settings, exchange):
    metrics = [_metric(exchange, i) for i in range(300)] + [
        _metric(exchange, 300 + i, full=False) for i in range(5)
    ]
    bar = dict(load_schema(Topic.BARS)["examples"][0], exchange=exchange)
    bars = [{**bar, "window_start": _BASE_MS + i * 1000, "window_end": _BASE_MS + (i + 1) * 1000,
             "ofi_sum": None if i % 2 else 1.25} for i in range(50)]  # fmt: skip
    alert = dict(load_schema(Topic.ALERTS)["examples"][0], exchange=exchange, window_start=_BASE_MS - 1100,
                 window_end=_BASE_MS, event_time=_BASE_MS)  # fmt: skip
    # with a context, with a null one, and without (alerts written before the field existed)
    contexts = ({"context": ALERT_CONTEXT}, {"context": None}, {})
    alerts = [{**alert, "alert_id": f"{alert['alert_id']}-{i}", "message": f"é {i}", **contexts[i % 3]}
              for i in range(20)]  # fmt: skip
    full_batch = (
        _records(Topic.PROCESSED, metrics[:300]) + _records(Topic.BARS, bars) + _records(Topic.ALERTS, alerts)
    )
    prepared = sink.prepare(SinkBatch(full_batch))
    assert all(load.fast is not None for load in prepared.loads), "the column path must build the rows"
    result = sink.write_prepared(prepared)
    assert result.stored == {Topic.PROCESSED: 300, Topic.BARS: 50, Topic.ALERTS: 20} and not result.dlq
    # records without their optional fields: validated one by one, still one payload
    assert sink.write(SinkBatch(_records(Topic.PROCESSED, metrics[300:], start=300))).stored == {
        Topic.PROCESSED: 5
    }

    assert _select(pg_settings, "orderbook_metrics", METRICS.columns, exchange) == sorted(
        map(metrics_row, metrics), key=repr
    )
    assert _select(pg_settings, "orderbook_bars", BARS.columns, exchange) == sorted(
        map(bars_row, bars), key=repr
    )
    # a replayed batch of alerts takes the staging path (unique key hit): the contexts as well
    assert sink.write(SinkBatch(_records(Topic.ALERTS, alerts))).stored == {Topic.ALERTS: 20}
    assert _select(pg_settings, "orderbook_alerts", ALERTS.columns, exchange) == sorted(
        map(alerts_row, alerts), key=repr
    )
    stored = dict(_select(pg_settings, "orderbook_alerts", ("alert_id", "context"), exchange))
    assert [stored[a["alert_id"]] for a in alerts[:3]] == [ALERT_CONTEXT, None, None]


def test_replayed_and_overlapping_batches_store_each_row_once(sink, pg_settings, exchange):
    first = _records(Topic.PROCESSED, [_metric(exchange, i) for i in range(400)])
    assert sink.write(SinkBatch(first)).stored == {Topic.PROCESSED: 400}
    assert sink.write(SinkBatch(first)).stored == {Topic.PROCESSED: 400}  # a replay: nothing changes
    overlapping = _records(Topic.PROCESSED, [_metric(exchange, i) for i in range(200, 700)], start=200)
    assert sink.write(SinkBatch(overlapping)).stored == {Topic.PROCESSED: 500}
    seqs = [r[0] for r in _select(pg_settings, "orderbook_metrics", ("sequence_id",), exchange)]
    assert sorted(seqs) == list(range(700))


def test_a_value_refused_inside_the_direct_copy_rejects_only_its_record(sink, pg_settings, exchange):
    metrics = [_metric(exchange, i) for i in range(100)]
    metrics[37] = {
        **metrics[37],
        "exchange": f"{exchange}\x00nul",
    }  # valid JSON Schema; PostgreSQL text refuses NUL
    batch = SinkBatch(_records(Topic.PROCESSED, metrics))
    assert sink.prepare(batch).loads[0].fast is not None  # the refusal comes from the server
    result = sink.write(batch)
    assert result.stored == {Topic.PROCESSED: 99}
    assert result.rejected == {(Topic.PROCESSED, RejectKind.DATABASE_REFUSED): 1}
    assert len(result.dlq) == 1 and result.dlq[0]["reason"].startswith(
        "database_refused: rejected by PostgreSQL"
    )
    dlq = result.dlq[0]
    assert dlq["origin"] == "orderbook.processed[0]@37" and dlq["source"] == "sink-postgres"
    assert (dlq["topic"], dlq["partition"], dlq["offset"], dlq["key"]) == ("orderbook.processed", 0, 37, "k")
    assert original_bytes(dlq) == orjson.dumps(metrics[37])
    seqs = [r[0] for r in _select(pg_settings, "orderbook_metrics", ("sequence_id",), exchange)]
    assert sorted(seqs) == [i for i in range(100) if i != 37]
