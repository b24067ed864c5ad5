"""The pairs job's logic: `trades.bars` Table (1 s bars) -> `pairs.analytics` Table.

The 1 s bars of the instruments some pair uses go to one keyed Python operator (PairsFunction,
one key: ALL_PAIRS_KEY) that holds a PairState per pair (flink_jobs/pair_analytics.py: the
statistics and their definitions) in map state, and computes every pair's record of second t on
an event-time timer at t: once the watermark says the bars of that second are in, with a leg that
did not trade forward-filled. The timer of t computes the seconds after it up to the watermark and
sets the timer of the next while some fill can still be fresh, so quiet seconds are computed too;
a bar sets the timer of its own second (how the series start again after a gap).

Why one key and not a key per pair: a Python operator costs a round trip to the Python worker per
record (bundles of one, flink_jobs/environment.py), and keyed by pair each bar would become a
record per pair it is a leg of (20 per bar for 1,000 pairs of 100 instruments) plus a Python
key_by per record: ~400 records/s measured under load, far from 1,000 pairs a second. With one
key the round trips are one per bar and one per second; the job runs on one slot (parallelism
above 1 leaves the other subtasks idle), which is the issue's target. Measured in
bench/flink_pairs.py (docs/benchmarks.md).

A bar version that comes after its second was computed (a late trade within the trade_bars
job's lateness) does not recompute that second; it becomes the close carried forward if it is the
leg's newest bar."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.table import StreamTableEnvironment, Table

from config import PairSettings
from flink_jobs.connectors import KEY_COLUMN, ROWTIME, schema_columns
from flink_jobs.pair_analytics import PairParameters, PairSpec, PairState
from flink_jobs.sql_building import query, table_env
from schemas import Topic

TRADE_BAR_INTERVAL = "1s"


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


# The one key of the pairs operator: every pair's state under it (see the module docstring).
ALL_PAIRS_KEY = "pairs"


def _pairs_function(settings: PairSettings) -> Any:
    """The operator, built here so that importing this module defines no PyFlink classes."""
    from pyflink.common import Row
    from pyflink.common.typeinfo import Types
    from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
    from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

    specs = [PairSpec.parse(text) for text in settings.pairs]
    routes = leg_routes(settings)
    params = pair_parameters(settings)
    names = [name for name, _ in schema_columns(Topic.PAIRS)]

    class PairsFunction(KeyedProcessFunction):  # type: ignore[misc]
        """One key (ALL_PAIRS_KEY); state: each pair's PairState, and the last second computed."""

        def open(self, runtime_context: RuntimeContext) -> None:
            self.pairs = runtime_context.get_map_state(
                MapStateDescriptor("pairs", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
            )
            self.last = runtime_context.get_state(ValueStateDescriptor("last_second", Types.LONG()))

        def _pair(self, spec: PairSpec) -> PairState:
            pair: PairState | None = self.pairs.get(spec.pair_id)
            return pair if pair is not None else PairState(spec, params)

        def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> list[Row]:
            instrument, second, close = value[0], value[1], value[2]
            for pair_id, leg in routes.get(instrument, ()):
                pair = self._pair(PairSpec.parse(pair_id))
                pair.on_close(leg, second, close)
                self.pairs.put(pair_id, pair)
            last = self.last.value()
            if instrument in routes and (last is None or second > last):
                ctx.timer_service().register_event_time_timer(second)
            return []

        def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Row]:
            """Computes every pair at `timestamp` and the seconds after it up to the watermark
            while a fill can be fresh, then sets the timer of the next second. Not a timer per
            second: a timer set behind the watermark from inside a Python timer would wait for
            the next watermark, which after a jump (a catch-up, the end of the input) may never
            come. A generator: a catch-up computes many seconds in one call, and its records go
            out as they are made, not all at its end."""
            last = self.last.value()
            second = timestamp if last is None else max(timestamp, last + 1_000)
            watermark = ctx.timer_service().current_watermark()
            pairs = [self._pair(spec) for spec in specs]
            while second <= max(timestamp, watermark):
                for pair in pairs:
                    record = pair.step(second)
                    if record is not None:
                        yield Row(pair.spec.pair_id, *[record[name] for name in names])
                self.last.update(second)
                second += 1_000
                if all(pair.fills(second) is None for pair in pairs):
                    break  # the legs' next bars set their own timers
                if second > watermark:
                    ctx.timer_service().register_event_time_timer(second)
                    break
            for pair in pairs:
                self.pairs.put(pair.spec.pair_id, pair)

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
