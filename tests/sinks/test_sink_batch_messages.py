"""A batch built from Kafka messages (what the consume loop makes) must read exactly like the same
batch built from SinkRecords: the same records in the same order, the same topic parts, values and
counts, and the next offset per partition (the highest one, even when a rebalance made a partition
be read again from an earlier offset inside one batch)."""

from __future__ import annotations

import pytest
from confluent_kafka import Message

from schemas.topics import Topic
from sinks.batching import SinkBatch, SinkRecord, TopicNames

pytestmark = pytest.mark.unit

_NAMES = TopicNames("t.")


def _message(
    topic: Topic, partition: int, offset: int, value: bytes | None, ts: int = 1_700_000_000_000
) -> Message:
    return Message(topic=_NAMES.name(topic), partition=partition, offset=offset, key=b"k%d" % offset,
                   value=value, timestamp=(1, ts))  # fmt: skip


def _record(msg: Message) -> SinkRecord:
    """The record the consume loop made from a message before batches held messages."""
    ts = msg.timestamp()[1]
    return SinkRecord(_NAMES.kind(msg.topic()), msg.topic(), msg.partition(), msg.offset(), msg.key(),
                      msg.value(), ts if ts > 0 else 0)  # fmt: skip


def _mixed() -> list[Message]:
    return [
        _message(Topic.PROCESSED, 0, 10, b"p10"),
        _message(Topic.BARS, 1, 3, b"b3"),
        _message(Topic.PROCESSED, 1, 7, None),
        _message(Topic.PROCESSED, 0, 11, b"p11"),
        _message(Topic.ALERTS, 0, 0, b"a0", ts=-1),
        _message(Topic.BARS, 1, 4, b"b4"),
    ]


def test_a_batch_of_messages_reads_like_the_batch_of_their_records():
    msgs = _mixed()
    from_messages = SinkBatch(messages=msgs, kind=_NAMES.kind)
    from_records = SinkBatch([_record(m) for m in msgs])
    assert len(from_messages) == len(from_records) == 6
    assert from_messages.topic_counts() == from_records.topic_counts() == {
        Topic.PROCESSED: 3, Topic.BARS: 2, Topic.ALERTS: 1}  # fmt: skip
    for topic, part in from_messages.parts().items():
        assert part.values == from_records.parts()[topic].values
        assert part.records == from_records.parts()[topic].records
    assert from_messages.parts()[Topic.PROCESSED].values == [b"p10", None, b"p11"]
    assert from_messages.parts()[Topic.ALERTS].records[0].timestamp_ms == 0  # no timestamp reads as 0
    assert from_messages.records == from_records.records  # batch order across topics
    # the batch's records are the parts' record objects (rejects are matched by identity)
    part_ids = {id(r) for p in from_messages.parts().values() for r in p.records}
    assert {id(r) for r in from_messages.records} == part_ids
    assert from_messages.next_offsets() == from_records.next_offsets() == {
        ("t.orderbook.processed", 0): 12, ("t.orderbook.processed", 1): 8, ("t.orderbook.bars", 1): 5,
        ("t.orderbook.alerts", 0): 1}  # fmt: skip


def test_next_offsets_take_the_highest_offset_when_a_partition_is_read_again():
    msgs = [_message(Topic.PROCESSED, 0, o, b"v") for o in (5, 6, 7, 5, 6)]
    assert SinkBatch(messages=msgs, kind=_NAMES.kind).next_offsets() == {("t.orderbook.processed", 0): 8}


def test_one_topic_batches_are_one_part_and_a_batch_needs_records_or_messages():
    msgs = [_message(Topic.PROCESSED, p, o, b"v%d" % o) for o in range(4) for p in range(2)]
    batch = SinkBatch(messages=msgs, kind=_NAMES.kind)
    assert list(batch.parts()) == [Topic.PROCESSED] and len(batch.parts()[Topic.PROCESSED]) == 8
    assert [r.offset for r in batch.records] == [m.offset() for m in msgs]
    with pytest.raises(ValueError):
        SinkBatch()
    with pytest.raises(ValueError):
        SinkBatch(messages=msgs)
