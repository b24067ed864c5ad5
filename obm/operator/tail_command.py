"""`obm tail TOPIC`: print a topic's records decoded and checked against the topic's schema."""

from __future__ import annotations

import sys
from contextlib import closing
from itertools import islice

import click
import orjson
from confluent_kafka import KafkaException

from obm.operator.positions import POSITION, Position
from obm.operator.record_view import decode_record, format_line, key_matches
from obm.operator.settings_lookup import kafka_settings_from
from obm.operator.topic_policy import contract_topic_of, full_topic_name
from obm.operator.topic_reader import TopicNotFound, plan_slice, read_slice, slice_consumer
from schemas import Topic


@click.command("tail")
@click.argument("topic")
@click.option(
    "--from",
    "start",
    type=POSITION,
    default="latest",
    show_default=True,
    help="earliest | latest | OFFSET (or -N from the end) | ISO time | duration ago (15m, 2h).",
)
@click.option(
    "--key", "key", default=None, help="Only records with this key (a bare symbol matches any exchange)."
)
@click.option(
    "-n", "--max-records", "limit", type=click.IntRange(min=1), default=None, help="Stop after N records."
)
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Keep waiting for new records, or stop at the end the topic had when the command started.",
)
@click.option(
    "--partition", "partitions", type=int, multiple=True, help="Only these partitions (repeatable)."
)
@click.option(
    "--schema",
    "schema",
    type=click.Choice([t.value for t in Topic]),
    default=None,
    help="Validate against this topic's schema (default: inferred from the topic name).",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def tail(
    ctx: click.Context,
    topic: str,
    start: Position,
    key: str | None,
    limit: int | None,
    follow: bool,
    partitions: tuple[int, ...],
    schema: str | None,
    output: str,
) -> None:
    """Print records of TOPIC, decoded as JSON and validated against the topic's schema.

    Records that fail the schema are printed too, marked INVALID with the reason. Contract names
    (orderbook.raw, ...) get the configured OBM_KAFKA_TOPIC_PREFIX.
    """
    settings = kafka_settings_from(ctx)
    name = full_topic_name(topic, settings)
    contract = Topic(schema) if schema else contract_topic_of(name, settings)
    consumer = slice_consumer(settings)
    color = output == "text" and sys.stdout.isatty()
    shown = 0
    try:
        piece = plan_slice(consumer, name, start, None if follow else Position("latest"), list(partitions))
        # closing(): the reader unassigns its partitions when -n stops early, before the close below.
        with closing(read_slice(consumer, piece)) as messages:
            records = (decode_record(m, contract) for m in messages)
            if key is not None:
                records = (r for r in records if key_matches(r.key, key))
            for rec in islice(records, limit):
                line = orjson.dumps(rec.as_json()).decode() if output == "json" else format_line(rec, color)
                click.echo(line)
                shown += 1
    except TopicNotFound as exc:
        raise click.ClickException(str(exc)) from None
    except KafkaException as exc:
        raise click.ClickException(f"kafka: {exc}") from None
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    if output == "text" and not follow:
        click.echo(f"-- {shown} record(s) from {name}", err=True)
