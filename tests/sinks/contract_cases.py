"""The agreement harness of the decoder tests: the definition of a conforming record as the sinks
must apply it (orjson, then schemas.conformance.nonconformity at a fixed instant of the sink's
clock), and records mutated in every way the contract cares about (fields dropped or added, odd
values, event times at and beyond the bounds, shorter, empty or poisoned arrays, non-finite number
tokens) to compare every decoder path with it."""

import json
import random

import orjson

from config import ContractSettings
from schemas import load_schema, nonconformity
from schemas.topics import Topic
from sinks.batching import SinkRecord
from sinks.decoding.contract import SinkContract, TopicContract

# The schema examples are from 2024-08-08 ~23:54 UTC; the sink's clock reads a minute later.
NOW_MS = 1_723_161_300_000
ODD_VALUES = [None, True, False, 0, -1, 1, 1.0, -0.5, 2**63, 2**64 + 1, "", "x", "BTCUSDT", "btc usdt", "B",
              "spot", "usdm", "1s", "5m", "high", "imbalance_flip", "ab\n", [], [1.0], {}, 1e308, -1e-300]  # fmt: skip
# Tokens that put a non-finite number into JSON text (the first two are not JSON; the last
# overflows a double).
NON_FINITE_TOKENS = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"]


def contract_at(topic: Topic, now_ms: int = NOW_MS) -> TopicContract:
    return SinkContract.from_settings(ContractSettings(), clock=lambda: now_ms).at(topic, now_ms)


def record(topic: Topic, value: bytes | None, offset: int) -> SinkRecord:
    return SinkRecord(topic, topic.value, 0, offset, b"k", value, NOW_MS)


def conforms(topic: Topic, value: bytes | None, now_ms: int = NOW_MS) -> bool:
    """The definition: the bytes decode as JSON and `nonconformity` finds nothing."""
    if value is None:
        return False
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    c = contract_at(topic, now_ms)
    return (
        nonconformity(topic, data, now_ms=now_ms, max_future_ms=c.max_future_ms, max_age_ms=c.max_age_ms)
        is None
    )


def full_example(topic: Topic) -> dict:
    """The schema example with every property set (the shape the Flink jobs write)."""
    schema = load_schema(topic)
    rec = dict(schema["examples"][0])
    for name, spec in schema["properties"].items():
        if name not in rec:
            types = spec.get("type", [])
            if "enum" in spec:
                rec[name] = spec["enum"][0]
            else:
                rec[name] = None if "null" in types else (True if "boolean" in types else 1.5)
    assert conforms(topic, orjson.dumps(rec))
    return rec


def event_time_shifts(topic: Topic) -> list[int]:
    """Event times at and around the contract's bounds, and far beyond them."""
    c = contract_at(topic)
    assert c.earliest_ms is not None
    return [c.latest_ms, c.latest_ms + 1, c.earliest_ms, c.earliest_ms - 1, NOW_MS + 86_400_000, 0, NOW_MS]


def mutated(topic: Topic, rng: random.Random) -> dict:
    """The full example with one or two random changes: a field dropped, an extra field, an odd
    value, an event time at or beyond a bound, or (for arrays) a shorter, empty or poisoned array."""
    rec = full_example(topic)
    schema = load_schema(topic)
    props = list(schema["properties"])
    arrays = [p for p in props if schema["properties"][p].get("type") == "array"]
    event_time = schema.get("x-event-time")
    for _ in range(rng.randint(1, 2)):
        action = rng.random()
        if action < 0.1:
            rec.pop(rng.choice(list(rec)))
        elif action < 0.15:
            rec["unexpected"] = 1
        elif action < 0.35 and event_time:
            rec[event_time] = rng.choice(event_time_shifts(topic))
        elif action < 0.5 and arrays:
            name = rng.choice(arrays)
            items = rec[name] if isinstance(rec.get(name), list) else [1.0]
            rec[name] = rng.choice([items[:-1], [], [*items, None], [-1.0, *items[1:]], [*items, 1.0], "x"])
        else:
            rec[rng.choice(props)] = rng.choice(ODD_VALUES)
    return rec


def poisoned(topic: Topic, rng: random.Random) -> bytes:
    """A mutated record's JSON, sometimes with a number replaced by a non-finite token."""
    text = json.dumps(mutated(topic, rng)).encode()  # big ints stay ints, as on the wire
    if rng.random() < 0.2:
        for number in (b"1.5", b"0.74", b"2511.5", b"12.3"):
            if number in text:
                return text.replace(number, rng.choice(NON_FINITE_TOKENS), 1)
    return text
