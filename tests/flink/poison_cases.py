"""Records that break a topic's contract, one per kind of poison the issue lists (not JSON, wrong
types, nulls, missing and extra fields, negative, NaN and infinite numbers, unequal and empty book
sides, event time far ahead and far behind), each made from a good record of the topic, with the
reject kind the obm-json format must give it (flink_jobs/java/.../format/RejectKind.java)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from schemas import Topic

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Poison:
    name: str
    kind: str  # the reject kind: first word of the DLQ reason, suffix of the Flink counter
    payload: bytes


def _dumps(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


def poison_cases(topic: Topic, good: dict[str, Any], now_ms: int | None = None) -> list[Poison]:
    """The poison records of `topic` made from `good` (a conforming record of it)."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    text = _dumps(good)
    number = "bid_sizes" if topic is Topic.RAW else "mid"
    cases = [
        Poison("cut short", "not_json", text[: len(text) // 2]),
        Poison("not UTF-8", "not_json", b"\xff\xfe" + text[2:]),
        Poison("not an object", "not_an_object", b"[1, 2, 3]"),
        Poison("wrong type", "wrong_type", _dumps(good | {"sequence_id": "12"})),
        Poison("null field", "null_value", _dumps(good | {"symbol": None})),
        Poison(
            "missing field", "missing_field", _dumps({k: v for k, v in good.items() if k != "sequence_id"})
        ),
        Poison("extra field", "unexpected_field", _dumps(good | {"debug": True})),
        Poison("negative", "out_of_range", _dumps(good | {"sequence_id": -5})),
        # json.dumps writes NaN, which is not JSON (Jackson, like orjson, refuses it)
        Poison("NaN", "not_json", _written_as(good, number, "NaN")),
        Poison("infinite", "not_finite", _written_as(good, number, "1e999")),
        Poison("far ahead", "event_time_ahead", _dumps(good | {"event_time": now + DAY_MS})),
        Poison("far behind", "event_time_too_old", _dumps(good | {"event_time": now - 30 * DAY_MS})),
    ]
    if topic is Topic.RAW:
        cases += [
            Poison(
                "issue 20's record", "wrong_type", _dumps(good | {"bid_prices": "x", "ask_sizes": [None]})
            ),
            Poison(
                "null in an array",
                "null_value",
                _dumps(good | {"ask_sizes": [None] * len(good["ask_sizes"])}),
            ),
            Poison(
                "negative size", "out_of_range", _dumps(good | {"bid_sizes": [-1.0] + good["bid_sizes"][1:]})
            ),
            Poison("unequal lengths", "unequal_length", _dumps(good | {"ask_sizes": good["ask_sizes"][:-1]})),
            Poison("empty side", "item_count", _dumps(good | {"bid_prices": [], "bid_sizes": []})),
        ]
    return cases


def _written_as(good: dict[str, Any], number: str, literal: str) -> bytes:
    """`good` with the (first) value of the number field `number` written as `literal`."""
    marker = -123.25
    value: Any = [marker] + good[number][1:] if isinstance(good[number], list) else marker
    return _dumps(good | {number: value}).replace(b"-123.25", literal.encode(), 1)


def retimed(records: list[dict[str, Any]], now_ms: int | None = None) -> list[dict[str, Any]]:
    """`records` moved in time so that the last is `now_ms` (default: now), spacing kept: real
    records (a 2024 capture) that the event-time bounds of a consumer today accept."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    shift = now - max(r["event_time"] for r in records)
    moved = []
    for r in records:
        m = r | {"event_time": r["event_time"] + shift}
        if "receive_time_ns" in r:
            m["receive_time_ns"] = r["receive_time_ns"] + shift * 1_000_000
        moved.append(m)
    return moved


def processed_example(now_ms: int | None = None) -> dict[str, Any]:
    """The orderbook.processed schema's example, dated `now_ms` (default: now)."""
    from schemas import load_schema

    example: dict[str, Any] = load_schema(Topic.PROCESSED)["examples"][0]
    return retimed([example], now_ms)[0]


def conforming(topic: Topic, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of `topic` that conform to its contract today (schemas/conformance.py, the
    jobs' default bounds): what a job reads from Kafka. random_walk_books, for one, has books
    with an empty side, which orderbook.raw's contract does not allow (minItems 1)."""
    from config import ContractSettings
    from flink_jobs.connectors import max_age_ms
    from schemas.conformance import nonconformity

    contract = ContractSettings()
    now = int(time.time() * 1000)
    bounds = {"max_future_ms": contract.max_future_ms, "max_age_ms": max_age_ms(topic, contract)}
    return [r for r in records if nonconformity(topic, r, now_ms=now, **bounds) is None]
