"""The pairs job's logic: `trades.bars` Table (1 s bars) -> `pairs.analytics` Table.

Each 1 s bar's close goes to every configured pair that has its instrument as a leg (a flat map),
keyed by pair; a keyed Python operator (PairFunction) holds one PairState per pair
(flink_jobs/pair_analytics.py: the statistics and their definitions) and emits the pair's record
of second t on an event-time timer at t, so a second is computed once the watermark says both
legs' bars of that second are in, with a leg that did not trade forward-filled. The timer of t
computes the seconds after it up to the watermark and sets the timer of the next while a forward
fill can still be fresh, so quiet seconds are computed too; a bar of a leg sets the timer of its
own second (how the series starts again after a gap).

A Python operator is acceptable here where the metrics job is SQL: it runs once per pair and
second (~1,000 records/s for 1,000 pairs), not per book update, and the rolling OLS and the ADF
test are numpy, not per-record SQL. Measured in bench/flink_pairs.py (docs/benchmarks.md).

A bar version that comes after its second was computed (a late trade within the trade_bars
job's lateness) does not recompute that second; it becomes the leg's close carried forward if it
is the leg's newest bar."""

from __future__ import annotations

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


def _pair_function(settings: PairSettings) -> Any:
    """The keyed operator, built here so that importing this module does not define PyFlink
    classes at import time for callers that only need the routes."""
    from pyflink.common import Row
    from pyflink.common.typeinfo import Types
    from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
    from pyflink.datastream.state import ValueStateDescriptor

    specs = {PairSpec.parse(text).pair_id: PairSpec.parse(text) for text in settings.pairs}
    params = pair_parameters(settings)
    names = [name for name, _ in schema_columns(Topic.PAIRS)]

    class PairFunction(KeyedProcessFunction):  # type: ignore[misc]
        """Keyed by pair id; state: the pair's PairState."""

        def open(self, runtime_context: RuntimeContext) -> None:
            self.state = runtime_context.get_state(ValueStateDescriptor("pair", Types.PICKLED_BYTE_ARRAY()))

        def _pair(self, pair_id: str) -> PairState:
            pair: PairState | None = self.state.value()
            return pair if pair is not None else PairState(specs[pair_id], params)

        def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> list[Row]:
            pair_id, leg, second, close = value
            pair = self._pair(pair_id)
            pair.on_close(leg, second, close)
            self.state.update(pair)
            if pair.last_second is None or second > pair.last_second:
                ctx.timer_service().register_event_time_timer(second)
            return []

        def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> list[Row]:
            """Computes `timestamp` and the seconds after it up to the watermark while a fill can
            be fresh, then sets the timer of the next one. Not a timer per second: a timer set
            behind the watermark from inside a Python timer would wait for the next watermark,
            which after a jump (a catch-up, the end of the input) may never come."""
            pair = self._pair(ctx.get_current_key())
            watermark = ctx.timer_service().current_watermark()
            rows, second = [], timestamp
            while True:
                record = pair.step(second)
                if record is not None:
                    rows.append(Row(pair.spec.pair_id, *[record[name] for name in names]))
                second += 1_000
                if pair.fills(second) is None:
                    break  # both legs' bars will set their own timers
                if second > watermark:
                    ctx.timer_service().register_event_time_timer(second)
                    break
            self.state.update(pair)
            return rows

    return PairFunction()


def pairs_table(bars: Table, settings: PairSettings) -> Table:
    """One record per configured pair and aligned second (see the module docstring). The
    environment must be a StreamTableEnvironment (JobDefinition.stream_env)."""
    from pyflink.common.typeinfo import Types

    t_env = table_env(bars)
    if not isinstance(t_env, StreamTableEnvironment):
        raise TypeError("pairs_table needs a StreamTableEnvironment")
    closes = query(
        bars,
        f"SELECT `exchange` || ':' || `symbol` AS instrument, window_start, `close`, `{ROWTIME}`"
        f" FROM {{src}} WHERE `interval` = '{TRADE_BAR_INTERVAL}'",
    )
    routes = leg_routes(settings)

    def route(row: Any) -> Any:
        for pair_id, leg in routes.get(row[0], ()):
            yield pair_id, leg, row[1], row[2]

    leg_type = Types.TUPLE([Types.STRING(), Types.STRING(), Types.LONG(), Types.STRING()])
    kinds = {"STRING": Types.STRING(), "INT": Types.INT(), "BIGINT": Types.LONG(), "DOUBLE": Types.DOUBLE()}
    columns = [(KEY_COLUMN, "STRING"), *schema_columns(Topic.PAIRS)]
    row_type = Types.ROW_NAMED([n for n, _ in columns], [kinds[t] for _, t in columns])
    legs = t_env.to_data_stream(closes).flat_map(route, output_type=leg_type)
    analytics = legs.key_by(lambda leg: leg[0], key_type=Types.STRING()).process(
        _pair_function(settings), output_type=row_type
    )
    return t_env.from_data_stream(analytics)
