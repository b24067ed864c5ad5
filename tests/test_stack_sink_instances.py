"""OBM_SINK_REDIS_INSTANCES=2 in the embedded stack: the two sink processes `obm up` builds
(sink-redis, sink-redis-2) run on their own metrics ports in one consumer group, share the
partitions out between them, and together write every symbol's latest value, in order (the last
update of each symbol is the one Redis holds)."""

from __future__ import annotations

import ast
import re
import time
import uuid
from pathlib import Path

import orjson
import pytest

from config import RedisSettings, SinkSettings, StackSettings
from config.clients import redis_client
from obm.stack.health import free_port
from obm.stack.services import http_ok
from obm.stack.supervisor import StackConfig, build_components
from producer.publisher import create_topics_if_absent
from schemas import Topic
from schemas.redis_layout import RedisLayout
from schemas.topics import topic_name
from tests.sinks.sink_test_support import SinkTestEnv, wait_for

pytestmark = pytest.mark.integration

SYMBOLS = [f"S{i}USDT" for i in range(12)]


def _held(log: Path, topic: str) -> set[int]:
    """The partitions of `topic` one instance holds now, from its log's assigned/revoked lines
    (sinks/consume_loop.py logs both; the same arithmetic for eager and incremental rebalancing)."""
    held: set[int] = set()
    for line in log.read_text().splitlines() if log.exists() else []:
        found = re.search(r"\b(assigned|revoked) (\[.*\])$", line)
        if found:
            parts = {p for t, p in ast.literal_eval(found.group(2)) if t == topic}
            held = held | parts if found.group(1) == "assigned" else held - parts
    return held


def test_two_redis_sink_instances_share_the_partitions_and_write_every_symbol(
    kafka_settings, redis_settings, tmp_path
):
    prefix = f"t{uuid.uuid4().hex[:10]}."
    kafka = kafka_settings.model_copy(update={"topic_prefix": prefix})
    create_topics_if_absent(kafka, [topic_name(t, prefix) for t in Topic], partitions=3)
    group = f"obm-sink-redis-{uuid.uuid4().hex[:8]}"
    rs: RedisSettings = redis_settings.model_copy(update={"key_prefix": f"k{uuid.uuid4().hex[:8]}"})
    sinks = SinkSettings(redis_group=group, redis_instances=2, redis_metrics_port=free_port())
    cfg = StackConfig(stack=StackSettings(state_dir=tmp_path), kafka=kafka, redis=rs, sinks=sinks)
    services = [c for c in build_components(cfg) if c.name.startswith("sink-redis")]
    assert [s.name for s in services] == ["sink-redis", "sink-redis-2"]
    try:
        for service in services:
            service.start()
        ports = [sinks.metrics_port("redis", i) for i in range(2)]
        assert all(http_ok(f"http://127.0.0.1:{port}/metrics") for port in ports)

        env = SinkTestEnv(kafka, exchange=f"x{uuid.uuid4().hex[:6]}")
        now = int(time.time() * 1000)
        for seq in range(20):
            for symbol in SYMBOLS:
                env.produce(Topic.PROCESSED, env.processed(seq, symbol=symbol, event_time=now + seq))
        env.flush()

        client = redis_client(rs, timeout_s=5.0)
        layout = RedisLayout.from_settings(rs)
        keys = [layout.latest(env.exchange, s) for s in SYMBOLS]

        def latest() -> list[int] | None:
            values = client.mget(keys)
            if any(v is None for v in values):
                return None
            seqs = [orjson.loads(v)["sequence_id"] for v in values]
            return seqs if all(s == 19 for s in seqs) else None

        wait_for("every symbol's last update in Redis", latest, timeout_s=120)
        # Each instance of the group holds some of orderbook.processed's partitions, none twice.
        processed = topic_name(Topic.PROCESSED, prefix)
        logs = [tmp_path / "logs" / f"{service.name}.log" for service in services]

        def shared() -> list[set[int]] | None:
            held = [_held(log, processed) for log in logs]
            return held if all(held) and not held[0] & held[1] and held[0] | held[1] == {0, 1, 2} else None

        wait_for("both instances holding partitions of orderbook.processed", shared, timeout_s=120)
    finally:
        for service in services:
            service.stop()
