"""The pairs job's logic: `trades.bars` Table (1 s bars) -> `pairs.analytics` Table.

The 1 s bars of the instruments some pair uses go to one keyed Python operator (PairsFunction,
one key: ALL_PAIRS_KEY) that holds a PairState per pair (flink_jobs/pair_analytics.py: the
statistics and their definitions) in map state, and computes every pair's record of second t once
the watermark has passed t, with a leg that did not trade forward-filled. A bar only queues its
close (list state: one small append, not a read and write of every PairState it feeds) and sets
the event-time timer of its second; a timer applies the queued closes and computes the seconds
from the last one computed up to the watermark (`advance_pairs`), so quiet seconds are computed
too, and sets the timer of the next second while some fill can still be fresh.

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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pyflink.table import StreamTableEnvironment, Table

from config import PairSettings
from flink_jobs.connectors import KEY_COLUMN, ROWTIME, schema_columns
from flink_jobs.pair_analytics import SECOND_MS, PairParameters, PairSpec, PairState
from flink_jobs.sql_building import query, table_env
from schemas import Topic

TRADE_BAR_INTERVAL = "1s"
# A bar behind the last second computed asks for a call this much later (wall time), so the
# bars of a partition read late come a few hundred to a call, not one call per bar.
LATE_BARS_WAIT_MS = 200
# The one key of the pairs operator: every pair's state under it (see the module docstring).
ALL_PAIRS_KEY = "pairs"


def pair_parameters(settings: PairSettings) -> PairParameters:
    return PairParameters(
        window_s=settings.window_s,
        min_points=settings.min_points,
        fill_max_age_ms=settings.fill_max_age_ms,
        adf_every_s=settings.adf_every_s,
        adf_points=settings.adf_points,
    )


def leg_routes(settings: PairSettings) -> dict[str, list[tuple[str, str]]]:
    """exchange:symbol -> the (pair id, leg) it feeds."""
    routes: dict[str, list[tuple[str, str]]] = {}
    for text in settings.pairs:
        spec = PairSpec.parse(text)
        routes.setdefault(spec.y, []).append((spec.pair_id, "y"))
        routes.setdefault(spec.x, []).append((spec.pair_id, "x"))
    return routes


def apply_closes(
    pairs: dict[str, PairState],
    routes: dict[str, list[tuple[str, str]]],
    closes: Iterable[tuple[str, int, str]],
) -> None:
    """The queued (instrument, second, close) of the bars, in arrival order, to the pairs they
    feed. Nothing was computed since they arrived, so this is what applying each on arrival did."""
    for instrument, second, close in closes:
        for pair_id, leg in routes.get(instrument, ()):
            pairs[pair_id].on_close(leg, second, close)


def first_second(pairs: Iterable[PairState], last: int | None) -> int | None:
    """The next second to compute: the one after the last computed, or, when no pair has a fresh
    fill there (a stretch where every series broke), the first second a queued bar starts them
    again (the stretch has no records: skipping it is computing it). Not the second of the timer
    that fired: in a catch-up the timers of later bars fire while earlier seconds are still being
    computed. None: nothing to compute yet."""
    pairs = list(pairs)
    if last is not None and any(pair.fills(last + SECOND_MS) is not None for pair in pairs):
        return last + SECOND_MS
    return min((s for pair in pairs if (s := pair.first_pending_after(last)) is not None), default=None)


@dataclass
class Slice:
    """What one call computed (`records`: pair id and record, in order) and what follows: the
    second to compute once the watermark passes it (`wake_at`: an event-time timer), or `resume`
    (seconds behind the watermark remain: continue in another call), or neither (nothing queued,
    no fill can be fresh: the legs' next bars set their timers); and `recheck`."""

    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    last: int | None = None
    wake_at: int | None = None
    resume: bool = False
    # Some pair waits for a lagging leg: call again after Clock.release_ms (wall time), when it
    # may be released even if no bar and no watermark comes.
    recheck: bool = False


@dataclass(frozen=True)
class Clock:
    """The wall time of a call and how long a pair catching up waits for news of its lagging
    leg (PairSettings.catch_up_release_ms)."""

    now_ms: int
    release_ms: int


def _still_catching_up(pair: PairState, known: int | None, watermark: int, clock: Clock) -> bool:
    """Whether a pair catching up still waits for its lagging leg: until both legs' bars reach
    the watermark, or until that leg has brought nothing new for `clock.release_ms` (the end of
    the input, or a leg that does not trade; a late partition delivers steadily once read).
    Without the release, the seconds after a pair's last bars were never computed when its
    catch-up lasted to the end of the input (the job's "second stall")."""
    if known is None or known >= watermark:
        return False
    if known != pair.known_seen:
        pair.known_seen, pair.known_seen_at_ms = known, clock.now_ms
        return True
    return clock.now_ms - pair.known_seen_at_ms < clock.release_ms


def step_pair(pair: PairState, second: int, watermark: int, clock: Clock) -> list[tuple[str, dict[str, Any]]]:
    """The pair's records of its seconds up to `second` (one, for a pair under way). A pair
    never stepped waits until both legs have had a close. One that then starts behind `second`
    (a leg whose partition the source read late: idle at the start of a catch-up, so the
    watermark ran ahead of it and its bars come behind the seconds the other pairs computed, a
    few per call) steps only as far as both legs' bars have come, until they reach the watermark
    (from there on its bars come ahead of it, like every other's) or the lagging leg goes quiet
    (`_still_catching_up`)."""
    if pair.stepped_to is None:
        if not pair.ready():
            return []
        first = pair.first_pending_after(None)
        pair.catching_up, pair.known_seen = True, None  # until released (below)
        at = second if first is None else min(first, second)
    elif pair.stepped_to >= second:
        return []
    else:
        at = pair.stepped_to + SECOND_MS
    upto = second
    if pair.catching_up:
        known = pair.known_until()
        pair.catching_up = _still_catching_up(pair, known, watermark, clock)
        if pair.catching_up and known is not None:
            upto = min(second, known)
    records = []
    while at <= upto:
        if pair.fills(at) is None:  # broken here: nothing to compute before its next bar
            following = pair.first_pending_after(at)
            if following is None or following > upto:
                pair.step(upto)  # no record: stale up to there (marks it stepped)
                break
            at = following
            continue
        record = pair.step(at)
        if record is not None:
            records.append((pair.spec.pair_id, record))
        at += SECOND_MS
    return records


def compute_seconds(
    pairs: list[PairState], second: int, watermark: int, max_steps: int, clock: Clock
) -> Slice:
    """Every pair's record of `second` and of the seconds after it up to the watermark (over
    stretches where every series broke, to the next queued bar: `first_second`), at most
    `max_steps` records' worth of pair steps (at least one second)."""
    out = Slice()
    steps = 0
    following: int | None = second
    while following is not None and following <= watermark:
        for pair in pairs:
            out.records.extend(step_pair(pair, following, watermark, clock))
        out.last, steps = following, steps + len(pairs)
        following = first_second(pairs, following)
        if following is not None and following <= watermark and steps >= max_steps:
            out.resume = True
            return out
    out.wake_at = following
    return out


def advance_pairs(
    pairs: dict[str, PairState],
    routes: dict[str, list[tuple[str, str]]],
    queued: Iterable[tuple[str, int, str]],
    last: int | None,
    watermark: int,
    max_steps: int,
    clock: Clock,
) -> Slice:
    """One call of the operator: the closes queued since the last call applied, the pairs that
    became ready behind the last second computed caught up to it (`step_pair`), then a slice of
    the seconds from the next one (`first_second`) up to the watermark."""
    apply_closes(pairs, routes, queued)
    late = (
        [record for pair in pairs.values() for record in step_pair(pair, last, watermark, clock)]
        if last is not None
        else []
    )
    second = first_second(pairs.values(), last)
    done = (
        Slice()
        if second is None
        else compute_seconds(list(pairs.values()), second, watermark, max_steps, clock)
    )
    done.records[:0] = late
    done.recheck = any(pair.catching_up for pair in pairs.values())
    return done


def fingerprint(pair: PairState) -> tuple[Any, ...]:
    """What changes when a call changes a pair (a close, a step: `changes`; its catch-up):
    a pair whose fingerprint and routes did not change needs no write back to state."""
    return (pair.changes, pair.catching_up, pair.known_seen, pair.known_seen_at_ms)


def touched(
    pairs: dict[str, PairState],
    routes: dict[str, list[tuple[str, str]]],
    queued: Iterable[tuple[str, int, str]],
    before: dict[str, tuple[Any, ...]],
) -> set[str]:
    """The pairs one call changed: those a queued close fed, and those whose fingerprint moved.
    Only these are written back: with 1,000 pairs of ~10 KB each, writing all at every call
    (the Beam state API pickles each) made a call ~0.3 s and a catch-up's late bars one call
    each (the benchmark's stall at 10 % of its output)."""
    fed = {pair_id for instrument, _, _ in queued for pair_id, _ in routes.get(instrument, ())}
    return fed | {key for key, pair in pairs.items() if fingerprint(pair) != before[key]}


def bar_call(second: int, last: int | None, watermark: int, resuming: bool | None) -> str | None:
    """What a queued bar of `second` asks for: "watermark" (an event-time timer of its second),
    "soon" (a processing-time call, LATE_BARS_WAIT_MS later) or None (a continuation is due and
    will apply it). A bar at or behind the watermark asks for a call soon even when its second
    was not computed yet: an event-time timer behind the watermark fires only when the watermark
    next rises, and at the end of a backlog (or on a quiet stream) it may not rise for a long time.
    That happens when the source reads a partition late: the partition was idle, the watermark
    ran ahead on the others, and its bars, ahead of the last second computed, came behind the
    watermark (the job's "second stall": all input read, the watermark final, nothing computed;
    tests/flink/test_pairs_pipeline.py failed so about one run in two)."""
    if (last is None or second > last) and second > watermark:
        return "watermark"
    return None if resuming else "soon"


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

    class PairsFunction(KeyedProcessFunction):  # type: ignore[misc]
        """One key (ALL_PAIRS_KEY); state: each pair's PairState, the closes queued since the
        last call, the last second computed, whether a catch-up's continuation is due, when the
        call that may release a pair waiting for a lagging leg is due, and the version of the
        pairs' states (each call that writes them makes a new one; `_pairs`)."""

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
            self.version = runtime_context.get_state(ValueStateDescriptor("pairs_version", Types.LONG()))
            self.cached: tuple[int | None, dict[str, PairState]] = (None, {})

        def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> list[Row]:
            instrument, second, close = value[0], value[1], value[2]
            if instrument in routes:
                self.closes.add((instrument, second, close))
                timers = ctx.timer_service()
                call = bar_call(second, self.last.value(), timers.current_watermark(), self.resuming.value())
                if call == "watermark":
                    timers.register_event_time_timer(second)
                elif call == "soon":  # behind: a call soon (step_pair), not at a watermark
                    timers.register_processing_time_timer(
                        timers.current_processing_time() + LATE_BARS_WAIT_MS
                    )
                    self.resuming.update(True)
            return []

        def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Row]:
            """Any timer: a bar's second, the next second (event time) or the continuation of a
            catch-up (processing time). Applies the queued closes and computes a slice. While a
            continuation is due an event-time timer does nothing: the continuation computes its
            second, and Flink fires every event-time timer behind a new watermark in one go, which
            would compute the whole catch-up before the task takes its next input or barrier."""
            if ctx.time_domain() == TimeDomain.EVENT_TIME and self.resuming.value():
                return
            timers = ctx.timer_service()
            now = timers.current_processing_time()
            recheck_at = self.recheck_at.value()
            if recheck_at is not None and recheck_at <= now:
                self.recheck_at.clear()
                recheck_at = None
            pairs = self._pairs()
            queued = list(self.closes.get() or ())
            before = {key: fingerprint(pair) for key, pair in pairs.items()}
            done = advance_pairs(
                pairs,
                routes,
                queued,
                self.last.value(),
                timers.current_watermark(),
                per_call,
                Clock(now, release_ms),
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
            for pair_id in touched(pairs, routes, queued, before):
                self.pairs.put(pair_id, pairs[pair_id])
            version = (self.version.value() or 0) + 1
            self.version.update(version)
            self.cached = (version, pairs)

        def _pairs(self) -> dict[str, PairState]:
            """Every pair's state: the worker's copy when it is the state's current version (only
            this operator writes it, and each call's writes end with a new version), else read
            from state (a new worker, a restore from a checkpoint, a call that failed midway)."""
            version, cached = self.cached
            self.cached = (None, {})  # until this call's writes are done
            if cached and version == (self.version.value() or 0):
                return cached
            stored = {spec.pair_id: self.pairs.get(spec.pair_id) for spec in specs}
            return {key: pair or PairState(PairSpec.parse(key), params) for key, pair in stored.items()}

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
