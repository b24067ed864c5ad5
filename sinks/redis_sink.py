"""The Redis sink: the live view of the dashboard (layout: schemas.redis_layout, docs/storage.md).

Per batch, one pipeline (no MULTI; every command is idempotent on its own):
- orderbook.processed / .raw: only the newest conforming record per symbol matters, so each
  symbol's latest record of the batch is SET once (with the TTL), plus SADD to the symbols set;
- orderbook.bars: one Lua script call per bars key and batch: the batch's bars are ZADDed at score
  window_start after removing any other member at their scores (one member per window, so a
  replayed bar replaces itself; finding those is one read of the batch's score range), then the
  key is trimmed to the last hour of its newest bar in the batch and its expiry renewed. The bars
  are judged column-wise (sinks.decoding.columns): per-record validation and two pipelined
  commands per bar kept the sink at a third of its target;
- orderbook.alerts: a Lua script appends to the capped stream, sets the symbol's last alert and
  publishes, only if the alert id is new (a ZSET of seen ids), so replays do not double alerts;
- the heartbeat.

`prepare` does the decoding and builds the command list without touching the connection, so the
consume loop runs it for the next batch while this batch's pipeline is in flight.

Every record read is judged against its topic's contract at the batch's instant of the sink's clock
(sinks.decoding.contract), also the records a newer one of the same symbol supersedes: a reject
goes to orderbook.dlq as this sink's own (source sink-redis), published with the batch's offsets in
one Kafka transaction by the consume loop, so exactly once per record read (docs/storage.md: each
sink reports what it rejected). Processed and raw batches are judged by msgspec Structs in C
(sinks.decoding.structs), falling back to record-by-record judging for a batch with a reject.

Refill: the sink keeps a marker key in Redis. When it is missing (first start, or a Redis that came
back empty), the sink first re-reads the last hour of bars and alerts and the last TTL of metrics and
books from the topics (sinks.redis_refill), then sets the marker. The refill writes through the
same judging, but publishes no DLQ record: the records it reads are the consume loop's to judge and
report, once, when the loop reads them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any

import redis

from config import RedisSettings
from config.clients import redis_client
from schemas.redis_layout import (
    ALERTS_SEEN_KEEP_MS,
    ALERTS_STREAM_FIELD,
    BARS_KEEP_MS,
    RedisLayout,
)
from schemas.topics import Topic, record_key
from sinks.batching import BatchingSink, SinkBatch, SinkRecord, WriteResult
from sinks.decoding.columns import decode_columns
from sinks.decoding.contract import RejectedRecord, SinkContract, TopicContract
from sinks.decoding.records import decode_record
from sinks.decoding.structs import decode_structs

log = logging.getLogger(__name__)

SOURCE = "sink-redis"

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
# KEYS: one bars ZSET. ARGV: trim cutoff ("(ms", exclusive), expiry ms, lowest and highest score of
# the batch, then score/member pairs, one per score (the batch's last bar of each window).
# Same end state as ZREMRANGEBYSCORE score score + ZADD per bar, in a few commands per key: one read
# of the batch's score range, ZREM of the members that another bar of their window replaces, ZADD of
# all bars, the trim and the expiry. Scores compare as doubles, as Redis compares them.
_BARS_SCRIPT = """
local key = KEYS[1]
local wanted, adds = {}, {}
for i = 5, #ARGV, 2 do
  wanted[tonumber(ARGV[i])] = ARGV[i + 1]
  adds[#adds + 1] = ARGV[i]
  adds[#adds + 1] = ARGV[i + 1]
end
local stale = {}
local existing = redis.call('ZRANGEBYSCORE', key, ARGV[3], ARGV[4], 'WITHSCORES')
for i = 1, #existing, 2 do
  local new = wanted[tonumber(existing[i + 1])]
  if new ~= nil and new ~= existing[i] then stale[#stale + 1] = existing[i] end
end
for i = 1, #stale, 1000 do
  redis.call('ZREM', key, unpack(stale, i, math.min(i + 999, #stale)))
end
for i = 1, #adds, 2000 do
  redis.call('ZADD', key, unpack(adds, i, math.min(i + 1999, #adds)))
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
redis.call('PEXPIRE', key, ARGV[2])
return 1
"""
# A queued command: a pipeline method name or "alert"/"bars" (the scripts), arguments, options.
Command = tuple[str, tuple[Any, ...], dict[str, Any]]


@dataclass
class PreparedCommands:
    """A batch decoded into the commands of its pipeline (RedisSink.prepare)."""

    commands: list[Command] = field(default_factory=list)
    result: WriteResult = field(default_factory=WriteResult)


class RedisSink(BatchingSink[PreparedCommands]):
    name = "redis"
    topics = (Topic.PROCESSED, Topic.BARS, Topic.ALERTS, Topic.RAW, Topic.TRADE_BARS, Topic.PAIRS)
    transient_errors = (redis.ConnectionError, redis.TimeoutError)

    def __init__(
        self, settings: RedisSettings, refill: Any = None, contract: SinkContract | None = None
    ) -> None:
        """`refill` is a callable(sink) that replays recent topic data into Redis (RedisRefill);
        None disables refilling (unit use). `contract`: the event-time bounds and clock records are
        judged by (default: ContractSettings from the environment, the wall clock)."""
        self.settings = settings
        self.contract = contract or SinkContract.from_settings()
        self.keys = RedisLayout.from_settings(settings)
        self.refill = refill
        self.client = redis_client(settings, timeout_s=10, connect_timeout_s=5)
        self._alert_script = self.client.register_script(_ALERT_SCRIPT)
        self._bars_script = self.client.register_script(_BARS_SCRIPT)

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

    def prepare(self, batch: SinkBatch) -> PreparedCommands:
        return self.prepare_records(batch.records)

    def write_prepared(self, prepared: PreparedCommands) -> WriteResult:
        self._ensure_filled()
        return self._execute(prepared)

    def write_records(self, records: list[SinkRecord]) -> WriteResult:
        """Writes records in one pipeline (the refill's entry: no refill check)."""
        return self._execute(self.prepare_records(records))

    def prepare_records(self, records: list[SinkRecord]) -> PreparedCommands:
        """Judges and decodes records into the commands of one pipeline; touches no connection."""
        now_ms = self.contract.clock()
        out = PreparedCommands()
        by_topic: dict[Topic, list[SinkRecord]] = {}
        for rec in records:
            by_topic.setdefault(rec.topic, []).append(rec)
        symbols: set[str] = set()
        for topic, recs in by_topic.items():
            contract = self.contract.at(topic, now_ms)
            if topic in (Topic.PROCESSED, Topic.RAW):
                self._latest(out, contract, recs, symbols)
            elif topic in (Topic.BARS, Topic.TRADE_BARS):
                self._bars(out, contract, recs)
            elif topic is Topic.ALERTS:
                self._alerts(out, contract, recs)
            elif topic is Topic.PAIRS:
                self._pairs(out, contract, recs)
        if symbols:
            out.commands.append(("sadd", (self.keys.symbols(), *symbols), {}))
        return out

    def _execute(self, prepared: PreparedCommands) -> WriteResult:
        pipe = self.client.pipeline(transaction=False)
        for name, args, options in prepared.commands:
            if name == "bars":
                self._bars_script(keys=args[0], args=args[1], client=pipe)
            elif name == "alert":
                self._alert_script(keys=args[0], args=args[1], client=pipe)
            else:
                getattr(pipe, name)(*args, **options)
        pipe.set(self.keys.heartbeat(), str(int(time.time() * 1000)))
        pipe.execute()
        return prepared.result

    @staticmethod
    def _judged(contract: TopicContract, recs: list[SinkRecord], result: WriteResult,
                fields: tuple[str, ...]) -> list[tuple[SinkRecord, tuple[Any, ...]]]:  # fmt: skip
        """Every record judged; the conforming ones in order with the values of `fields`, the
        rejects counted and added to the result's DLQ records."""
        structs = decode_structs(contract, [rec.value for rec in recs])
        if structs is not None:
            return list(zip(recs, map(attrgetter(*fields), structs), strict=True))
        judged, values = [], itemgetter(*fields)
        for rec in recs:
            try:
                judged.append((rec, values(decode_record(rec, contract))))
            except RejectedRecord as exc:
                result.reject(SOURCE, rec, exc)
        return judged

    def _latest(self, out: PreparedCommands, contract: TopicContract, recs: list[SinkRecord],
                symbols: set[str]) -> None:  # fmt: skip
        key_of = self.keys.latest if contract.topic is Topic.PROCESSED else self.keys.book
        judged = self._judged(contract, recs, out.result, ("exchange", "symbol"))
        done: set[str] = set()
        for rec, (exchange, symbol) in reversed(judged):
            member = record_key(exchange, symbol)
            if member in done:
                continue
            done.add(member)
            out.commands.append(
                ("set", (key_of(exchange, symbol), rec.value), {"ex": self.settings.latest_ttl_s})
            )
            symbols.add(member)
        if judged:
            out.result.count_stored(contract.topic, len(judged))

    def _pairs(self, out: PreparedCommands, contract: TopicContract, recs: list[SinkRecord]) -> None:
        """The latest record of each pair (the newest second: a pair's records come in order on
        one partition), and the pair in the pairs SET."""
        judged = self._judged(contract, recs, out.result, ("pair", "event_time"))
        latest: dict[str, bytes | None] = {}
        for rec, (pair, _) in judged:
            latest[pair] = rec.value
        for pair, value in latest.items():
            out.commands.append(
                ("set", (self.keys.pair_latest(pair), value), {"ex": self.settings.latest_ttl_s})
            )
        if latest:
            out.commands.append(("sadd", (self.keys.pairs(), *latest), {}))
        if judged:
            out.result.count_stored(contract.topic, len(judged))

    def _bars(self, out: PreparedCommands, contract: TopicContract, recs: list[SinkRecord]) -> None:
        # trades.bars: a bar's versions replace each other like a replayed bar (same window).
        key_of = self.keys.trade_bars if contract.topic is Topic.TRADE_BARS else self.keys.bars
        decoded = decode_columns(contract, recs)
        for rec, rejected in decoded.rejects:
            out.result.reject(SOURCE, rec, rejected)
        cols = decoded.columns
        # Per key, the last bar of each window in the batch (an earlier one would be replaced anyway).
        latest: dict[tuple[str, str, str], dict[int, bytes | None]] = {}
        for ident, score, rec in zip(zip(cols["interval"], cols["exchange"], cols["symbol"], strict=True),
                                     cols["window_start"], decoded.records, strict=True):  # fmt: skip
            by_score = latest.get(ident)
            if by_score is None:
                by_score = latest[ident] = {}
            by_score[score] = rec.value
        for (interval, exchange, symbol), by_score in latest.items():
            low, top = min(by_score), max(by_score)
            flat = [x for pair in by_score.items() for x in pair]
            args = [f"({top - BARS_KEEP_MS}", BARS_KEEP_MS, low, top, *flat]
            out.commands.append(("bars", ([key_of(interval, exchange, symbol)], args), {}))
        if decoded.records:
            out.result.count_stored(contract.topic, len(decoded.records))

    def _alerts(self, out: PreparedCommands, contract: TopicContract, recs: list[SinkRecord]) -> None:
        k = self.keys
        fields = ("alert_id", "event_time", "exchange", "symbol")
        for rec, (alert_id, event_time, exchange, symbol) in self._judged(contract, recs, out.result, fields):
            keys = [k.alerts_seen(), k.alerts_stream(), k.alerts_last(exchange, symbol)]
            args = [alert_id, event_time, rec.value or b"", self.settings.alerts_stream_maxlen, k.alerts_channel(),
                    event_time - ALERTS_SEEN_KEEP_MS]  # fmt: skip
            out.commands.append(("alert", (keys, args), {}))
            out.result.count_stored(Topic.ALERTS)
