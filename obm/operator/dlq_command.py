"""`obm dlq`: what was rejected, by whom and why: orderbook.dlq grouped by consumer and reason kind."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice

import click
import orjson
from confluent_kafka import KafkaException

from obm.operator.dlq_records import DlqFilter, plan_dlq_slice, read_dlq, summarize
from obm.operator.positions import POSITION, Position
from obm.operator.settings_lookup import kafka_settings_from
from obm.operator.topic_reader import TopicNotFound


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@click.command("dlq")
@click.option(
    "--from", "start", type=POSITION, default="24h", show_default=True, help="Start of the range read."
)
@click.option("--until", type=POSITION, default="latest", show_default=True, help="End of the range.")
@click.option("--source", default=None, help="Only records rejected by this consumer (e.g. flink-metrics).")
@click.option("--reason-contains", default=None, help="Only records whose reason contains this text.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Read at most N DLQ records.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def dlq(
    ctx: click.Context,
    start: Position,
    until: Position,
    source: str | None,
    reason_contains: str | None,
    limit: int | None,
    output: str,
) -> None:
    """Summarize orderbook.dlq: records per consumer (`source`) and reason kind, with the first and
    last time, the topics they came from and one example (origin topic[partition]@offset, reason).

    Read the records themselves with `obm tail orderbook.dlq`; put them back on their topic once
    the cause is fixed with `obm replay --from-dlq TOPIC`."""
    settings = kafka_settings_from(ctx)
    try:
        piece = plan_dlq_slice(settings, start, until)
        entries = read_dlq(settings, piece, DlqFilter(source, reason_contains))
        groups = summarize(islice(entries, limit))
    except TopicNotFound as exc:
        raise click.ClickException(str(exc)) from None
    except KafkaException as exc:
        raise click.ClickException(f"kafka at {settings.bootstrap_servers}: {exc}") from None
    total = sum(g.count for g in groups)
    if output == "json":
        click.echo(orjson.dumps({"records": total, "groups": [g.as_json() for g in groups]}).decode())
        return
    for g in groups:
        click.echo(
            f"{g.count:>7}  {g.source:<15} {g.kind:<20} {_when(g.first_ms)} .. {_when(g.last_ms)}  "
            f"{', '.join(sorted(g.topics)) or '-'}"
        )
        click.echo(f"{'':>9}e.g. {g.example_origin}: {g.example_reason}")
    click.echo(
        f"-- {total} DLQ record(s) in {len(groups)} group(s), {start.describe()} .. {until.describe()}",
        err=True,
    )
