"""`obm replay`: copy a slice of a topic to another topic, put rejected records back from the DLQ,
or rewind a sink's consumer group.

Copying (`obm replay orderbook.raw debug.orderbook.raw --from 2026-11-21T10:00Z --until 10m`)
reproduces an incident on a side topic without touching the live one: keys, values and headers are
kept, original timestamps too (so event-time jobs see the same windows), and each copy carries an
`obm-replay-origin` header naming topic/partition@offset of its source. Rewinding
(`obm replay --rewind-group obm-sink-postgres --to 1h`) makes a stopped sink reprocess from a time.
From the DLQ (`obm replay --from-dlq orderbook.raw --source flink-metrics --from 2h`): records that
were rejected while a producer or a consumer was wrong go back, once fixed, to the topic, partition
and key they came from, byte for byte.
"""

from __future__ import annotations

import sys
from contextlib import closing, nullcontext
from dataclasses import dataclass

import click
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, KafkaException, Message, Producer

from config import KafkaSettings
from obm.operator.dlq_records import DlqFilter, plan_dlq_slice, read_dlq
from obm.operator.group_rewind import GroupBusy, apply_rewind, plan_rewind
from obm.operator.positions import POSITION, Position
from obm.operator.record_view import key_matches
from obm.operator.settings_lookup import kafka_settings_from
from obm.operator.topic_policy import full_topic_name
from obm.operator.topic_reader import (
    TopicNotFound,
    TopicSlice,
    client_config,
    message_position,
    partitions_of,
    plan_slice,
    read_slice,
    slice_consumer,
)
from obm.operator.topics_command import create_topics
from schemas import original_bytes

ORIGIN_HEADER = "obm-replay-origin"


@dataclass
class ReplayResult:
    scanned: int = 0
    copied: int = 0


class DeliveryFailed(RuntimeError):
    pass


def _copy_record(
    producer: Producer, dest: str, msg: Message, keep_timestamps: bool, errors: list[str]
) -> None:
    part, off = message_position(msg)
    original = msg.headers() or []
    headers = list(original.items()) if isinstance(original, dict) else list(original)
    headers.append((ORIGIN_HEADER, f"{msg.topic()}/{part}@{off}".encode()))
    ts_type, ts = msg.timestamp()
    # 0 lets the producer stamp the current time
    timestamp = ts if keep_timestamps and ts_type != TIMESTAMP_NOT_AVAILABLE and ts >= 0 else 0

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(str(err))

    while True:
        try:
            producer.produce(
                dest,
                value=msg.value(),
                key=msg.key(),
                headers=headers,
                timestamp=timestamp,
                on_delivery=delivered,
            )
            return
        except BufferError:
            producer.poll(0.1)  # the local queue is full: let deliveries drain


def _producer(settings: KafkaSettings) -> Producer:
    return Producer(
        {
            **client_config(settings),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "compression.type": "lz4",
        }
    )


def copy_slice(
    settings: KafkaSettings,
    piece: TopicSlice,
    dest: str,
    key: str | None,
    keep_timestamps: bool,
    progress: bool,
) -> ReplayResult:
    """Copy the slice to `dest`; every record is acknowledged (acks=all) before this returns."""
    producer = _producer(settings)
    consumer = slice_consumer(settings)
    result, errors = ReplayResult(), list[str]()
    label = f"replay {piece.topic} -> {dest}"
    bar = (
        click.progressbar(length=piece.size() or 0, label=label, file=sys.stderr, show_pos=True)
        if progress
        else nullcontext()
    )
    try:
        with bar as ticks, closing(read_slice(consumer, piece)) as messages:
            for msg in messages:
                result.scanned += 1
                msg_key = msg.key()
                if key is None or key_matches(msg_key.decode("utf-8", "replace") if msg_key else None, key):
                    _copy_record(producer, dest, msg, keep_timestamps, errors)
                    result.copied += 1
                    producer.poll(0)
                if ticks is not None:
                    ticks.update(1)
        remaining = producer.flush(60)
    finally:
        consumer.close()
    if errors or remaining:
        raise DeliveryFailed(f"{len(errors)} record(s) failed, {remaining} undelivered: {errors[:3]}")
    return result


def _replay_copy(
    settings: KafkaSettings,
    source: str,
    dest: str,
    start: Position,
    until: Position,
    key: str | None,
    partitions: tuple[int, ...],
    keep_timestamps: bool,
    allow_same: bool,
    dry_run: bool,
) -> None:
    src, dst = full_topic_name(source, settings), full_topic_name(dest, settings)
    if src == dst and not allow_same:
        raise click.UsageError(
            f"source and destination are both {src}: pass --allow-same-topic to append to it"
        )
    consumer = slice_consumer(settings)
    try:
        piece = plan_slice(consumer, src, start, until, list(partitions))
        src_partitions = len(partitions_of(consumer, src))
    finally:
        consumer.close()
    size = piece.size() or 0
    spans = ", ".join(f"p{p}:[{piece.start[p]},{piece.end[p]})" for p in sorted(piece.start) if piece.end)
    click.echo(f"slice of {src}: {size} record(s) {spans}", err=True)
    if dry_run:
        return
    if create_topics(settings, [dst], src_partitions, {}).get(dst) == "created":
        click.echo(f"created {dst} with {src_partitions} partition(s)", err=True)
    result = copy_slice(settings, piece, dst, key, keep_timestamps, progress=size > 0)
    click.echo(f"copied {result.copied} of {result.scanned} record(s) from {src} to {dst}")


@dataclass
class DlqReplayResult:
    replayed: int = 0
    other_topic: int = 0  # rejected records of another topic (not asked for)
    not_replayable: int = 0  # input that never was a Kafka record, or whose bytes were cut


def replay_from_dlq(
    settings: KafkaSettings, topic: str, piece: TopicSlice, wanted: DlqFilter, dry_run: bool
) -> DlqReplayResult:
    """Put the DLQ records of `topic` that match back on it: the original bytes (schemas.dlq.
    original_bytes), key and partition (so a key's records stay in order), a new timestamp, and
    an `obm-replay-origin` header naming the DLQ record. Every write is acknowledged first."""
    producer = _producer(settings)
    result, errors = DlqReplayResult(), list[str]()

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(str(err))

    for entry in read_dlq(settings, piece, wanted):
        rec = entry.record
        if rec.get("topic") != topic:
            result.other_topic += rec.get("topic") is not None
            result.not_replayable += rec.get("topic") is None
            continue
        if "payload truncated" in entry.reason:
            result.not_replayable += 1
            continue
        result.replayed += 1
        if dry_run:
            continue
        key = rec.get("key")
        extra = {"partition": rec["partition"]} if isinstance(rec.get("partition"), int) else {}
        origin = f"{piece.topic}/{entry.dlq_partition}@{entry.dlq_offset}".encode()
        headers: list[tuple[str, str | bytes | None]] = [(ORIGIN_HEADER, origin)]
        while True:
            try:
                producer.produce(
                    topic, value=original_bytes(rec), key=None if key is None else str(key).encode(),
                    headers=headers, on_delivery=delivered, **extra,
                )  # fmt: skip
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(60)
    if errors or remaining:
        raise DeliveryFailed(f"{len(errors)} record(s) failed, {remaining} undelivered: {errors[:3]}")
    return result


def _replay_dlq(
    settings: KafkaSettings, topic: str, start: Position, until: Position, wanted: DlqFilter, dry_run: bool
) -> None:
    dest = full_topic_name(topic, settings)
    piece = plan_dlq_slice(settings, start, until)
    result = replay_from_dlq(settings, dest, piece, wanted, dry_run)
    verb = "would put back" if dry_run else "put back"
    click.echo(
        f"{verb} {result.replayed} record(s) from {piece.topic} on {dest}; skipped {result.other_topic} "
        f"of other topics, {result.not_replayable} not replayable (never a Kafka record, or cut)"
    )


def _replay_rewind(
    settings: KafkaSettings, group: str, target: Position, topics: tuple[str, ...], dry_run: bool
) -> None:
    names = [full_topic_name(t, settings) for t in topics]
    moves = plan_rewind(settings, group, target, names)
    for m in moves:
        before = "-" if m.before is None else str(m.before)
        click.echo(f"{m.topic} p{m.partition}: {before} -> {m.after}")
    if dry_run:
        click.echo(f"dry run: group {group} unchanged (target {target.describe()})", err=True)
        return
    apply_rewind(settings, group, moves)
    click.echo(f"group {group} rewound to {target.describe()} on {len(moves)} partition(s)")


@click.command("replay")
@click.argument("source", required=False)
@click.argument("dest", required=False)
@click.option(
    "--from", "start", type=POSITION, default="earliest", show_default=True, help="Start of the slice."
)
@click.option(
    "--until",
    type=POSITION,
    default="latest",
    show_default=True,
    help="End of the slice, exclusive (latest = the end when the command starts).",
)
@click.option(
    "--key", default=None, help="Copy only records with this key (a bare symbol matches any exchange)."
)
@click.option("--partition", "partitions", type=int, multiple=True, help="Only these source partitions.")
@click.option("--keep-timestamps/--new-timestamps", default=True, show_default=True)
@click.option(
    "--allow-same-topic", is_flag=True, help="Allow appending the slice to the topic it comes from."
)
@click.option("--rewind-group", "group", default=None, help="Instead of copying: rewind this consumer group.")
@click.option(
    "--to", "target", type=POSITION, default=None, help="With --rewind-group: the position to rewind to."
)
@click.option(
    "--topic", "topics", multiple=True, help="With --rewind-group: only these topics (default: all its)."
)
@click.option(
    "--from-dlq",
    is_flag=True,
    help="Put rejected records of SOURCE back on it from orderbook.dlq (--from/--until select the DLQ range).",
)
@click.option(
    "--source", "rejected_by", default=None, help="With --from-dlq: only those this consumer rejected."
)
@click.option(
    "--reason-contains", default=None, help="With --from-dlq: only those whose reason contains this."
)
@click.option("--dry-run", is_flag=True, help="Show what would be copied or moved, change nothing.")
@click.pass_context
def replay(
    ctx: click.Context,
    source: str | None,
    dest: str | None,
    start: Position,
    until: Position,
    key: str | None,
    partitions: tuple[int, ...],
    keep_timestamps: bool,
    allow_same_topic: bool,
    group: str | None,
    target: Position | None,
    topics: tuple[str, ...],
    from_dlq: bool,
    rejected_by: str | None,
    reason_contains: str | None,
    dry_run: bool,
) -> None:
    """Copy a slice of SOURCE to DEST, put SOURCE's rejected records back from the DLQ
    (--from-dlq SOURCE), or rewind a consumer group (--rewind-group G --to TIME).

    Positions (--from, --until, --to): earliest | latest | OFFSET (or -N from the end) | ISO time |
    duration ago (15m, 2h). A key filter keeps one symbol's records.
    """
    settings = kafka_settings_from(ctx)
    try:
        if group is not None:
            if source or dest:
                raise click.UsageError("--rewind-group takes no SOURCE/DEST (use --topic to narrow it)")
            if target is None:
                raise click.UsageError("--rewind-group needs --to (a time, earliest, latest or an offset)")
            _replay_rewind(settings, group, target, topics, dry_run)
            return
        if from_dlq:
            if not source or dest:
                raise click.UsageError("--from-dlq takes one topic: the one its records go back to")
            _replay_dlq(settings, source, start, until, DlqFilter(rejected_by, reason_contains), dry_run)
            return
        if rejected_by or reason_contains:
            raise click.UsageError("--source and --reason-contains only go with --from-dlq")
        if not source or not dest:
            raise click.UsageError("give SOURCE and DEST topics, or --rewind-group GROUP --to TIME")
        if target is not None or topics:
            raise click.UsageError("--to and --topic only go with --rewind-group")
        _replay_copy(
            settings, source, dest, start, until, key, partitions, keep_timestamps, allow_same_topic, dry_run
        )
    except (TopicNotFound, LookupError, GroupBusy, DeliveryFailed) as exc:
        raise click.ClickException(str(exc)) from None
    except KafkaException as exc:
        raise click.ClickException(f"kafka at {settings.bootstrap_servers}: {exc}") from None
