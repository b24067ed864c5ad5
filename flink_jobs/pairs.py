"""The pairs job's logic: `trades.bars` Table (1 s bars) -> `pairs.analytics` Table.

The 1 s bars of the instruments some pair uses go to one keyed Python operator (PairsFunction,
one key: ALL_PAIRS_KEY) that holds a PairState per pair (flink_jobs/pair_analytics.py: the
statistics and their definitions) in map state, and computes every pair's record of second t once
the watermark has passed t, with a leg that did not trade forward-filled. A bar only queues its
close (list state: one small append, not a read and write of every PairState it feeds) and sets
the event-time timer of its second; a timer applies the queued closes and computes the seconds
from the last one computed up to the watermark (`advance_pairs`), so quiet seconds are computed
too, and sets the timer of the next second while some fill can still be fresh. What a call does is
pure logic in flink_jobs/pair_calls.py; this module is the operator around it.

Two things a catch-up (a backlog read at once: a restart, the first minutes of the job, the
benchmark) does that streaming does not, both seen in bench/flink_pairs.py and a bounded run
through Kafka (docs/benchmarks.md):
- The source reads some partitions of trades.bars before others. One that delivers nothing for
  the idle timeout is idle, and the watermark runs ahead on the others: its bars then arrive
  behind seconds already computed. A pair never computed waits until both legs have had a close
  and then computes from its first (`step_pair`); a bar behind the last second asks for a call
  by a processing-time timer (no watermark may follow). Before this, such pairs put out nothing
  (the benchmark's expected count was never reached: the "stall"; 2 to 4 of 6 pairs missing).
  A pair that waits for a lagging leg is released when that leg brings nothing new for
  PairSettings.catch_up_release_ms (a call then comes by a processing-time timer): at the end of
  a backlog, or for a leg that does not trade, no bar would ever end the wait.
- The watermark jumps over many seconds. They are computed in slices of at most
  PairSettings.max_records_per_call records, each call continued by a processing-time timer
  (event-time timers wait while one is due): a Python call's output reaches Flink only when it
  ends, and the task takes no input or checkpoint barrier during it.
A bar that comes after its second was computed for a pair under way (late beyond the
out-of-orderness) does not recompute that second; it becomes the close carried forward if it is
the leg's newest.

Why one key and not a key per pair: a Python operator costs a round trip to the Python worker per
record (bundles of one, flink_jobs/environment.py), and keyed by pair each bar would become a
record per pair it is a leg of (20 per bar for 1,000 pairs of 100 instruments) plus a Python
key_by per record: ~400 records/s measured under load. With one key the round trips are one per
bar and one per call; the job runs on one slot (parallelism above 1 leaves the other subtasks
idle), which is the issue's target (bench/flink_pairs.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from pyflink.table import StreamTableEnvironment, Table

from config import PairSettings
from flink_jobs.connectors import KEY_COLUMN, ROWTIME, schema_columns
from flink_jobs.pair_analytics import PairSpec, PairState, Pending
from flink_jobs.pair_calls import (
    LATE_BARS_WAIT_MS,
    Clock,
    advance_pairs,
    bar_call,
    fingerprint,
    leg_routes,
    pair_parameters,
    touched,
)
from flink_jobs.sql_building import query, table_env
from schemas import Topic

TRADE_BAR_INTERVAL = "1s"
# A file the operator appends a line to per call and per late bar (debugging a stall; read when
# the job is built, so it is a path on the machine of the Python worker: the bench's mini-cluster).
CALL_LOG_ENV = "OBM_PAIRS_CALL_LOG"
# The one key of the pairs operator: every pair's state under it (see the module docstring).
ALL_PAIRS_KEY = "pairs"


def _pairs_function(settings: PairSettings) -> Any:
    """The operator, built here so that importing this module defines no PyFlink classes."""
    from pyflink.common import Row
    from pyflink.common.typeinfo import Types
    from pyflink.datastream import TimeDomain
    from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
    from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor

    specs = [PairSpec.parse(text) for text in settings.pairs]
    routes = leg_routes(settings)
    params = pair_parameters(settings)
    names = [name for name, _ in schema_columns(Topic.PAIRS)]
    per_call = settings.max_records_per_call
    release_ms = settings.catch_up_release_ms
    call_log = os.environ.get(CALL_LOG_ENV)

    class PairsFunction(KeyedProcessFunction):  # type: ignore[misc]
        """One key (ALL_PAIRS_KEY); state: each pair's PairState, the closes queued since the
        last call, the last second computed, whether a catch-up's continuation is due, when the
        call that may release a pair waiting for a lagging leg is due, the closes waiting per
        instrument for pairs not started (pair_calls.apply_closes), and the version of the pairs'
        states (each call that writes them makes a new one; `_pairs`)."""

        def open(self, runtime_context: RuntimeContext) -> None:
            self.pairs = runtime_context.get_map_state(
                MapStateDescriptor("pairs", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
            )
            self.closes = runtime_context.get_list_state(
                ListStateDescriptor("queued_closes", Types.PICKLED_BYTE_ARRAY())
            )
            self.last = runtime_context.get_state(ValueStateDescriptor("last_second", Types.LONG()))
            self.resuming = runtime_context.get_state(ValueStateDescriptor("resuming", Types.BOOLEAN()))
            self.recheck_at = runtime_context.get_state(ValueStateDescriptor("recheck_at", Types.LONG()))
            self.soon_at = runtime_context.get_state(ValueStateDescriptor("late_bars_call_at", Types.LONG()))
            self.input_at = runtime_context.get_state(ValueStateDescriptor("input_at", Types.LONG()))
            self.version = runtime_context.get_state(ValueStateDescriptor("pairs_version", Types.LONG()))
            self.waiting = runtime_context.get_map_state(
                MapStateDescriptor("waiting_closes", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
            )
            self.cached: tuple[int | None, dict[str, PairState], dict[str, Pending]] = (None, {}, {})
            self.log = open(call_log, "a", buffering=1) if call_log else None  # noqa: SIM115 - open for the job's life

        def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> list[Row]:
            instrument, second, close = value[0], value[1], value[2]
            if instrument in routes:
                self.closes.add((instrument, second, close))
                timers = ctx.timer_service()
                call = bar_call(second, self.last.value(), timers.current_watermark(), self.resuming.value())
                if call == "watermark":
                    timers.register_event_time_timer(second)
                elif call == "soon":  # behind: a call soon (step_pair), not at a watermark
                    if self.soon_at.value() is None:  # one such call due at a time (see on_timer)
                        soon_at = timers.current_processing_time() + LATE_BARS_WAIT_MS
                        timers.register_processing_time_timer(soon_at)
                        self.soon_at.update(soon_at)
                    self.resuming.update(True)
                    if self.log:
                        self.log.write(
                            f"{time.time():.3f} late bar {instrument} {second} wm={timers.current_watermark()}\n"
                        )
            return []

        def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Row]:
            """Any timer: a bar's second, the next second (event time) or the continuation of a
            catch-up (processing time). Applies the queued closes and computes a slice. While a
            continuation is due an event-time timer does nothing: the continuation computes its
            second, and Flink fires every event-time timer behind a new watermark in one go, which
            would compute the whole catch-up before the task takes its next input or barrier."""
            if ctx.time_domain() == TimeDomain.EVENT_TIME and self.resuming.value():
                if self.log:
                    self.log.write(
                        f"{time.time():.3f} event timer {timestamp} skipped: a continuation is due\n"
                    )
                return
            started = time.thread_time()
            timers = ctx.timer_service()
            now = timers.current_processing_time()
            soon_at = self.soon_at.value()
            if soon_at is not None and soon_at <= now:
                # The late bars' call. Cleared only here, not by any call that clears `resuming`:
                # else each late bar set a timer of its own while others were due, and a train of
                # timers 200 ms long made one call per late bar (1 bar each, ~50 calls/s in the
                # catch-up of bench.flink_pairs, 2026-12-06), not one per LATE_BARS_WAIT_MS.
                self.soon_at.clear()
            recheck_at = self.recheck_at.value()
            if recheck_at is not None and recheck_at <= now:
                self.recheck_at.clear()
                recheck_at = None
            pairs, waiting = self._pairs()
            queued = list(self.closes.get() or ())
            if queued:
                self.input_at.update(now)
            before = {key: fingerprint(pair) for key, pair in pairs.items()}
            done = advance_pairs(
                pairs,
                routes,
                queued,
                self.last.value(),
                timers.current_watermark(),
                per_call,
                Clock(now, release_ms, self.input_at.value() or 0),
                waiting,
            )
            self.closes.clear()
            for pair_id, record in done.records:
                yield Row(pair_id, *[record[name] for name in names])
            if done.last is not None:
                self.last.update(done.last)
            if done.wake_at is not None:
                timers.register_event_time_timer(done.wake_at)
            if done.resume:
                timers.register_processing_time_timer(timers.current_processing_time())
                self.resuming.update(True)
            else:
                self.resuming.clear()
            if done.recheck and recheck_at is None:  # a call that may release a pair (step_pair)
                timers.register_processing_time_timer(now + release_ms + 1)
                self.recheck_at.update(now + release_ms + 1)
            written = touched(pairs, before)
            for pair_id in written:
                self.pairs.put(pair_id, pairs[pair_id])
            for instrument in done.waiting_changed:
                if instrument in waiting:
                    self.waiting.put(instrument, waiting[instrument])
                else:
                    self.waiting.remove(instrument)
            version = (self.version.value() or 0) + 1
            self.version.update(version)
            self.cached = (version, pairs, waiting)
            if self.log:
                self.log.write(
                    f"{time.time():.3f} call {ctx.time_domain().name} ts={timestamp} wm={timers.current_watermark()}"
                    f" last={done.last} queued={len(queued)} out={len(done.records)} resume={done.resume}"
                    f" wake={done.wake_at} recheck={done.recheck} written={len(written)}"
                    f" catching_up={sum(pair.catching_up for pair in pairs.values())}"
                    f" cpu_ms={(time.thread_time() - started) * 1e3:.1f}\n"
                )

        def _pairs(self) -> tuple[dict[str, PairState], dict[str, Pending]]:
            """Every pair's state and the closes waiting for pairs not started: the worker's copy
            when it is the state's current version (only this operator writes them, and each
            call's writes end with a new version), else read from state (a new worker, a restore
            from a checkpoint, a call that failed midway)."""
            version, cached, waiting = self.cached
            self.cached = (None, {}, {})  # until this call's writes are done
            if cached and version == (self.version.value() or 0):
                return cached, waiting
            stored = {spec.pair_id: self.pairs.get(spec.pair_id) for spec in specs}
            pairs = {key: pair or PairState(PairSpec.parse(key), params) for key, pair in stored.items()}
            return pairs, dict(self.waiting.items())

    return PairsFunction()


def pairs_table(bars: Table, settings: PairSettings) -> Table:
    """One record per configured pair and aligned second (see the module docstring). The
    environment must be a StreamTableEnvironment (JobDefinition.stream_env)."""
    from pyflink.common.typeinfo import Types

    t_env = table_env(bars)
    if not isinstance(t_env, StreamTableEnvironment):
        raise TypeError("pairs_table needs a StreamTableEnvironment")
    instruments = ", ".join(f"'{key}'" for key in sorted(leg_routes(settings)))
    closes = query(
        bars,
        f"SELECT instrument, window_start, `close`, `{ROWTIME}` FROM ("
        f"SELECT `exchange` || ':' || `symbol` AS instrument, window_start, `close`, `{ROWTIME}`"
        f" FROM {{src}} WHERE `interval` = '{TRADE_BAR_INTERVAL}')"
        f" WHERE instrument IN ({instruments})",
    )
    kinds = {"STRING": Types.STRING(), "INT": Types.INT(), "BIGINT": Types.LONG(), "DOUBLE": Types.DOUBLE()}
    columns = [(KEY_COLUMN, "STRING"), *schema_columns(Topic.PAIRS)]
    row_type = Types.ROW_NAMED([n for n, _ in columns], [kinds[t] for _, t in columns])
    analytics = (
        t_env.to_data_stream(closes)
        .key_by(lambda bar: ALL_PAIRS_KEY, key_type=Types.STRING())
        .process(_pairs_function(settings), output_type=row_type)
    )
    return t_env.from_data_stream(analytics)
