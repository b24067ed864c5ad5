"""The Redis sink: the live view of the dashboard (layout: sinks.redis_layout, docs/storage.md).

Per batch, one pipeline (no MULTI; every command is idempotent on its own):
- orderbook.processed / .raw: only the newest valid record per symbol matters, so the batch is read
  backwards and each symbol's latest record is SET once (with the TTL), plus SADD to the symbols set;
- orderbook.bars: per bar ZREMRANGEBYSCORE + ZADD at score window_start (one member per window, so a
  replayed bar replaces itself), then the key is trimmed to the last hour of its newest bar;
- orderbook.alerts: a Lua script appends to the capped stream, sets the symbol's last alert and
  publishes, only if the alert id is new (a ZSET of seen ids), so replays do not double alerts;
- the heartbeat.

Refill: the sink keeps a marker key in Redis. When it is missing (first start, or a Redis that came
back empty), the sink first re-reads the last hour of bars and alerts and the last TTL of metrics and
books from the topics (sinks.redis_refill), then sets the marker. Invalid records are skipped and
counted here: the database sink already sends them to the DLQ, once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

from config import RedisSettings
from schemas.topics import Topic
from sinks.batching import SinkBatch, SinkRecord, WriteResult
from sinks.record_decoding import RejectedRecord, decode_record
from sinks.redis_layout import (
    ALERTS_SEEN_KEEP_MS,
    ALERTS_STREAM_FIELD,
    BARS_KEEP_MS,
    RedisLayout,
    symbol_member,
)

log = logging.getLogger(__name__)

# KEYS: seen-ids zset, alerts stream, last-alert key. ARGV: alert_id, event_time, json, maxlen,
# channel, seen cutoff. Returns 1 when the alert was new.
_ALERT_SCRIPT = f"""
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', '{ALERTS_STREAM_FIELD}', ARGV[3])
redis.call('SET', KEYS[3], ARGV[3])
redis.call('PUBLISH', ARGV[5], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[6])
return 1
"""


class RedisSink:
    name = "redis"
    topics: tuple[Topic, ...] = (Topic.PROCESSED, Topic.BARS, Topic.ALERTS, Topic.RAW)
    transient_errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)

    def __init__(self, settings: RedisSettings, refill: Any = None) -> None:
        """`refill` is a callable(sink) that replays recent topic data into Redis (RedisRefill);
        None disables refilling (unit use)."""
        self.settings = settings
        self.keys = RedisLayout.from_settings(settings)
        self.refill = refill
        pw = settings.password.get_secret_value() if settings.password else None
        self.client = redis.Redis(host=settings.host, port=settings.port, db=settings.db, password=pw,
                                  socket_timeout=10, socket_connect_timeout=5)  # fmt: skip
        self._alert_script = self.client.register_script(_ALERT_SCRIPT)
        self.commands_sent = 0  # Redis commands written (the bench's "writes")

    def setup(self) -> None:
        self.client.ping()
        self._ensure_filled()

    def close(self) -> None:
        self.client.close()

    def _ensure_filled(self) -> None:
        if self.refill is None or self.client.exists(self.keys.refilled_marker()):
            return
        log.info("Redis lacks %s: refilling from the topics", self.keys.refilled_marker())
        self.refill(self)
        self.client.set(self.keys.refilled_marker(), str(int(time.time() * 1000)))

    def idle(self) -> None:
        """Called by the loop while no records arrive: refill a Redis that came back empty, and
        keep the heartbeat fresh (the dashboard reads it as "sink alive")."""
        self._ensure_filled()
        self.client.set(self.keys.heartbeat(), str(int(time.time() * 1000)))

    def write(self, batch: SinkBatch) -> WriteResult:
        self._ensure_filled()
        return self.write_records(batch.records)

    def write_records(self, records: list[SinkRecord]) -> WriteResult:
        """Writes records in one pipeline (also used by the refill)."""
        result = WriteResult()
        by_topic: dict[Topic, list[SinkRecord]] = {}
        for rec in records:
            by_topic.setdefault(rec.topic, []).append(rec)
        pipe = self.client.pipeline(transaction=False)
        n = 0
        symbols: set[str] = set()
        for topic, recs in by_topic.items():
            if topic in (Topic.PROCESSED, Topic.RAW):
                n += self._latest(pipe, topic, recs, symbols, result)
            elif topic is Topic.BARS:
                n += self._bars(pipe, recs, result)
            elif topic is Topic.ALERTS:
                n += self._alerts(pipe, recs, result)
        if symbols:
            pipe.sadd(self.keys.symbols(), *symbols)
            n += 1
        pipe.set(self.keys.heartbeat(), str(int(time.time() * 1000)))
        pipe.execute()
        self.commands_sent += n + 1
        return result

    def _decode(self, rec: SinkRecord, result: WriteResult) -> dict[str, Any] | None:
        try:
            return decode_record(rec)
        except RejectedRecord as exc:
            result.count_rejected(rec.topic)
            log.debug("skipping %s: %s", rec.origin, exc.reason)
            return None

    def _latest(self, pipe: Any, topic: Topic, recs: list[SinkRecord], symbols: set[str], result: WriteResult) -> int:
        key_of = self.keys.latest if topic is Topic.PROCESSED else self.keys.book
        done: set[bytes | str] = set()
        n = 0
        for rec in reversed(recs):
            if rec.key is not None and rec.key in done:
                continue
            data = self._decode(rec, result)
            if data is None:
                continue
            member = symbol_member(data["exchange"], data["symbol"])
            if member in done:
                continue
            done.update((member, rec.key or member))
            pipe.set(key_of(data["exchange"], data["symbol"]), rec.value, ex=self.settings.latest_ttl_s)
            symbols.add(member)
            n += 1
        result.count_stored(topic, len(recs) - result.rejected.get(topic, 0))
        return n

    def _bars(self, pipe: Any, recs: list[SinkRecord], result: WriteResult) -> int:
        newest: dict[str, int] = {}
        n = 0
        for rec in recs:
            data = self._decode(rec, result)
            if data is None:
                continue
            key = self.keys.bars(data["interval"], data["exchange"], data["symbol"])
            score = data["window_start"]
            pipe.zremrangebyscore(key, score, score)
            pipe.zadd(key, {rec.value: score})
            newest[key] = max(score, newest.get(key, 0))
            result.count_stored(Topic.BARS)
            n += 2
        for key, top in newest.items():
            pipe.zremrangebyscore(key, "-inf", f"({top - BARS_KEEP_MS}")
            pipe.pexpire(key, BARS_KEEP_MS)
            n += 2
        return n

    def _alerts(self, pipe: Any, recs: list[SinkRecord], result: WriteResult) -> int:
        n = 0
        for rec in recs:
            data = self._decode(rec, result)
            if data is None:
                continue
            k = self.keys
            self._alert_script(
                keys=[k.alerts_seen(), k.alerts_stream(), k.alerts_last(data["exchange"], data["symbol"])],
                args=[data["alert_id"], data["event_time"], rec.value or b"", self.settings.alerts_stream_maxlen,
                      k.alerts_channel(), data["event_time"] - ALERTS_SEEN_KEEP_MS],  # fmt: skip
                client=pipe,
            )
            result.count_stored(Topic.ALERTS)
            n += 1
        return n
